"""The shape rules of STYLE.md that code can check: the core imports no web or GUI framework, one module imports
the database driver."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FRAMEWORKS = {"flask", "werkzeug", "waitress", "PySide6"}


def _sources(*packages: str) -> list[Path]:
    return sorted(path for package in packages for path in (ROOT / package).rglob("*.py"))


def imported_modules(path: Path) -> set[str]:
    """Every absolute module a file imports, statically or through importlib/__import__ with a literal name."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                found.add(node.args[0].value)
    return found


def _top_level(modules: set[str]) -> set[str]:
    return {module.split(".")[0] for module in modules}


def _importers(top_level_name: str, *packages: str) -> list[str]:
    return [str(path.relative_to(ROOT)) for path in _sources(*packages)
            if top_level_name in _top_level(imported_modules(path))]


def test_the_import_scan_sees_static_and_dynamic_imports(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import os.path\nfrom flask import Flask\nfrom . import sibling\n"
        "import importlib\nimportlib.import_module('PySide6.QtCore')\n__import__('waitress')\n"
    )
    assert imported_modules(sample) == {"os.path", "flask", "importlib", "PySide6.QtCore", "waitress"}


def test_the_scan_finds_flask_where_it_is_used():
    # The server is the edge that may use Flask; if the scan missed it, the next test would prove nothing.
    assert "server/app.py" in _importers("flask", "server")


def test_the_core_imports_no_web_server_or_gui_framework():
    sources = _sources("appliance")
    offending = {
        str(path.relative_to(ROOT)): sorted(_top_level(imported_modules(path)) & FRAMEWORKS) for path in sources
    }

    assert len(sources) > 10
    assert {path: found for path, found in offending.items() if found} == {}


def test_only_the_storage_module_imports_sqlcipher3():
    assert _importers("sqlcipher3", "appliance", "server", "gui") == ["appliance/storage/database.py"]
