"""Moving an appliance to this release, or back to the one before it when any step fails.

The steps, each of which must pass before the next begins:

1. **Refuse a downgrade**: a database newer than this release's migrations is left alone (nothing changes).
2. **Back up** with the previous release's own command (`backup create`, then `backup verify`): that release knows
   its schema, and the result is the encrypted copy that survives a lost disk. Skipped only when asked.
3. **Snapshot** every database byte for byte, holding the data directory alone (see snapshot.py).
4. **Migrate** the keystore, the control database and every workspace database, still holding it alone.
5. **Serve on trial**: this release's `serve` on a free loopback port must answer `/readyz` within a time limit.

When step 4 or 5 fails, the snapshot is put back (each file checked against its hash), the reason is appended to
`logs/upgrades.log`, and the previous release's command records it in the audit log and mails the operators: the
previous release writes it, because the databases are its schema again. Moving the `current` link and restarting
the service is the installer's part (packaging/scripts), done only after this succeeds.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from appliance import __version__
from appliance.audit.keys import audit_log
from appliance.bootstrap import open_appliance
from appliance.clock import Clock, isoformat
from appliance.errors import ApplianceError, DataDirectoryBusy
from appliance.jobs.runs import error_text, operator_emails
from appliance.keys import certificates
from appliance.keys.pinning import ClientError, PinnedClient
from appliance.storage.data_lock import DataLock
from appliance.storage.layout import Layout
from appliance.upgrades import schema, snapshot

AUDIT_ACTION = "appliance.upgrade"
LOG_NAME = "upgrades.log"
READY_TIMEOUT_SECONDS = 120.0


class UpgradeRefused(ApplianceError):
    """The upgrade did not start: nothing was changed."""

    code = "upgrade_refused"


class DowngradeRefused(UpgradeRefused):
    """A database is newer than this release: the upgrade did not start (nothing was changed)."""

    code = "downgrade_refused"


class UpgradeFailed(ApplianceError):
    """A step failed after the snapshot; the appliance was rolled back to the previous release's files."""

    code = "upgrade_failed"


@dataclass(frozen=True)
class Release:
    """A release's folder, holding its `chatspark` command (a PyInstaller bundle, or a wrapper around a checkout)."""

    folder: Path

    @property
    def name(self) -> str:
        return self.folder.name

    def command(self) -> list[str]:
        return [str(self.folder / "chatspark")]

    def check(self) -> None:
        if not os.access(self.folder / "chatspark", os.X_OK):
            raise UpgradeRefused(f"the previous release {self.folder} has no `chatspark` command; give the folder "
                                 "of the release the appliance runs now (--previous-release)")


def own_command() -> list[str]:
    """How to run this release's `chatspark`: the frozen executable, or the checkout's module."""
    return [sys.executable] if getattr(sys, "frozen", False) else [sys.executable, "-m", "server.cli"]


def this_release_name() -> str:
    """The folder name of a frozen release (what its package installed it as), else the code's version."""
    return Path(sys.executable).resolve().parent.name if getattr(sys, "frozen", False) else __version__


