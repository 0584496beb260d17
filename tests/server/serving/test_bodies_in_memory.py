"""No request or response body ever lands in a temporary file: an upload and the download of its original go through
the real waitress server, while every temporary file the process tries to make is recorded."""

from __future__ import annotations

import http.client
import json
import shutil
import socket
import tempfile
import threading
import uuid
from pathlib import Path

import pytest
import waitress
from flask import Flask, request

from appliance.services import build_scheduler
from server.app import create_app
from server.serving.appserver import AppServer

PASSWORD = "a long enough passphrase for tests"
CANARY = f"canary-{uuid.uuid4().hex}"


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path) -> None:
        super().__init__("localhost", timeout=60)
        self._path = str(path)

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self._path)


def call(path: Path, method: str, url: str, body: bytes | None = None, headers: dict | None = None):
    connection = UnixConnection(path)
    try:
        connection.request(method, url, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def multipart(filename: str, data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
            "Content-Type: text/markdown\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


@pytest.fixture
def settings(settings):
    """Full-text search alone: these tests are about where request bodies go, and embedding the 3 MB handbook would
    take minutes on two cores (a stop does not wait for it, but the upload test waits for its indexing)."""
    return settings.replace(dense_retrieval=False)


@pytest.fixture
def spooled(monkeypatch):
    """Every temporary file asked for from now on (waitress and Werkzeug both go through tempfile.TemporaryFile)."""
    made = []
    real = tempfile.TemporaryFile

    def recording(*args, **kwargs):
        made.append((args, kwargs))
        return real(*args, **kwargs)

    monkeypatch.setattr(tempfile, "TemporaryFile", recording)
    return made


@pytest.fixture
def socket_dir():
    directory = Path(tempfile.mkdtemp(prefix="cs-"))  # short: AF_UNIX paths are limited to 108 bytes
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def served_app(services, settings, socket_dir):
    scheduler = build_scheduler(services)
    scheduler.start()
    app = create_app(services, settings=settings, scheduler=scheduler)
    server = AppServer(app, socket_dir / "app.sock", threads=2,
                       max_request_body_bytes=settings.max_request_body_bytes)
    server.start()
    operator = services.users.create_operator(email="op@example.com", password=PASSWORD)
    workspace = services.workspaces.create(name="Acme", owner_id=operator.id, actor_id=operator.id,
                                           client_address=None)
    status, body = call(server.socket_path, "POST", "/api/v1/auth/login",
                        json.dumps({"email": "op@example.com", "password": PASSWORD}).encode(),
                        {"Content-Type": "application/json"})
    assert status == 200, body
    yield server, json.loads(body)["token"], f"/api/v1/workspaces/{workspace.id}"
    server.close()
    scheduler.shutdown(wait=True)
    services.knowledge.close()


def handbook(megabytes: int) -> bytes:
    line = f"Visitors park in the north car park. {CANARY}\n".encode()
    return b"# Handbook\n\n" + line * (megabytes * (1 << 20) // len(line))


def test_a_large_upload_and_its_download_stay_in_memory(served_app, spooled, services):
    server, token, workspace = served_app
    data = handbook(3)  # past waitress' 512 KiB and 1 MiB thresholds and Werkzeug's 500 KB
    body, content_type = multipart("handbook.md", data)
    authorised = {"Authorization": f"Bearer {token}"}

    status, answer = call(server.socket_path, "POST", f"{workspace}/sources/upload", body,
                          {**authorised, "Content-Type": content_type, "Content-Length": str(len(body))})
    assert status == 202, answer
    source_id = json.loads(answer)["source"]["id"]
    status, original = call(server.socket_path, "GET", f"{workspace}/sources/{source_id}/original",
                            headers=authorised)

    assert status == 200 and original == data
    assert spooled == []
    assert services.knowledge.wait_idle(60)


def test_the_spy_sees_the_temporary_files_that_waitress_and_werkzeug_make_by_default(spooled, socket_dir):
    """The same upload and download through waitress' and Werkzeug's defaults: the test above would catch them."""
    app = Flask(__name__)
    received = []

    @app.post("/upload")
    def upload():
        received.append(request.files["file"].read())
        return "ok"

    @app.get("/download")
    def download():
        return received[0]

    server = waitress.create_server(app, unix_socket=str(socket_dir / "plain.sock"), threads=1)
    threading.Thread(target=server.run, daemon=True).start()
    try:
        data = handbook(3)
        body, content_type = multipart("handbook.md", data)
        path = socket_dir / "plain.sock"
        assert call(path, "POST", "/upload", body, {"Content-Type": content_type})[0] == 200
        before_download = len(spooled)
        assert before_download >= 1  # the request body, and the uploaded file
        assert call(path, "GET", "/download") == (200, data)
        assert len(spooled) > before_download  # the response
    finally:
        server.close()
