"""The frozen control panel (dist/chatspark-panel/), copied to a scratch folder: it starts offscreen with --smoke and
exits 0, and carries Qt's core, GUI and widget modules only."""

from __future__ import annotations

from tests.packaging.conftest import PANEL_BUNDLE, bare_environment, bundle, folder_size, run

USED_QT = {"QtCore", "QtGui", "QtWidgets", "QtCharts"}  # QtCharts for the Analytics screen


def test_the_frozen_panel_starts_offscreen_and_exits_0(scratch_copy, tmp_path):
    bundle = scratch_copy(PANEL_BUNDLE)
    print(f"\ndist/chatspark-panel/: {folder_size(bundle) / 1048576:.0f} MiB")
    env = bare_environment(tmp_path, QT_QPA_PLATFORM="offscreen", XDG_RUNTIME_DIR=str(tmp_path))
    result = run(bundle / "chatspark-panel", "--smoke", "--settings", tmp_path / "panel.json", env=env, cwd=tmp_path,
                 timeout=60)
    assert result.returncode == 0
    assert "Traceback" not in result.stderr


def test_the_panel_bundle_leaves_out_the_qt_modules_it_does_not_use():
    modules = {path.name.split(".")[0] for path in (bundle(PANEL_BUNDLE) / "_internal" / "PySide6").glob("Qt*.so")}
    assert modules == USED_QT
    libraries = {path.name for path in (PANEL_BUNDLE / "_internal" / "PySide6" / "Qt" / "lib").iterdir()}
    assert not [name for name in libraries if name.startswith(("libQt6Qml", "libQt6Quick", "libQt6Sql", "libQt6Test",
                                                                "libQt6Pdf", "libQt6WebEngine", "libQt6Designer"))]
    assert not (PANEL_BUNDLE / "_internal" / "PySide6" / "Qt" / "translations").exists()
    assert not list((PANEL_BUNDLE / "_internal").glob("onnxruntime*")), "the server's runtime stays in its bundle"
