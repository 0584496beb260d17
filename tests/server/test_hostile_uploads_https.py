"""Uploads as an editor's browser sends them, over HTTPS: a document built to exhaust the reader fails its own
source with a reason, quickly, and a file of any name downloads under that name."""

from __future__ import annotations

import http.client
import json
import uuid
from urllib.parse import quote, unquote

from tests.appliance.knowledge.files import docx
from tests.running import RunningAppliance, free_port, tls13_context
from tests.server.conftest import init_appliance
from tests.waiting import wait_for

OPERATOR = ("operator@example.com", "correct horse battery staple for tests")


def _upload(running, token: str, workspace_id: str, name: str, data: bytes) -> tuple[int, dict | bytes]:
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename*=UTF-8''"
            f"{quote(name)}\r\nContent-Type: application/octet-stream\r\n\r\n"
            ).encode() + data + f"\r\n--{boundary}--\r\n".encode()
    conn = http.client.HTTPSConnection("localhost", running.port, context=tls13_context(running.ca_file), timeout=20)
    try:
        conn.request("POST", f"/api/v1/workspaces/{workspace_id}/sources/upload", body=body,
                     headers={"Authorization": f"Bearer {token}",
                              "Content-Type": f"multipart/form-data; boundary={boundary}"})
        response = conn.getresponse()
        raw = response.read()
        return response.status, (json.loads(raw) if raw.startswith(b"{") else raw)
    finally:
        conn.close()


def test_hostile_documents_fail_their_source_by_name_and_any_file_name_downloads(tmp_path):
    (tmp_path / "operator.txt").write_text(OPERATOR[1])
    data_dir, key_dir = init_appliance(tmp_path, "--operator-email", OPERATOR[0],
                                       "--password-file", str(tmp_path / "operator.txt"))
    running = RunningAppliance(data_dir, key_dir, free_port(), env={
        "CHATSPARK_ARGON2_TIME_COST": "1", "CHATSPARK_ARGON2_MEMORY_KIB": "1024",
        "CHATSPARK_ARGON2_PARALLELISM": "1"}).start()
    try:
        token = running.api("POST", "/api/v1/auth/login", {"email": OPERATOR[0], "password": OPERATOR[1]})[1]["token"]
        workspace_id = running.api("POST", "/api/v1/workspaces", {"name": "Acme"}, token=token)[1]["workspace"]["id"]
        deep = "<w:p><w:r>" + "<w:smartTag>" * 1500 + "<w:t>hi</w:t>" + "</w:smartTag>" * 1500 + "</w:r></w:p>"
        pages = "<html><body>" + "<div>" * 90_000 + "<p>Deep text.</p>" + "</div>" * 90_000 + "</body></html>"

        status, deep_docx = _upload(running, token, workspace_id, "deep.docx", docx(deep))
        assert status == 202, deep_docx
        status, deep_html = _upload(running, token, workspace_id, "deep.html", pages.encode())
        assert status == 202, deep_html
        status, named = _upload(running, token, workspace_id, "日本語の手引き.txt", b"Parking is in the garage.\n")
        assert status == 202, named

        def source(answer):
            return running.api("GET", f"/api/v1/workspaces/{workspace_id}/sources/{answer['source']['id']}",
                               token=token)[1]["source"]

        failed = wait_for(lambda: (s := source(deep_docx))["status"] == "failed" and s, timeout=30)
        assert "more than 200 elements deep" in failed["error"]
        assert wait_for(lambda: source(deep_html)["status"] == "ready", timeout=60)
        assert wait_for(lambda: source(named)["status"] == "ready", timeout=30)

        status, headers, body = running.get(f"/api/v1/workspaces/{workspace_id}/sources/{named['source']['id']}"
                                            "/original", headers={"Authorization": f"Bearer {token}"})
        assert status == 200 and body == b"Parking is in the garage.\n"
        assert unquote(headers["content-disposition"].split("filename*=UTF-8''")[1]) == "日本語の手引き.txt"
    finally:
        running.stop()