@dataclass
class Upgrade:
    layout: Layout
    previous: Release
    clock: Clock
    flags: list[str]  # --config, --data-dir, ... as this command was given them, for the commands it runs
    passphrase: str | None = None
    to_release: str = field(default_factory=this_release_name)
    ready_timeout: float = READY_TIMEOUT_SECONDS
    say: Callable[[str], None] = print
    # What proves the migrated appliance serves; the default starts this release's `serve` on trial.
    serves: Callable[["Upgrade"], None] | None = None

    def run(self, *, backup: bool = True, keep_snapshot: bool = False) -> dict:
        """Every step, or a rollback; returns what was done (as written to the upgrades log). With `keep_snapshot`
        the snapshot stays for `roll_back` until the installer has seen the service start (then `finish`)."""
        self.previous.check()
        databases = self._refuse_downgrade()
        pending = [f"{d.name}: {name}" for d in databases for name in d.pending]
        self.say(f"Upgrading from {self.previous.name} to {self.to_release}: "
                 + (f"{_migrations(len(pending))} pending." if pending else "no migrations pending."))
        self._lock().close()  # a running service is refused here, before a backup adds to what it has open
        backup_id = self._backup() if backup else None
        if not backup:
            self.say("Pre-upgrade backup skipped, as asked.")
        lock = self._lock()
        try:
            try:
                taken = snapshot.take(self.layout, taken_at=isoformat(self.clock.now()), release=self.previous.name)
            except Exception as exc:
                snapshot.discard(self.layout)
                raise UpgradeRefused(f"the upgrade snapshot could not be taken ({exc}); nothing was changed") from exc
            self.say(f"Snapshot of {len(taken.files)} files taken (restored byte for byte if a step fails).")
            try:
                self._migrate(lock)
            except Exception as exc:
                lock.close()
                self.roll_back(f"a migration failed: {exc}")
        finally:
            lock.close()
        try:
            (self.serves or _serve_on_trial)(self)
        except Exception as exc:
            self.roll_back(f"the new release did not serve: {exc}")
        outcome = {"at": isoformat(self.clock.now()), "outcome": "upgraded", "from": self.previous.name,
                   "to": self.to_release, "migrations": pending, "backup_id": backup_id}
        self._record_success(outcome)
        if not keep_snapshot:
            snapshot.discard(self.layout)
        self.say(f"Upgraded to {self.to_release}: {_migrations(len(pending))} applied, /readyz passed.")
        return outcome

    # The steps ------------------------------------------------------------------------------------------------------

    def _refuse_downgrade(self) -> list[schema.DatabaseSchema]:
        databases = schema.inspect(self.layout, passphrase=self.passphrase)
        newer = [d for d in databases if d.newer_than_release]
        if newer:
            raise DowngradeRefused(downgrade_message(newer, f"release {self.to_release}"))
        return databases

    def _backup(self) -> str:
        created = self._previous("backup", "create", "--json", what="the pre-upgrade backup")
        try:
            backup_id = json.loads(created.stdout)["id"]
        except (ValueError, KeyError, TypeError):
            raise UpgradeRefused(f"the pre-upgrade backup printed no id ({created.stdout.strip()[:200]!r}); nothing "
                                 "was changed") from None
        self._previous("backup", "verify", backup_id, what=f"verifying the pre-upgrade backup {backup_id}")
        self.say(f"Pre-upgrade backup {backup_id} made and verified by {self.previous.name}.")
        return backup_id

    def _lock(self) -> DataLock:
        try:
            return DataLock.acquire(self.layout.lock_file, exclusive=True)
        except DataDirectoryBusy:
            raise UpgradeRefused(f"{self.layout.data_dir} is in use: stop the service (systemctl stop chatspark) and "
                                 "every other chatspark command first; nothing was changed") from None

    def _migrate(self, lock: DataLock) -> None:
        """Open everything this release's way, which migrates it: keystore and control database at open, then each
        workspace database (cancelled ones too: a purge must still open them)."""
        appliance = open_appliance(self.layout, clock=self.clock, passphrase=self.passphrase, lock=lock)
        try:
            for row in appliance.control_db.query("SELECT id FROM workspaces ORDER BY id"):
                if appliance.layout.workspace_db(row["id"]).exists():
                    appliance.workspaces.open(row["id"])
                    appliance.workspaces.release(row["id"])
        finally:
            appliance.close()

    def _record_success(self, outcome: dict) -> None:
        append_log(self.layout, outcome)
        appliance = open_appliance(self.layout, clock=self.clock, passphrase=self.passphrase)
        try:
            audit_log(appliance.control_db, keystore=appliance.keystore, clock=appliance.clock).record(
                AUDIT_ACTION, actor_type="system", actor_id="upgrade", target_type="release",
                target_id=self.to_release,
                details={"from": self.previous.name, "migrations": len(outcome["migrations"]),
                         "backup_id": outcome["backup_id"]})
        finally:
            appliance.close()

    # Going back -----------------------------------------------------------------------------------------------------

    def roll_back(self, reason: str) -> None:
        """Put the snapshot back, log the reason, have the previous release audit and mail it; raise UpgradeFailed.
        Also what the installer calls when the service does not start on the new release."""
        reason = error_text(reason)
        taken = snapshot.load(self.layout)
        if taken is None:
            raise UpgradeFailed(f"{reason}; and there is no upgrade snapshot to roll back to: restore the pre-upgrade "
                                "backup (chatspark backup restore)")
        lock = self._lock_for_rollback()
        try:
            restored = snapshot.restore(self.layout, taken)
        finally:
            lock.close()
        snapshot.discard(self.layout)
        append_log(self.layout, {"at": isoformat(self.clock.now()), "outcome": "rolled back", "from": taken.release,
                                 "to": self.to_release, "reason": reason, "restored": restored})
        recorded = self._previous_quietly("upgrade", "--record-failure", "--failed-release", self.to_release,
                                          "--reason", reason)
        self.say(f"Rolled back: {len(restored)} files restored byte for byte as {taken.release} left them"
                 + ("; the failure is in the audit log and mailed to the operators." if recorded else
                    f"; recording it in the audit log failed (see {self.layout.logs_dir / LOG_NAME})."))
        raise UpgradeFailed(f"the upgrade to {self.to_release} failed and was rolled back to {taken.release}: "
                            f"{reason}")

    def _lock_for_rollback(self, wait: float = 30.0) -> DataLock:
        """The data directory alone, waiting a little for a trial serve that is still shutting down."""
        deadline = time.monotonic() + wait
        while True:
            try:
                return DataLock.acquire(self.layout.lock_file, exclusive=True)
            except DataDirectoryBusy:
                if time.monotonic() > deadline:
                    raise UpgradeFailed(f"the upgrade to {self.to_release} failed, and {self.layout.data_dir} is "
                                        "still in use, so nothing was rolled back: stop every chatspark process, "
                                        "then run `chatspark upgrade --rollback`") from None
                time.sleep(0.2)

    # The previous release's command ---------------------------------------------------------------------------------

    def _previous(self, *args: str, what: str) -> subprocess.CompletedProcess:
        result = subprocess.run([*self.previous.command(), *args, *self.flags], capture_output=True, text=True,
                                stdin=subprocess.DEVNULL, timeout=6 * 3600)
        if result.returncode != 0:
            said = (result.stderr.strip() or result.stdout.strip()).splitlines()[-3:]
            raise UpgradeRefused(f"{what} failed ({self.previous.name} exited {result.returncode}: "
                                 f"{' '.join(said) or 'no message'}); nothing was changed")
        return result

    def _previous_quietly(self, *args: str) -> bool:
        try:
            result = subprocess.run([*self.previous.command(), *args, *self.flags], capture_output=True, text=True,
                                    stdin=subprocess.DEVNULL, timeout=300)
        except (OSError, subprocess.SubprocessError) as exc:
            self.say(f"recording the rollback with {self.previous.name} failed: {exc}")
            return False
        if result.returncode != 0:
            self.say(f"recording the rollback with {self.previous.name} failed: {result.stderr.strip()[-300:]}")
        return result.returncode == 0


