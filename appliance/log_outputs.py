"""Where log lines go besides the rotated JSON file: the systemd journal (its native protocol, so each line keeps
its level, its request id and its JSON as fields) or syslog (RFC 3164 over the local socket or UDP), as the
`log_output` setting says. Each line is the same redacted JSON object the file holds."""

from __future__ import annotations

import logging
import logging.handlers
import socket
import struct
from pathlib import Path

from appliance.errors import ConfigurationError
from appliance.logs import REQUEST_ID, JsonFormatter

OUTPUTS = ("file", "journald", "syslog")
JOURNAL_SOCKET = "/run/systemd/journal/socket"
IDENTIFIER = "chatspark"
# syslog(3) priorities, which the journal uses too.
_PRIORITY = {"CRITICAL": 2, "ERROR": 3, "WARNING": 4, "INFO": 6, "DEBUG": 7}


def _field(name: str, value: str) -> bytes:
    """One journal field: NAME=value, or for a value with a newline NAME, its length (64-bit LE) and the value."""
    data = value.encode("utf-8", "replace")
    if b"\n" not in data:
        return name.encode() + b"=" + data + b"\n"
    return name.encode() + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"


class JournalHandler(logging.Handler):
    """Sends each record to journald as one datagram: MESSAGE (the JSON line), PRIORITY, SYSLOG_IDENTIFIER, and the
    logger, the request id and the error code as fields of their own, so `journalctl -u chatspark
    CHATSPARK_REQUEST_ID=...` finds one request's lines."""

    def __init__(self, path: str = JOURNAL_SOCKET) -> None:
        super().__init__()
        self.path = path
        self.setFormatter(JsonFormatter())
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            fields = [_field("MESSAGE", self.format(record)),
                      _field("PRIORITY", str(_PRIORITY.get(record.levelname, 6))),
                      _field("SYSLOG_IDENTIFIER", IDENTIFIER), _field("CHATSPARK_LOGGER", record.name)]
            for key, value in (("request_id", REQUEST_ID.get()), ("error_code", getattr(record, "error_code", None)),
                               ("audit_seq", getattr(record, "audit_seq", None))):
                if value is not None:
                    fields.append(_field(f"CHATSPARK_{key.upper()}", str(value)))
            self._socket.sendto(b"".join(fields), self.path)
        except Exception:  # a log line lost must never break the request that logged it
            self.handleError(record)

    def close(self) -> None:
        self._socket.close()
        super().close()


def syslog_handler(address: str) -> logging.Handler:
    """A syslog handler for `address`: a socket path (/dev/log) or host:port (UDP)."""
    if address.startswith("/"):
        target: str | tuple[str, int] = address
    else:
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise ConfigurationError(f"log_syslog_address is a socket path like /dev/log or host:port, not {address!r}")
        target = (host.strip("[]"), int(port))
    handler = logging.handlers.SysLogHandler(address=target, facility=logging.handlers.SysLogHandler.LOG_DAEMON)
    handler.ident = f"{IDENTIFIER}: "
    handler.setFormatter(JsonFormatter())
    return handler


def add_output(output: str, *, syslog_address: str = "/dev/log", journal_socket: str = JOURNAL_SOCKET) -> None:
    """Add the chosen output to the root logger ("file": nothing more, the file is always written)."""
    if output == "file":
        return
    if output == "journald":
        if not Path(journal_socket).exists():
            raise ConfigurationError(f"log_output is journald, but there is no journal socket at {journal_socket} "
                                     "(is this machine run by systemd?); choose file or syslog")
        logging.getLogger().addHandler(JournalHandler(journal_socket))
    elif output == "syslog":
        logging.getLogger().addHandler(syslog_handler(syslog_address))
    else:
        raise ConfigurationError(f"log_output is one of {', '.join(OUTPUTS)}, not {output!r}")
