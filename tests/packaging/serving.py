"""Driving a served appliance from outside, as a customer's browser or script would: HTTPS with the appliance CA
(TLS 1.3), a login, and a chat through the widget API from the demo page's origin."""

from __future__ import annotations

import http.client
import json
import re
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from tests.running import tls13_context


@dataclass
class Served:
    port: int
    ca_file: Path

    def call(self, method: str, path: str, body: dict | None = None, *, headers: dict | None = None):
        connection = http.client.HTTPSConnection("localhost", self.port, context=tls13_context(self.ca_file),
                                                 timeout=30)
        try:
            payload = json.dumps(body).encode() if body is not None else None
            connection.request(method, path, body=payload, headers={
                "Accept": "application/json", **({"Content-Type": "application/json"} if payload else {}),
                **(headers or {})})
            response = connection.getresponse()
            data = response.read()
            return response.status, (json.loads(data) if data.startswith(b"{") else data)
        finally:
            connection.close()

    def wait_ready(self, process, *, timeout: float = 90) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"serve exited {process.returncode} before /readyz passed")
            try:
                status, body = self.call("GET", "/readyz")
            except (OSError, http.client.HTTPException):
                time.sleep(0.2)
                continue
            if status == 200:
                return body
            time.sleep(0.2)
        raise AssertionError(f"/readyz did not pass within {timeout} s")

    def chat(self, public_id: str, site_origin: str, text: str) -> dict:
        """One visitor's question through the widget API, as the embedded widget asks it."""
        origin = {"Origin": site_origin}
        status, session = self.call("POST", f"/widget/v1/agents/{public_id}/session",
                                    {"page_url": f"{site_origin}/"}, headers=origin)
        assert status == 200, session
        status, answer = self.call("POST", f"/widget/v1/agents/{public_id}/messages", {"text": text},
                                   headers={**origin, "Authorization": f"Bearer {session['token']}"})
        assert status == 200, answer
        return answer["reply"]

    def login(self, email: str, password: str) -> str:
        status, body = self.call("POST", "/api/v1/auth/login", {"email": email, "password": password})
        assert status == 200, body
        return body["token"]


def demo_agent(demo_create_output: str) -> str:
    """The public id `chatspark demo create` printed in the widget snippet."""
    return re.search(r'data-agent="([^"]+)"', demo_create_output).group(1)


def port_closed(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0
