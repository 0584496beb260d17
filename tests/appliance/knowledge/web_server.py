"""A small website on a loopback port the kernel picks, for crawler tests; it records every request it receives."""

from __future__ import annotations

import contextlib
import http.server
import ssl
import threading
from dataclasses import dataclass, field
from typing import Iterator

HOST = "127.0.0.1"
HUGE_PAGE_BYTES = 5000


@dataclass(frozen=True)
class Route:
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    location: str = ""
    declare_length: bool = True


@dataclass(frozen=True)
class Request:
    path: str
    host: str


@dataclass
class Site:
    """A running site: change `routes` to change what it serves; `requests` is what it was asked, in order."""

    url: str
    port: int
    routes: dict[str, Route]
    requests: list[Request] = field(default_factory=list)

    def paths(self) -> list[str]:
        return [request.path for request in self.requests]


def _html(title: str, *hrefs: str) -> Route:
    links = "".join(f'<li><a href="{href}">{href}</a></li>' for href in hrefs)
    return Route(f"<!doctype html><html><head><title>{title}</title></head><body><ul>{links}</ul></body></html>"
                 .encode())


def _xml(text: str) -> Route:
    return Route(f'<?xml version="1.0" encoding="UTF-8"?>\n{text}'.encode(), "application/xml")


def small_site(port: int) -> dict[str, Route]:
    """Home links to pages, a disallowed path, another host, redirects in and out, an image, a huge page."""
    elsewhere = f"http://localhost:{port}"
    sitemap_ns = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
    return {
        "/robots.txt": Route(b"User-agent: *\nDisallow: /private/\n", "text/plain"),
        "/": _html("Home", "about", "/docs/guide#intro", "/docs/guide", "/private/secret", f"{elsewhere}/elsewhere",
                   "/moved", "/moved-away", "/photo", "/logo.png", "/huge", "mailto:info@example.com", "#top"),
        "/about": _html("About us", "/", "/about#team"),
        "/docs/guide": _html("Guide", "../about", "notes.txt"),
        "/docs/notes.txt": Route(b"Plain notes.", "text/plain; charset=utf-8"),
        "/private/secret": _html("Secret"),
        "/moved": Route(status=302, location="/landing"),
        "/landing": _html("Landing"),
        "/moved-away": Route(status=302, location=f"{elsewhere}/landing"),
        "/photo": Route(b"\x89PNG\r\n\x1a\n" + bytes(64), "image/png"),
        "/logo.png": Route(b"\x89PNG\r\n\x1a\n" + bytes(64), "image/png"),
        "/huge": Route(b"<p>" + b"x" * HUGE_PAGE_BYTES + b"</p>", declare_length=False),
        "/sitemap-index.xml": _xml(
            f"<sitemapindex {sitemap_ns}><sitemap><loc>/sitemap-pages.xml</loc></sitemap>"
            f"<sitemap><loc>{elsewhere}/sitemap-other.xml</loc></sitemap></sitemapindex>"
        ),
        "/sitemap-pages.xml": _xml(
            f'<urlset {sitemap_ns} xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">'
            "<url><loc>/about</loc><image:image><image:loc>/photo</image:loc></image:image></url>"
            "<url><loc>/docs/guide</loc></url><url><loc>/private/secret</loc></url>"
            f"<url><loc>{elsewhere}/elsewhere</loc></url><url><loc>/about</loc></url></urlset>"
        ),
        "/doctype-sitemap.xml": _xml(
            '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
            f"<urlset {sitemap_ns}><url><loc>/about&lol2;</loc></url></urlset>"
        ),
    }


class _Handler(http.server.BaseHTTPRequestHandler):
    server: "_SiteServer"

    def do_GET(self) -> None:  # noqa: N802 (the http.server API)
        site = self.server.site
        site.requests.append(Request(self.path, self.headers.get("Host", "")))
        route = site.routes.get(self.path) or Route(b"<p>Not found</p>", status=404)
        self.send_response(route.status)
        if route.location:
            self.send_header("Location", route.location)
        self.send_header("Content-Type", route.content_type)
        if route.declare_length:
            self.send_header("Content-Length", str(len(route.body)))
        self.end_headers()
        with contextlib.suppress(ConnectionError):
            self.wfile.write(route.body)

    def log_message(self, *args: object) -> None:
        pass


class _SiteServer(http.server.ThreadingHTTPServer):
    site: Site


@contextlib.contextmanager
def running_site(*, tls: ssl.SSLContext | None = None) -> Iterator[Site]:
    """Serve `small_site` on 127.0.0.1 (over TLS if a server context is given) until the block ends."""
    httpd = _SiteServer((HOST, 0), _Handler)
    if tls is not None:
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    port = httpd.server_address[1]
    httpd.site = Site(f"{'https' if tls else 'http'}://{HOST}:{port}", port, small_site(port))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield httpd.site
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