def downgrade_message(newer: list[schema.DatabaseSchema], release: str) -> str:
    """Why a downgrade is refused; `release` names the release too old for the databases ("release 0.1.0")."""
    first = newer[0]
    more = f", and {len(newer) - 1} more databases" if len(newer) > 1 else ""
    return (f"refusing a downgrade: {first.name} is at schema version {first.version}, newer than {release} knows "
            f"({first.kind} {first.latest}){more}; install the release that made them or a newer one (or restore a "
            "backup made by an older release onto a new machine); nothing was changed")


def append_log(layout: Layout, entry: dict) -> None:
    """One JSON line per upgrade or rollback in logs/upgrades.log, beside the service's own logs."""
    layout.logs_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(layout.logs_dir / LOG_NAME, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry, ensure_ascii=False) + "\n")


def record_failure(services, *, failed_release: str, reason: str) -> None:
    """What the release rolled back to writes: the audit row and a mail to every active operator."""
    subject = f"ChatSpark: the upgrade to {failed_release} failed and was rolled back"
    body = (f"The upgrade of this appliance to release {failed_release} failed, so it was rolled back by itself.\n\n"
            f"Reason: {reason}\n\n"
            f"Every database was restored byte for byte as release {this_release_name()} left it, and the service "
            "runs that release again. Nothing was lost. The steps and the reason are in logs/upgrades.log in the "
            "data directory; `chatspark upgrade --check` run by the new release lists what it would migrate.\n")
    with services.appliance.control_db.transaction() as conn:
        services.audit.record(AUDIT_ACTION, actor_type="system", actor_id="upgrade", target_type="release",
                              target_id=failed_release, outcome="failure",
                              details={"reason": reason, "rolled_back_to": this_release_name()}, conn=conn)
        for address in operator_emails(conn):
            services.outbox.enqueue(to=address, subject=subject, body=body, conn=conn)


def _serve_on_trial(upgrade: Upgrade) -> None:
    """This release's `serve --trial` on a free loopback port until `/readyz` passes, then stopped. What it says
    goes to a file rather than a pipe, which a chatty serve could fill while nobody reads it."""
    port = _free_port()
    command = [*own_command(), "serve", "--trial", *upgrade.flags, "--host", "127.0.0.1", "--port", str(port),
               "--http-redirect-port", "0", "--demo-site-port", "0"]
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace") as said:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=said, stderr=said)
        started = time.monotonic()
        try:
            _wait_ready(upgrade.layout, port, process, said, timeout=upgrade.ready_timeout)
            upgrade.say(f"Trial serve on port {port} passed /readyz after {time.monotonic() - started:.1f} s.")
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def _wait_ready(layout: Layout, port: int, process: subprocess.Popen, said, *, timeout: float) -> None:
    deadline, last = time.monotonic() + timeout, "no answer yet"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            said.seek(0)
            lines = [line for line in said.read().strip().splitlines() if line.strip()][-3:]
            raise UpgradeFailed(f"serve exited {process.returncode}: {' '.join(lines) or 'no message'}")
        try:
            ca_pem = layout.ca_cert.read_bytes()
            client = PinnedClient(f"https://localhost:{port}", ca_pem=ca_pem, timeout=5,
                                  ca_fingerprint=certificates.fingerprint(certificates.load_certificate(ca_pem)))
            answer = client.get("/readyz")
            if answer.status == 200:
                return
            last = f"/readyz answered HTTP {answer.status}: {answer.body[:200]!r}"
        except (ClientError, OSError) as exc:
            last = str(exc)
        time.sleep(0.5)
    raise UpgradeFailed(f"/readyz did not pass within {timeout:.0f} s ({last})")


def _migrations(count: int) -> str:
    return f"{count} migration{'' if count == 1 else 's'}"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
