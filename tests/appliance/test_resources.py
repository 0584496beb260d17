"""Shipped files found through one helper, in the source tree and in a PyInstaller one-dir bundle (`sys.frozen`,
`sys._MEIPASS` naming the bundle's `_internal/`)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from appliance import resources

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def bundle(tmp_path, monkeypatch):
    """A bundle's `_internal/` folder, and this process pretending to run from it."""
    internal = tmp_path / "chatspark" / "_internal"
    internal.mkdir(parents=True)
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(internal), raising=False)
    return internal


def test_in_the_source_tree_every_shipped_folder_is_where_the_bundle_copies_it_from():
    assert not resources.frozen() and resources.root() == ROOT
    for relative in resources.SHIPPED_FOLDERS.values():
        assert (ROOT / relative).is_dir(), relative
    assert (resources.config_dir() / "appliance.toml").is_file()
    assert (resources.migrations_dir("control") / "0001_initial.sql").is_file()
    assert (resources.templates_dir() / "base.html").is_file()
    assert resources.widget_script() == ROOT / "server" / "static" / "widget" / "widget.js"


def test_in_the_source_tree_caddy_comes_from_the_installed_wheel_and_there_is_no_bundled_model():
    caddy = resources.caddy_binary()
    assert caddy is not None and os.access(caddy, os.X_OK) and caddy.name == "caddy"
    assert resources.embedding_model_dir() is None


def test_in_a_bundle_every_path_is_under_its_internal_folder(bundle):
    assert resources.frozen() and resources.root() == bundle
    assert resources.config_dir() == bundle / "config"
    assert resources.migrations_dir("workspace") == bundle / "appliance" / "storage" / "migrations" / "workspace"
    assert resources.static_dir() == bundle / "server" / "static"


def test_a_bundle_uses_its_own_caddy_and_never_one_from_elsewhere(bundle):
    assert resources.caddy_binary() is None  # not the wheel's, not one on PATH: the bundle is missing a part
    (bundle / "bin").mkdir()
    (bundle / "bin" / "caddy").write_bytes(b"")
    assert resources.caddy_binary() == bundle / "bin" / "caddy"


def test_a_bundle_offers_its_embedding_model_only_when_both_files_are_there(bundle):
    model = bundle / "models" / "minilm"
    model.mkdir(parents=True)
    (model / "model.onnx").write_bytes(b"onnx")
    assert resources.embedding_model_dir() is None
    (model / "tokenizer.json").write_text("{}")
    assert resources.embedding_model_dir() == model


def test_a_bundle_without_meipass_is_found_beside_its_executable(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.delattr(sys, "_MEIPASS", raising=False)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "chatspark"))
    assert resources.root() == tmp_path / "_internal"
