"""Driving the chat widget in headless Chromium (Debian's, through Playwright): host pages served from memory on an
origin of their own, Chromium trusting the appliance's server key alone, and what a visitor does (open the chat,
send a message and wait for the reply, read the conversation as shown); screenshots go to var/test-screenshots/."""

from __future__ import annotations

import base64
import hashlib
import http.server
import threading
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.running import free_port

CHROMIUM = "/usr/bin/chromium"
ROOT = "document.querySelector('[data-chatspark-widget], chatspark-widget').shadowRoot"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "test-screenshots"
HOSTILE_CSS = """
* { all: unset; }
html { font-size: 48px; } body { font-size: 60px; line-height: 5; font-family: "Comic Sans MS", cursive; }
div, button, input, textarea, span, p, a, form, label { color: red !important; background: yellow;
  border: 10px solid green; padding: 30px; margin: 20px; }
button { width: 400px; height: 300px; transform: rotate(3deg); }
"""


def host_page(snippet: str, *, title: str, style: str = "") -> bytes:
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title><style>{style}</style></head>"
            f"<body><h1>{title}</h1><p>An intranet page on another origin.</p>{snippet}</body></html>").encode()


class HostPages(http.server.ThreadingHTTPServer):
    """A loopback web server of another origin, serving host pages from memory."""

    def __init__(self, pages: dict[str, bytes]) -> None:
        self.pages = pages
        super().__init__(("127.0.0.1", free_port()), _HostHandler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _HostHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (the standard library's name)
        body = self.server.pages.get(self.path.split("?")[0])
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, *args):
        pass


def spki_pin(cert_file: Path) -> str:
    """Chromium's --ignore-certificate-errors-spki-list form of the appliance's server key: trust it alone."""
    certificate = x509.load_pem_x509_certificate(cert_file.read_bytes())
    spki = certificate.public_key().public_bytes(serialization.Encoding.DER,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def open_chat(page, url: str):
    page.goto(url)
    launcher = page.locator("button.cs-launcher")
    launcher.wait_for(state="visible", timeout=15_000)
    launcher.click()
    page.locator("textarea.cs-input").wait_for(state="visible")
    return page


def send(page, text: str) -> None:
    before = page.locator(".cs-msg.cs-agent").count()
    page.locator("textarea.cs-input").fill(text)
    page.locator("textarea.cs-input").press("Enter")
    page.wait_for_function(f"n => {ROOT}.querySelectorAll('.cs-msg.cs-agent').length > n "
                           f"&& !{ROOT}.querySelector('.cs-typing')", arg=before, timeout=15_000)


def last_reply(page):
    return page.locator(".cs-msg.cs-agent").last


def log_order(page) -> list[str]:
    """The conversation as shown, one letter per item: w(elcome), a(gent), v(isitor), f(orm), t(hank you)."""
    return page.evaluate(f"""() => [...{ROOT}.querySelector('.cs-log').children].map(e =>
        e.matches('form.cs-lead') ? 'f' : e.matches('.cs-lead-done') ? 't' : e.matches('.cs-welcome') ? 'w'
        : e.matches('.cs-visitor') ? 'v' : 'a')""")
