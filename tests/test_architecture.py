"""The shape rules of STYLE.md that code can check: the core imports no web or GUI framework, one module imports
the database driver, no modules import one another round a circle, and only entry points import the composition
root."""

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


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path, *packages: str) -> dict[str, set[str]]:
    """Which of the packages' modules each module imports, anywhere in it (functions and TYPE_CHECKING blocks too:
    a circle that only a deferred import hides is still a circle)."""
    paths = {module_name(path, root): path for package in packages for path in (root / package).rglob("*.py")}

    def known(name: str) -> str | None:
        while name and name not in paths:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                found.update(filter(None, (known(alias.name) for alias in node.names)))
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([node.module] if node.module else []))
                for alias in node.names:
                    found.add(known(f"{base}.{alias.name}") if f"{base}.{alias.name}" in paths else known(base))
        found.discard(None)
        found.discard(name)
        graph[name] = found
    return graph


def import_circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each group of modules that import one another round a circle (Tarjan's strongly connected components)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for imported in sorted(graph[module]):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                circles.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return circles


def _project_packages() -> list[str]:
    return [name for name in ("appliance", "server", "gui") if (ROOT / name).is_dir()]


def test_the_circle_scan_finds_a_circle_hidden_in_a_function(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "a.py").write_text("from pkg.b import thing\n")
    (tmp_path / "pkg" / "b.py").write_text("def thing():\n    from pkg import c\n")
    (tmp_path / "pkg" / "c.py").write_text("from . import a\n")
    (tmp_path / "pkg" / "d.py").write_text("import pkg.a\n")

    assert import_circles(import_graph(tmp_path, "pkg")) == [["pkg.a", "pkg.b", "pkg.c"]]


def test_no_modules_import_one_another_round_a_circle():
    graph = import_graph(ROOT, *_project_packages())

    assert len(graph) > 100
    assert import_circles(graph) == []


def test_only_entry_points_import_the_composition_root():
    # services.py builds everything; a core module that imported it could reach every service (STYLE.md habit 13).
    graph = import_graph(ROOT, "appliance")

    assert sorted(name for name, imported in graph.items() if "appliance.services" in imported) == []


def test_the_panel_reaches_no_database_and_no_server_code():
    # The panel is a client of the HTTPS API (DESIGN.md, "Processes"): nothing it imports, however indirectly, may
    # open a database or run the server's code.
    graph = import_graph(ROOT, *_project_packages())
    reached, todo = set(), [name for name in graph if name.split(".")[0] == "gui"]
    while todo:
        module = todo.pop()
        if module not in reached:
            reached.add(module)
            todo.extend(graph[module])

    assert len([m for m in reached if m.startswith("gui.")]) > 20
    assert sorted(m for m in reached if m.startswith(("appliance.storage", "appliance.services", "server"))) == []
    assert [m for m in reached if "sqlcipher3" in _top_level(imported_modules(_path_of(m)))] == []


def _path_of(module: str) -> Path:
    path = ROOT.joinpath(*module.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
