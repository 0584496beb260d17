"""What the packaging tests share: the built bundles and packages (`make package`), and the scratch folders that run
them with no source tree in sight. Run by `make package-test`, as root (they install packages)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from appliance import __version__

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "dist"
SERVER_BUNDLE = DIST / "chatspark"
PANEL_BUNDLE = DIST / "chatspark-panel"
UNIT = ROOT / "packaging" / "chatspark.service"
# Only what a bare system has: no PYTHONPATH, no virtualenv, no CHATSPARK_* settings of the machine running the tests.
BARE_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


def package(name: str, packager: str) -> Path:
    path = DIST / f"{name}_{__version__}_amd64.{packager}"
    if not path.is_file():
        pytest.fail(f"{path} is missing: build it with `make package` (make package-test does)")
    return path


def bundle(path: Path) -> Path:
    if not (path / path.name).is_file():
        pytest.fail(f"{path} is missing: build it with `make package` (make package-test does)")
    return path


def bare_environment(home: Path, **extra: str) -> dict[str, str]:
    return {"PATH": BARE_PATH, "HOME": str(home), "LANG": "C.UTF-8", "CHATSPARK_CONFIG": "/dev/null", **extra}


def folder_size(path: Path) -> int:
    return sum(entry.stat().st_size for entry in path.rglob("*") if entry.is_file() and not entry.is_symlink())


@pytest.fixture(scope="session", autouse=True)
def as_root():
    if os.geteuid() != 0:
        pytest.fail("the packaging tests install packages and create a system user: run them as root "
                    "(`make package-test` does)")


@pytest.fixture(scope="module")
def scratch_copy(tmp_path_factory):
    """Copy a bundle into a fresh folder outside the source tree, as a customer would unpack it."""
    def copy(source: Path) -> Path:
        target = tmp_path_factory.mktemp("bundle") / source.name
        shutil.copytree(bundle(source), target, symlinks=True)
        return target
    return copy


def run(*command: str | Path, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 180,
        check: bool = True, input: str | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run([str(part) for part in command], capture_output=True, text=True, env=env, cwd=cwd,
                            timeout=timeout, input=input, stdin=None if input is not None else subprocess.DEVNULL)
    if check and result.returncode != 0:
        pytest.fail(f"{' '.join(map(str, command))} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result
