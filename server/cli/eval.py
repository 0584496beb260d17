"""`chatspark eval ...`: retrieval and answer quality on an evaluation folder, one JSON line each."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from appliance.errors import ConfigurationError
from server.cli.options import settings_from


def register(commands, common: argparse.ArgumentParser) -> None:
    evaluate = commands.add_parser("eval", help="measure retrieval and answers on an evaluation folder")
    kinds = evaluate.add_subparsers(dest="eval_command", required=True, metavar="WHAT")
    for name, handler, text in (("retrieval", _retrieval, "hit@1, hit@5, MRR@10 and ms per query"),
                                ("answers", _answers, "share of replies containing an answer, and fallbacks")):
        parser = kinds.add_parser(name, parents=[common], help=text,
                                  description=f"Load DIR (documents.jsonl, queries.jsonl) into a throw-away "
                                              f"workspace through the real ingestion path and print {text}.")
        parser.add_argument("folder", type=Path, metavar="DIR")
        parser.add_argument("--dense", action="store_true", help="fuse dense retrieval (needs embedding_model_dir)")
        parser.add_argument("--limit", type=int, metavar="N", help="only the first N queries")
        parser.set_defaults(handler=handler)
        if name == "answers":
            parser.add_argument("--out-of-scope", type=Path, metavar="DIR2",
                                help="also ask DIR2's questions, which the agent should decline")
            parser.add_argument("--threshold", type=float, help="confidence threshold (default: the agent default)")


def _embedder(args: argparse.Namespace):
    if not args.dense:
        return None
    from appliance.knowledge.embedding import load_optional

    model_dir = settings_from(args).embedding_model_dir
    if model_dir is None:
        raise ConfigurationError("--dense needs embedding_model_dir (CHATSPARK_EMBEDDING_MODEL_DIR); "
                                 "`chatspark models install-minilm --out DIR` makes one")
    return load_optional(model_dir)


def _retrieval(args: argparse.Namespace) -> int:
    from appliance.agent.evaluation import retrieval_metrics

    print(json.dumps(retrieval_metrics(args.folder, embedder=_embedder(args), limit=args.limit)))
    return 0


def _answers(args: argparse.Namespace) -> int:
    from appliance.agent.evaluation import answer_metrics

    print(json.dumps(answer_metrics(args.folder, out_of_scope=args.out_of_scope, embedder=_embedder(args),
                                    limit=args.limit, threshold=args.threshold)))
    return 0
