"""Upgrading the installed .deb with apt, as IT would: a newer package with one more migration upgrades with every
conversation intact; a package whose migration fails rolls back by itself (every database as it was, the previous
release serving again); an older package than the databases is refused before anything changes.

The newer packages are this build's server bundle with migrations added, packaged by packaging/build.py under higher
versions: what an upgrade does depends on the migrations and the release folders, not on the code changing. The
tests run in order, each on what the one before left."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
from pathlib import Path

import pytest

from appliance import __version__, resources
from appliance.storage.migrations import KINDS
from tests.packaging import installing
from tests.packaging.conftest import ROOT, SERVER_BUNDLE, bundle, package, run
from tests.packaging.installing import CONFIG, DATA_DIR, KEY_DIR, PASSWORD_FILE
from tests.packaging.service import serving
from tests.packaging.serving import Served, demo_agent
from tests.running import free_port

OPERATOR = "operator@localhost.localdomain"
NEWER, BROKEN = f"{__version__}.1", f"{__version__}.2"
# Each kind's schema as this release ships it; the newer releases add workspace migrations after the last one.
SHIPPED = {kind: len(list(resources.migrations_dir(kind).glob("[0-9][0-9][0-9][0-9]_*.sql"))) for kind in KINDS}
PROBE = f"{SHIPPED['workspace'] + 1:04d}_upgrade_probe.sql"
PROBE_SQL = "CREATE TABLE upgrade_probe (id INTEGER PRIMARY KEY, note TEXT NOT NULL);\n"
FAILING = f"{SHIPPED['workspace'] + 2:04d}_fails.sql"
FAILING_SQL = "ALTER TABLE upgrade_probe ADD COLUMN fine TEXT;\nINSERT INTO no_such_table VALUES (1);\n"
QUESTION = "Where do visitors park?"


def _builder():
    spec = importlib.util.spec_from_file_location("packaging_build", ROOT / "packaging" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _release_package(folder: Path, release: str, migrations: dict[str, str]) -> Path:
    """The server bundle (hard links: no copy of its 250 MB) with `migrations` added for workspaces, packaged."""
    variant = folder / release / "chatspark"
    shutil.copytree(bundle(SERVER_BUNDLE), variant, symlinks=True, copy_function=os.link)
    for name, sql in migrations.items():
        (variant / "_internal" / "appliance" / "storage" / "migrations" / "workspace" / name).write_text(sql)
    return _builder().build_package("chatspark-appliance", "nfpm-appliance.yaml", release, "deb", bundle=variant,
                                    target=folder / f"chatspark-appliance_{release}_amd64.deb")


@pytest.fixture(scope="module")
def packages(tmp_path_factory):
    folder = tmp_path_factory.mktemp("releases")
    return {__version__: package("chatspark-appliance", "deb"),
            NEWER: _release_package(folder, NEWER, {PROBE: PROBE_SQL}),
            BROKEN: _release_package(folder, BROKEN, {PROBE: PROBE_SQL, FAILING: FAILING_SQL})}


@pytest.fixture(scope="module")
def appliance_with_a_conversation(packages, tmp_path_factory):
    """The current package installed, its demo agent asked one question through the widget; what that left."""
    installing.remove_test_installation()
    installing.install(packages[__version__])
    installing.mark_as_ours()
    port, site_port = free_port(), free_port()
    demo = as_chatspark("demo", "create", "--owner-email", OPERATOR, "--site-port", str(site_port),
                        "--appliance-url", f"https://localhost:{port}")
    with serving(port, tmp_path_factory.mktemp("first")):
        served = Served(port, DATA_DIR / "tls" / "ca.crt")
        reply = served.chat(demo_agent(demo.stdout), f"https://localhost:{site_port}", QUESTION)
        assert reply["answered"]
    yield {"port": port, "site_port": site_port, "agent": demo_agent(demo.stdout)}
    installing.remove_test_installation()


def as_chatspark(*args: str, check: bool = True):
    return run("runuser", "-u", "chatspark", "--", "/usr/bin/chatspark", *args, "--config", CONFIG, cwd=Path("/"),
               check=check)


def state_hashes() -> dict[str, str]:
    files = [KEY_DIR / "keys.db", DATA_DIR / "control.db", *sorted((DATA_DIR / "workspaces").glob("*.db")),
             *sorted((DATA_DIR / "tls").iterdir())]
    return {str(path): hashlib.sha256(path.read_bytes()).hexdigest() for path in files}


def schema_versions() -> dict[str, int]:
    checked = json.loads(as_chatspark("upgrade", "--check", "--json").stdout)
    return {database["name"]: database["version"] for database in checked["databases"]}


def conversations_seen(port: int, tmp_path: Path) -> list[str]:
    """Every visitor question the API lists, read through the service as it runs now."""
    with serving(port, tmp_path):
        served = Served(port, DATA_DIR / "tls" / "ca.crt")
        status, body = served.call("GET", "/readyz")
        assert status == 200 and body["status"] == "ready"
        auth = {"Authorization": f"Bearer {served.login(OPERATOR, PASSWORD_FILE.read_text().strip())}"}
        status, workspaces = served.call("GET", "/api/v1/workspaces", headers=auth)
        assert status == 200, workspaces
        questions = []
        for workspace in workspaces["workspaces"]:
            status, listed = served.call("GET", f"/api/v1/workspaces/{workspace['id']}/conversations",
                                         headers=auth)
            assert status == 200, listed
            questions += [conversation["first_question"] for conversation in listed["conversations"]]
        return questions


def upgrade_log() -> list[dict]:
    return [json.loads(line) for line in (DATA_DIR / "logs" / "upgrades.log").read_text().splitlines()]


def test_a_newer_package_with_one_more_migration_upgrades_with_every_conversation_intact(
        packages, appliance_with_a_conversation, tmp_path):
    before = schema_versions()
    output = installing.install(packages[NEWER])

    assert f"Upgrading from {__version__} to {NEWER}" in output
    assert "made and verified" in output and f"Upgraded to {NEWER}: 1 migration applied, /readyz passed." in output
    assert os.readlink("/opt/chatspark/current") == f"/opt/chatspark/{NEWER}"
    assert run("/usr/bin/chatspark", "--version").returncode == 0
    assert not Path(f"/opt/chatspark/{__version__}").exists() and not Path("/opt/chatspark/previous").exists()
    assert not (DATA_DIR / "upgrade-snapshot").exists() and not (KEY_DIR / "upgrade-snapshot").exists()
    after = schema_versions()
    workspaces = [name for name in before if name.startswith("workspaces/")]
    assert workspaces and all(before[name] == SHIPPED["workspace"] and after[name] == SHIPPED["workspace"] + 1
                              for name in workspaces)
    assert {name: after[name] for name in ("keys.db", "control.db")} == {n: before[n] for n in ("keys.db",
                                                                                                "control.db")}
    [entry] = upgrade_log()
    assert entry["outcome"] == "upgraded" and entry["from"] == __version__ and entry["to"] == NEWER
    backups = json.loads(as_chatspark("backup", "list", "--json").stdout)
    assert [b["verification_status"] for b in backups if b["id"] == entry["backup_id"]] == ["passed"]
    audited = json.loads(as_chatspark("audit", "list", "--action", "appliance.upgrade", "--json").stdout)
    assert [(e["outcome"], e["target_id"]) for e in audited] == [("success", NEWER)]
    assert any(QUESTION in question for question in
               conversations_seen(appliance_with_a_conversation["port"], tmp_path))


def test_a_package_whose_migration_fails_rolls_back_to_every_database_as_it_was(packages, tmp_path,
                                                                                appliance_with_a_conversation):
    before = state_hashes()
    outbox_before = len(json.loads(as_chatspark("mail", "outbox", "--json").stdout))

    failed = installing.apt("install", "--no-install-recommends", packages[BROKEN].resolve(), check=False)

    said = failed.stdout + failed.stderr
    assert failed.returncode != 0
    assert f"migration {FAILING} failed" in said and "no such table: no_such_table" in said, said
    assert "files restored byte for byte" in said and "The package is left unconfigured" in said
    assert os.readlink("/opt/chatspark/current") == f"/opt/chatspark/previous/{NEWER}"
    rolled_back = upgrade_log()[-1]
    assert rolled_back["outcome"] == "rolled back" and rolled_back["to"] == BROKEN
    # Every file was put back byte for byte; only then did the previous release write its audit row and its mail.
    restored = {str((KEY_DIR if name == "keys.db" else DATA_DIR) / name) for name in rolled_back["restored"]}
    assert set(before) <= restored
    after = state_hashes()
    assert {path: digest for path, digest in after.items() if not path.endswith("control.db")} == \
        {path: digest for path, digest in before.items() if not path.endswith("control.db")}
    # As the newer release left them: its probe migration in every workspace database, the rest as shipped.
    assert all(version in {*SHIPPED.values(), SHIPPED["workspace"] + 1} for version in schema_versions().values())
    audited = json.loads(as_chatspark("audit", "list", "--action", "appliance.upgrade", "--json").stdout)
    assert [(e["outcome"], e["target_id"]) for e in audited][-1] == ("failure", BROKEN)
    mails = json.loads(as_chatspark("mail", "outbox", "--json").stdout)
    assert len(mails) == outbox_before + 1 and "failed and was rolled back" in mails[0]["subject"]
    assert as_chatspark("audit", "verify").returncode == 0
    # The previous release serves again, with the conversation of before.
    assert any(QUESTION in question for question in
               conversations_seen(appliance_with_a_conversation["port"], tmp_path))


def test_an_older_package_than_the_databases_is_refused_before_anything_changes(packages,
                                                                                appliance_with_a_conversation):
    before, current = state_hashes(), os.readlink("/opt/chatspark/current")

    refused = installing.apt("install", "--no-install-recommends", "--allow-downgrades",
                             packages[__version__].resolve(), check=False)

    said = refused.stdout + refused.stderr
    assert refused.returncode != 0
    assert "refusing a downgrade" in said and "was not installed: its databases are newer than it" in said, said
    assert "Nothing was changed" in said
    assert state_hashes() == before and os.readlink("/opt/chatspark/current") == current
