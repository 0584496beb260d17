"""`chatspark eval ...`: retrieval and answer quality on evaluation folders, one JSON line each."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from server.cli.options import settings_from

WHAT = {
    "retrieval": "hit@1, hit@5 and MRR@10 of the appliance's ranking, each single method and a plain FTS5 baseline",
    "answers": "the share of questions answered, of replies containing an answer, and of foreign questions declined",
    "threshold": "the confidence threshold chosen on each of two sets and measured on the other",
    "fusion": "hit@1 at every dense weight, tuned on each half and each set and measured on the others",
}


def register(commands, common: argparse.ArgumentParser) -> None:
    evaluate = commands.add_parser("eval", help="measure retrieval and answers on evaluation folders")
    kinds = evaluate.add_subparsers(dest="eval_command", required=True, metavar="WHAT")
    for name, handler in (("retrieval", _retrieval), ("answers", _answers), ("threshold", _threshold),
                          ("fusion", _fusion)):
        parser = kinds.add_parser(name, parents=[common], help=WHAT[name],
                                  description=f"Load each DIR (documents.jsonl, queries.jsonl) into a throw-away "
                                              f"workspace through the real ingestion path and print {WHAT[name]}.")
        if name == "threshold":
            parser.add_argument("folders", type=Path, nargs=2, metavar="DIR")
        else:
            parser.add_argument("folders", type=Path, nargs=1 if name == "answers" else "+", metavar="DIR")
        parser.add_argument("--no-dense", dest="dense", action="store_false",
                            help="full-text search alone, as with dense_retrieval = false")
        parser.add_argument("--limit", type=int, metavar="N", help="only the first N queries of each set")
        parser.set_defaults(handler=handler)
        if name == "answers":
            parser.add_argument("--out-of-scope", type=Path, metavar="DIR2",
                                help="also ask DIR2's questions, which the agent should decline")
            parser.add_argument("--threshold", type=float, help="confidence threshold (default: the agent default)")
            parser.add_argument("--sweep", action="store_true", help="also report thresholds 0.05 to 0.95")


def _embedder(args: argparse.Namespace):
    """The model the appliance would use (the shipped one unless embedding_model_dir names another); --no-dense or
    dense_retrieval = false: none."""
    from appliance.knowledge.embedding import configured

    settings = settings_from(args)
    return configured(args.dense and settings.dense_retrieval, settings.embedding_model_dir)


def _retrieval(args: argparse.Namespace) -> int:
    from appliance.agent.evaluation import retrieval_metrics

    embedder = _embedder(args)
    for folder in args.folders:
        for row in retrieval_metrics(folder, embedder=embedder, limit=args.limit):
            print(json.dumps(row), flush=True)
    return 0


def _answers(args: argparse.Namespace) -> int:
    from appliance.agent.evaluation import THRESHOLDS, answer_metrics

    print(json.dumps(answer_metrics(args.folders[0], out_of_scope=args.out_of_scope, embedder=_embedder(args),
                                    limit=args.limit, threshold=args.threshold,
                                    thresholds=THRESHOLDS if args.sweep else ())))
    return 0


def _threshold(args: argparse.Namespace) -> int:
    from appliance.agent.evaluation import threshold_cross_validation

    report = threshold_cross_validation(*args.folders, embedder=_embedder(args), limit=args.limit)
    for direction in report["directions"]:
        print(json.dumps(direction))
    for row in report["cross"]:
        print(json.dumps(row))
    return 0


def _fusion(args: argparse.Namespace) -> int:
    from appliance.agent.evaluation import fusion_cross_validation
    from appliance.errors import ConfigurationError

    embedder = _embedder(args)
    if embedder is None:
        raise ConfigurationError("eval fusion weighs the embedding model against BM25: it needs the model "
                                 "(leave out --no-dense, and dense_retrieval must be true)")
    report = fusion_cross_validation(args.folders, embedder=embedder, limit=args.limit)
    for row in report["sets"] + report["across_sets"]:
        print(json.dumps(row))
    return 0
