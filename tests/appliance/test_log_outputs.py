"""The log outputs beside the file: the journal's native protocol (fields, a multi-line value's length framing, the
request id as a field of its own) read back from a real datagram socket, syslog over UDP, and clear refusals of an
output that cannot work."""

from __future__ import annotations

import json
import logging
import socket
import struct

import pytest

from appliance import log_outputs, logs
from appliance.errors import ConfigurationError


def parse_journal(datagram: bytes) -> dict[str, str]:
    """The fields of one native-protocol datagram, as journald reads them."""
    fields, rest = {}, datagram
    while rest:
        line, _, after = rest.partition(b"\n")
        if b"=" in line:
            name, _, value = line.partition(b"=")
            fields[name.decode()] = value.decode()
            rest = after
        else:
            (size,) = struct.unpack("<Q", after[:8])
            fields[line.decode()] = after[8:8 + size].decode()
            rest = after[8 + size + 1:]
    return fields


@pytest.fixture
def journal(tmp_path):
    path = str(tmp_path / "journal.socket")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    server.settimeout(5)
    yield path, server
    server.close()


def test_journal_lines_carry_the_json_level_and_request_id_as_fields(journal):
    path, server = journal
    handler = log_outputs.JournalHandler(path)
    logger = logging.getLogger("chatspark.test.journal")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    token = logs.REQUEST_ID.set("0123456789abcdef")
    try:
        logger.warning("disk is filling up", extra={"error_code": "disk_low", "api_key": "csk_secret_value"})
        try:
            raise ValueError("a traceback\nover lines")
        except ValueError:
            logger.exception("it broke")
    finally:
        logs.REQUEST_ID.reset(token)
        logger.removeHandler(handler)
        handler.close()
    first, second = (parse_journal(server.recv(65536)) for _ in range(2))
    assert first["PRIORITY"] == "4" and first["SYSLOG_IDENTIFIER"] == "chatspark"
    assert first["CHATSPARK_REQUEST_ID"] == "0123456789abcdef" and first["CHATSPARK_ERROR_CODE"] == "disk_low"
    entry = json.loads(first["MESSAGE"])
    assert entry["msg"] == "disk is filling up" and entry["api_key"] == logs.REDACTED
    assert second["PRIORITY"] == "3" and "over lines" in json.loads(second["MESSAGE"])["exception"]


def test_syslog_over_udp_gets_the_same_json_line():
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    server.settimeout(5)
    handler = log_outputs.syslog_handler(f"127.0.0.1:{server.getsockname()[1]}")
    logger = logging.getLogger("chatspark.test.syslog")
    logger.addHandler(handler)
    try:
        logger.error("backup failed", extra={"job": "backup"})
        datagram = server.recv(65536).decode()
    finally:
        logger.removeHandler(handler)
        handler.close()
        server.close()
    assert datagram.startswith("<27>chatspark: ")  # daemon facility (3) * 8 + error (3)
    entry = json.loads(datagram.split("chatspark: ", 1)[1].rstrip("\x00"))
    assert entry["msg"] == "backup failed" and entry["job"] == "backup" and entry["level"] == "ERROR"


def test_an_output_that_cannot_work_is_refused_with_the_reason(tmp_path):
    with pytest.raises(ConfigurationError, match="no journal socket"):
        log_outputs.add_output("journald", journal_socket=str(tmp_path / "none"))
    with pytest.raises(ConfigurationError, match="file, journald, syslog"):
        log_outputs.add_output("stdout")
    with pytest.raises(ConfigurationError, match="host:port"):
        log_outputs.syslog_handler("loghost")
    log_outputs.add_output("file")  # the file alone: nothing added
