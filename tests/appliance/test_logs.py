"""Structured logs: one JSON object per line, secrets redacted by field name and by shape, rotated files."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import stat
from pathlib import Path

import pytest

from appliance import logs
from appliance.keys.certificates import issue_ca
from appliance.logs import REDACTED, JsonFormatter, redact_text

HEX_KEY = "ab" * 32


@pytest.fixture
def captured():
    """A logger writing JSON lines into a buffer, detached from the root logger."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("chatspark.test")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False

    def lines() -> list[dict]:
        return [json.loads(line) for line in buffer.getvalue().splitlines()]

    yield logger, lines
    logger.removeHandler(handler)
    logger.propagate = True


@pytest.fixture
def root_logger():
    """The root logger with pytest's handlers set aside, restored afterwards."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    for handler in saved_handlers:
        root.removeHandler(handler)
    yield root
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    for handler in saved_handlers:
        root.addHandler(handler)
    root.setLevel(saved_level)


def test_each_record_is_one_json_object_on_one_line(captured):
    logger, lines = captured

    logger.warning("first line\nsecond line", extra={"workspace": "acme", "count": 3, "ratio": 0.5, "ok": True})

    (entry,) = lines()
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "chatspark.test"
    assert entry["msg"] == "first line\nsecond line"
    assert (entry["workspace"], entry["count"], entry["ratio"], entry["ok"]) == ("acme", 3, 0.5, True)
    assert dt.datetime.fromisoformat(entry["ts"]).utcoffset() == dt.timedelta(0)


def test_message_arguments_are_interpolated(captured):
    logger, lines = captured

    logger.info("opened %s in %d ms", "control.db", 12)

    assert lines()[0]["msg"] == "opened control.db in 12 ms"


def test_values_that_are_not_json_are_written_as_text(captured):
    logger, lines = captured

    logger.info("path", extra={"where": Path("/var/lib/chatspark")})

    assert lines()[0]["where"] == "/var/lib/chatspark"


@pytest.mark.parametrize("field", ["password", "api_token", "key", "master_key", "client_secret", "passphrase",
                                   "Authorization", "cookie", "credentials"])
def test_extra_fields_named_like_secrets_are_redacted(captured, field):
    logger, lines = captured

    logger.info("login", extra={field: "hunter2-value", "user": "ada"})

    entry = lines()[0]
    assert entry[field] == REDACTED
    assert entry["user"] == "ada"
    assert "hunter2-value" not in json.dumps(entry)


@pytest.mark.parametrize("secret, kept", [
    ("Authorization: Bearer eyJhbGciOi.eyJzdWIiOi.sig-nature_x", "Bearer [redacted]"),
    ("token is bearer abc123~+/=", "bearer [redacted]"),
    ("widget key csk_live_9f8e7d6c5b4a", "csk_[redacted]"),
    (f"PRAGMA key = \"x'{HEX_KEY}'\"", "x'[redacted]'"),
])
def test_secrets_in_messages_are_redacted(captured, secret, kept):
    logger, lines = captured

    logger.error("failed: %s", secret)

    message = lines()[0]["msg"]
    assert kept in message
    for fragment in ("eyJhbGciOi", "abc123", "9f8e7d6c5b4a", HEX_KEY):
        assert fragment not in message


def test_pem_private_keys_in_messages_are_redacted(captured):
    logger, lines = captured
    key_pem = issue_ca(appliance_id="test", now=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)).key_pem.decode()
    body = key_pem.splitlines()[1]

    logger.error("bad config:\n%s\nend", key_pem)

    message = lines()[0]["msg"]
    assert "[redacted key]" in message
    assert body not in message
    assert message.startswith("bad config:") and message.endswith("end")


def test_secrets_in_extra_values_and_tracebacks_are_redacted(captured):
    logger, lines = captured

    try:
        raise ValueError(f"cannot open with x'{HEX_KEY}'")
    except ValueError:
        logger.exception("open failed", extra={"header": "Bearer sometoken123"})

    entry = lines()[0]
    assert "ValueError" in entry["exception"]
    assert HEX_KEY not in entry["exception"]
    assert entry["header"] == "Bearer [redacted]"


@pytest.mark.parametrize("text", [
    "workspace acme: 12 sources indexed",
    "key rotation due 2027-01-01 for db:workspace:acme",
    "x'abcd' is too short to be a key",
])
def test_text_without_secrets_is_left_alone(text):
    assert redact_text(text) == text


def test_add_file_writes_json_lines_and_rotates_at_max_bytes(root_logger, tmp_path):
    root_logger.setLevel(logging.INFO)
    logs_dir = tmp_path / "logs"

    path = logs.add_file(logs_dir, max_bytes=2_000, backups=2)
    logger = logging.getLogger("chatspark.rotation")
    for number in range(60):
        logger.info("entry %03d %s", number, "x" * 60)

    assert path == logs_dir / "chatspark.log"
    assert stat.S_IMODE(logs_dir.stat().st_mode) == 0o700
    assert sorted(p.name for p in logs_dir.iterdir()) == ["chatspark.log", "chatspark.log.1", "chatspark.log.2"]
    for file in logs_dir.iterdir():
        assert file.stat().st_size <= 2_000
        assert all(json.loads(line)["logger"] == "chatspark.rotation" for line in file.read_text().splitlines())
    assert json.loads(path.read_text().splitlines()[-1])["msg"].startswith("entry 059 ")


def test_configure_routes_the_root_logger_to_stderr_as_json(root_logger, capsys):
    logs.configure(level="WARNING")

    logging.getLogger("chatspark.configured").info("dropped")
    logging.getLogger("chatspark.configured").warning("kept token=%s", "Bearer abc.def")

    (line,) = capsys.readouterr().err.splitlines()
    entry = json.loads(line)
    assert (entry["level"], entry["msg"]) == ("WARNING", "kept token=Bearer [redacted]")
    assert root_logger.level == logging.WARNING
    assert len(root_logger.handlers) == 1


def test_a_record_is_formatted_once_for_stderr_and_the_file(root_logger, tmp_path, capsys, monkeypatch):
    made = []
    line = JsonFormatter._line
    monkeypatch.setattr(JsonFormatter, "_line", lambda self, record: made.append(record) or line(self, record))
    logs.configure(level="INFO")
    path = logs.add_file(tmp_path / "logs", max_bytes=1_000_000, backups=1)
    token = logs.REQUEST_ID.set("req-1")
    try:
        logging.getLogger("chatspark.twice").info("served %s", "/healthz", extra={"status": 200})
    finally:
        logs.REQUEST_ID.reset(token)

    (stderr,) = capsys.readouterr().err.splitlines()
    (written,) = path.read_text().splitlines()
    assert stderr == written and len(made) == 1  # the file handler's size check formats it too, without the cache
    assert json.loads(written) | {"ts": None} == {"ts": None, "level": "INFO", "logger": "chatspark.twice",
                                                  "msg": "served /healthz", "request_id": "req-1", "status": 200}


def test_waitress_queue_warnings_are_logged_once_in_a_while_with_how_many_were_held_back(root_logger, capsys,
                                                                                         monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(logs.time, "monotonic", lambda: now[0])
    logs.configure(level="INFO")
    queue = logging.getLogger("waitress.queue")
    for depth in range(1, 41):  # a burst: every request finds every thread busy
        queue.warning("Task queue depth is %d", depth)
    now[0] += logs.QUEUE_WARNING_SECONDS
    queue.warning("Task queue depth is %d", 7)
    logs.configure(level="INFO")  # configured again (a restart in the same process): still one filter
    now[0] += logs.QUEUE_WARNING_SECONDS
    queue.warning("Task queue depth is %d", 2)

    lines = [json.loads(line)["msg"] for line in capsys.readouterr().err.splitlines()]
    assert lines == ["Task queue depth is 1", "Task queue depth is 7 (39 more like it since the last one logged)",
                     "Task queue depth is 2"]
    assert len(queue.filters) == 1
