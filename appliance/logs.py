"""Structured logging: JSON lines to stderr and to a rotated file in the data directory, secrets redacted; each
line logged while a request is answered carries that request's id (`REQUEST_ID`, set by the server), which the
response names in X-Request-Id and the line for each audit row written meanwhile repeats with the row's seq."""

from __future__ import annotations

import datetime as dt
import json
import logging
import logging.handlers
import re
import sys
import threading
import time
from contextvars import ContextVar
from pathlib import Path

LOG_FILE = "chatspark.log"
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
_SECRET_FIELD = re.compile(r"(key|secret|token|passw|passphrase|authorization|cookie|credential)", re.I)
# Values that look like secrets wherever they appear: bearer tokens, API keys, hex keys, PEM blocks.
_SECRET_TEXT = [
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+"), r"\1 [redacted]"),
    (re.compile(r"\bcsk_[A-Za-z0-9]+_[A-Za-z0-9_-]+"), "csk_[redacted]"),
    (re.compile(r"x'[0-9a-fA-F]{32,}'"), "x'[redacted]'"),
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S), "[redacted key]"),
]
REDACTED = "[redacted]"
QUEUE_WARNING_SECONDS = 10.0  # waitress's "Task queue depth" warning, at most once in this long
REQUEST_ID: ContextVar[str | None] = ContextVar("chatspark_request_id", default=None)


def redact_text(text: str) -> str:
    for pattern, replacement in _SECRET_TEXT:
        text = pattern.sub(replacement, text)
    return text


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, then any `extra=` fields (secret ones redacted).

    A record is formatted once however many handlers write it (stderr, the file, whose size check formats it too):
    the line is kept on the record, which every handler of a call sees in the same thread and request."""

    def format(self, record: logging.LogRecord) -> str:
        line = getattr(record, "_chatspark_line", None)
        if line is None:
            line = record._chatspark_line = self._line(record)
        return line

    def _line(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": redact_text(record.getMessage()),
        }
        if REQUEST_ID.get() is not None:
            entry["request_id"] = REQUEST_ID.get()
        for name, value in vars(record).items():
            if name in _STANDARD or name.startswith("_"):
                continue
            entry[name] = REDACTED if _SECRET_FIELD.search(name) else _plain(value)
        if record.exc_info:
            entry["exception"] = redact_text(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


def _plain(value: object) -> object:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    return redact_text(str(value))


def configure(*, level: str = "INFO", stderr: bool = True) -> None:
    """Route the root logger to stderr as JSON; the file handler is added once the data directory is trusted."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level)
    if stderr:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
    # Waitress warns of its task queue's depth at every request that finds every thread busy, which under a burst is
    # every request: keep the warning, once in QUEUE_WARNING_SECONDS, with how many it stood for.
    queue = logging.getLogger("waitress.queue")
    queue.setLevel(logging.WARNING)
    for old in [f for f in queue.filters if isinstance(f, OnceInAWhile)]:
        queue.removeFilter(old)
    queue.addFilter(OnceInAWhile(QUEUE_WARNING_SECONDS))
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


class OnceInAWhile(logging.Filter):
    """Lets a record through at most once in `seconds`; the next one let through says how many were held back."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self._seconds = seconds
        self._next = 0.0
        self._held = 0
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        now = time.monotonic()
        with self._lock:
            if now < self._next:
                self._held += 1
                return False
            self._next, held, self._held = now + self._seconds, self._held, 0
        if held:
            record.msg, record.args = (f"{record.getMessage()} ({held} more like it since the last one "
                                       "logged)"), None
        return True


def add_file(logs_dir: Path, *, max_bytes: int, backups: int) -> Path:
    """Also write JSON lines to logs_dir/chatspark.log, rotated at max_bytes, keeping `backups` old files."""
    logs_dir.mkdir(mode=0o700, exist_ok=True)
    path = logs_dir / LOG_FILE
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")
    handler.setFormatter(JsonFormatter())
    logging.getLogger().addHandler(handler)
    return path
