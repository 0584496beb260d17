"""The compliance evidence: each promise the product makes, the control that keeps it, and evidence gathered at this
moment (measured where it can be: the listener's TLS versions by connecting to it, file modes on disk, the audit
chain walked now). A control that fails is reported as failed with what was found, never left out; one that cannot
be checked here fails too, saying why."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import stat
from dataclasses import dataclass, field

from appliance import __version__
from appliance.audit.log import AuditLog
from appliance.backups import index
from appliance.bootstrap import Appliance
from appliance.clock import isoformat
from appliance.keys import masterkey
from appliance.keys.keystore import WORKSPACE_DB_KEY_PREFIX
from appliance.monitoring import serving
from appliance.retention.policy import RetentionPolicies
from appliance.settings import Settings

PASS, WARN, FAIL = "pass", "warn", "fail"
KEY_ROTATION_DAYS = 365
SQLITE_HEADER = b"SQLite format 3\x00"


@dataclass(frozen=True)
class Control:
    id: str
    promise: str
    control: str
    status: str
    evidence: list[str] = field(default_factory=list)

    def public(self) -> dict:
        return {"id": self.id, "promise": self.promise, "control": self.control, "status": self.status,
                "evidence": self.evidence}


@dataclass(frozen=True)
class Evidence:
    generated_at: str
    appliance_id: str
    version: str
    controls: list[Control]

    @property
    def failed(self) -> list[Control]:
        return [c for c in self.controls if c.status == FAIL]


def _handshake(host: str, port: int, version: ssl.TLSVersion) -> tuple[bool, str]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # measuring which versions it speaks, not whom it is
    context.minimum_version = context.maximum_version = version
    try:
        with socket.create_connection((host, port), timeout=5) as raw, context.wrap_socket(raw) as tls:
            return True, f"{tls.version()} with {tls.cipher()[0]}"
    except (ssl.SSLError, OSError) as exc:
        return False, str(getattr(exc, "reason", None) or exc)


def tls_only(host: str, port: int) -> Control:
    promise, control = "Data in transit is protected by TLS 1.3 only", "Caddy's only listener allows TLS 1.3 alone"
    spoke13, said13 = _handshake(host, port, ssl.TLSVersion.TLSv1_3)
    if not spoke13:
        return Control("tls13_only", promise, control, FAIL, [
            f"no TLS 1.3 handshake with {host}:{port} ({said13}); if the service is stopped, start it and generate "
            "the report again"])
    spoke12, said12 = _handshake(host, port, ssl.TLSVersion.TLSv1_2)
    evidence = [f"TLS 1.3 at {host}:{port}: {'accepted, ' + said13 if spoke13 else 'refused: ' + said13}",
                f"TLS 1.2 at {host}:{port}: {'ACCEPTED, ' + said12 if spoke12 else 'refused (' + said12 + ')'}"]
    return Control("tls13_only", promise, control, PASS if spoke13 and not spoke12 else FAIL, evidence)


def encrypted_at_rest(appliance: Appliance) -> Control:
    layout = appliance.layout
    files = [layout.control_db, layout.keystore_db, *sorted(layout.workspaces_dir.glob("*.db"))]
    plain = [p.name for p in files if p.exists() and p.read_bytes()[:16] == SQLITE_HEADER]
    evidence = [f"{len(files)} database files, each a SQLCipher file (AES-256 with a per-page HMAC); "
                f"{'none' if not plain else ', '.join(plain)} readable as plain SQLite"]
    return Control("encrypted_at_rest", "Everything stored is encrypted (AES-256)",
                   "Every database is SQLCipher under its own 256-bit key; backups and exports are AES-256-GCM files",
                   FAIL if plain else PASS, evidence)


def keys_apart(appliance: Appliance) -> Control:
    layout = appliance.layout
    data, keys = layout.data_dir.resolve(), layout.key_dir.resolve()
    evidence, status = [f"data directory {data}", f"key directory {keys}"], PASS
    if keys == data or data in keys.parents:
        evidence.append("the key directory is inside the data directory: a copy of the data takes the keys along")
        status = FAIL
    mode = stat.S_IMODE(keys.stat().st_mode)
    evidence.append(f"key directory mode {mode:04o}")
    if mode & 0o077:
        evidence.append("the key directory can be read by other users: it must be 0700")
        status = FAIL
    for path in sorted(keys.iterdir()):
        if path.is_file() and stat.S_IMODE(path.stat().st_mode) & 0o077:
            evidence.append(f"{path.name} has mode {stat.S_IMODE(path.stat().st_mode):04o}: it must be 0600")
            status = FAIL
    wrapped = masterkey.is_wrapped(layout.key_dir)
    evidence.append("the master key is wrapped under a passphrase" if wrapped else
                    "the master key is stored unwrapped (protected by file modes and the disk only)")
    return Control("keys_apart", "Keys are kept apart from the data they protect",
                   "Keys live in their own directory (0700, files 0600), never among the data", status, evidence)


def isolation(appliance: Appliance) -> Control:
    db = appliance.control_db
    active = [r["id"] for r in db.query("SELECT id FROM workspaces WHERE status != 'purged'")]
    records = {r.name: r for r in appliance.keystore.records()}
    missing = [w for w in active if f"{WORKSPACE_DB_KEY_PREFIX}{w}" not in records]
    materials = {appliance.keystore.get(f"{WORKSPACE_DB_KEY_PREFIX}{w}") for w in active if w not in missing}
    shared = len(materials) < len(active) - len(missing)
    evidence = [f"{len(active)} workspaces, {len(active) - len(missing)} with a key of their own"
                + ("; two workspaces share a key" if shared else "; no two share one")]
    evidence += [f"workspace {w} has no key in the keystore" for w in missing]
    return Control("workspace_isolation", "Each workspace's data is isolated from every other's",
                   "One SQLCipher database per workspace, under its own key", FAIL if missing or shared else PASS,
                   evidence)


def retention(appliance: Appliance, policies: RetentionPolicies, settings: Settings, now: dt.datetime) -> Control:
    db = appliance.control_db
    rows = db.query("SELECT id, name, status, legal_hold_since, legal_hold_reason FROM workspaces "
                    "WHERE status != 'purged' ORDER BY name")
    held, open_ended, evidence = [], [], []
    for row in rows:
        policy = policies.get(row["id"])
        limits = {k: v for k, v in policy.public().items() if v is not None}
        hold = f"; legal hold since {row['legal_hold_since'][:10]} ({row['legal_hold_reason']})" \
            if row["legal_hold_since"] else ""
        evidence.append(f"{row['name']} ({row['status']}): "
                        f"{', '.join(f'{k} {v}' for k, v in limits.items()) or 'keeps everything'}{hold}")
        if row["legal_hold_since"]:
            held.append(row["id"])
        elif policy.keeps_everything():
            open_ended.append(row["name"])
    last = db.query_one("SELECT outcome, started_at FROM job_runs WHERE job_id = 'retention_sweep' "
                        "AND outcome IN ('success', 'failure') ORDER BY id DESC LIMIT 1")
    due = dt.timedelta(minutes=2 * settings.retention_sweep_minutes)
    swept = last is not None and last["outcome"] == "success" and \
        now - dt.datetime.fromisoformat(last["started_at"].replace("Z", "+00:00")) <= due
    evidence.append(f"last retention sweep: {last['outcome'] + ' at ' + last['started_at'] if last else 'never'}")
    status = FAIL if (rows and not swept) else WARN if open_ended else PASS
    if open_ended:
        evidence.append(f"no retention limit set: {', '.join(open_ended)}")
    return Control("retention", "Data is kept only as long as each workspace's policy says",
                   "Per-workspace retention policies applied by the retention sweep; legal holds suspend it",
                   status, evidence)


def deletion_after_cancellation(appliance: Appliance, now: dt.datetime) -> Control:
    db = appliance.control_db
    rows = db.query("SELECT id, name, cancelled_at, purge_after, legal_hold_since FROM workspaces "
                    "WHERE status = 'cancelled' ORDER BY cancelled_at")
    late, evidence = [], []
    for row in rows:
        cancelled = dt.datetime.fromisoformat((row["cancelled_at"] or row["purge_after"]).replace("Z", "+00:00"))
        purge = dt.datetime.fromisoformat(row["purge_after"].replace("Z", "+00:00"))
        held = " (on legal hold: the purge waits)" if row["legal_hold_since"] else ""
        evidence.append(f"{row['name']}: cancelled {isoformat(cancelled)[:10]}, purge due {isoformat(purge)[:10]}"
                        f"{held}")
        if not row["legal_hold_since"] and (purge - cancelled > dt.timedelta(days=30) or purge < now - dt.timedelta(
                hours=2)):
            late.append(row["name"])
    purged = db.query_one("SELECT count(*) AS n FROM purged_workspaces")["n"]
    evidence.append(f"{len(rows)} cancelled workspaces waiting, {purged} purged so far")
    if late:
        evidence.append(f"overdue or due later than 30 days: {', '.join(late)}")
    return Control("deletion_after_cancellation", "A cancelled workspace is deleted within 30 days",
                   "Its key is destroyed (crypto-shredding) by the purge job at its purge date, at most 30 days on",
                   FAIL if late else PASS, evidence)


def tested_backups(appliance: Appliance, settings: Settings, now: dt.datetime) -> Control:
    backups = index.all_backups(appliance.control_db)
    verified = next((b for b in backups if b.status == "complete" and b.verification_status == "passed"), None)
    limit = dt.timedelta(hours=2 * settings.backup_interval_hours)
    if verified is None:
        return Control("tested_backups", "Backups exist and are tested", "Each backup is restored into a scratch "
                       "directory and checked", FAIL, [f"no verified backup ({len(backups)} made)"])
    age = now - dt.datetime.fromisoformat(verified.created_at.replace("Z", "+00:00"))
    evidence = [f"newest verified backup {verified.id}, made {verified.created_at}, verified {verified.verified_at}",
                f"{len(backups)} backups in the index; scheduled every {settings.backup_interval_hours} h"]
    return Control("tested_backups", "Backups exist and are tested",
                   "Each backup is restored into a scratch directory and checked", PASS if age <= limit else FAIL,
                   evidence + ([] if age <= limit else [f"it is {int(age.total_seconds() // 3600)} h old, more "
                                                        "than two backup intervals"]))


def audit_chain(audit: AuditLog) -> Control:
    result = audit.verify()
    evidence = [f"walked now: {result.rows_checked} rows"]
    if not result.ok:
        evidence.append(f"problem: {result.problem}")
    return Control("audit_log", "Every change is recorded in a tamper-evident audit log",
                   "An HMAC chain over every row, with a signed head checkpoint, verified every 6 h and now",
                   PASS if result.ok else FAIL, evidence)


def second_factor(appliance: Appliance, settings: Settings) -> Control:
    db = appliance.control_db
    rows = db.query("SELECT DISTINCT u.email, u.is_operator FROM users u LEFT JOIN memberships m ON m.user_id = u.id "
                    "WHERE u.status = 'active' AND u.totp_enabled_at IS NULL AND (u.is_operator = 1 "
                    "OR m.role IN ('owner', 'admin')) ORDER BY u.email")
    evidence = [f"require_second_factor_for_admins = {str(settings.require_second_factor_for_admins).lower()}"]
    evidence += [f"{r['email']} ({'operator' if r['is_operator'] else 'workspace admin or owner'}) has no second "
                 "factor" for r in rows] or ["every operator and workspace admin has a second factor"]
    return Control("second_factor", "Administrators sign in with a second factor",
                   "TOTP for operators and workspace owners and admins", FAIL if rows else PASS, evidence)


def api_keys(appliance: Appliance) -> Control:
    rows = appliance.control_db.query(
        "SELECT k.id, k.name, w.name AS workspace FROM api_keys k JOIN workspaces w ON w.id = k.workspace_id "
        "WHERE k.expires_at IS NULL AND k.revoked_at IS NULL ORDER BY w.name, k.name")
    evidence = [f"API key {r['id']} “{r['name']}” in {r['workspace']} never expires" for r in rows] or [
        "every live API key has an expiry date"]
    return Control("api_key_expiry", "Integration credentials expire", "API keys expire (90 days by default); "
                   "\"never\" has to be chosen explicitly", WARN if rows else PASS, evidence)


def key_rotation(appliance: Appliance, now: dt.datetime) -> Control:
    evidence, old = [], []
    for record in appliance.keystore.records():
        since = record.rotated_at or record.created_at
        days = (now - dt.datetime.fromisoformat(since.replace("Z", "+00:00"))).days
        evidence.append(f"{record.name}: version {record.version}, "
                        f"{'rotated' if record.rotated_at else 'created'} {since[:10]} ({days} days)")
        if days > KEY_ROTATION_DAYS:
            old.append(record.name)
    if old:
        evidence.append(f"not rotated for over {KEY_ROTATION_DAYS} days: {', '.join(old)} "
                        "(`chatspark keys rotate`)")
    return Control("key_rotation", "Keys are rotated", "Database, audit and service keys rotate with "
                   "`chatspark keys rotate`; old versions are kept only to read what they signed",
                   WARN if old else PASS, evidence)


def gather(appliance: Appliance, settings: Settings, *, audit: AuditLog, listener: tuple[str, int] | None = None
           ) -> Evidence:
    """Every control, measured now; `listener` is where to test TLS (default: where the service says it serves,
    else the settings' host and port)."""
    now = appliance.clock.now()
    if listener is None:
        record = serving.read(appliance.layout)
        host = record.host if record else settings.host
        listener = ("127.0.0.1" if host in ("0.0.0.0", "", "::") else host, record.port if record else settings.port)
    policies = RetentionPolicies(appliance.control_db)
    controls = [tls_only(*listener), encrypted_at_rest(appliance), keys_apart(appliance), isolation(appliance),
                retention(appliance, policies, settings, now), deletion_after_cancellation(appliance, now),
                tested_backups(appliance, settings, now), audit_chain(audit), second_factor(appliance, settings),
                api_keys(appliance), key_rotation(appliance, now)]
    return Evidence(isoformat(now), appliance.appliance_id, __version__, controls)
