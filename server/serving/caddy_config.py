"""Caddy's JSON config: TLS 1.3 listeners, the timeouts that bound slow clients, the same security headers on every
response, and the proxy to waitress."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from appliance.errors import ServiceError
from appliance.settings import Settings
from server.security_headers import BANNERS, CONTENT_SECURITY_POLICY, fixed_headers

# Responses up to this size are read whole from waitress before Caddy sends them on, so a client that reads slowly
# holds Caddy's memory and not one of waitress's connections. Larger ones (exports, originals) stream past it.
RESPONSE_BUFFER_BYTES = 1 << 20


def listen_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def pem_certificate(cert_pem: bytes, key_pem: bytes) -> dict[str, Any]:
    """A certificate handed to Caddy inline, so its private key never lies in a file."""
    return {"load_pem": [{"certificate": cert_pem.decode("ascii"), "key": key_pem.decode("ascii"),
                          "tags": ["chatspark"]}]}


def file_certificate(cert_file: Path, key_file: Path) -> dict[str, Any]:
    """An operator-supplied certificate that Caddy reads from the operator's files."""
    for path in (cert_file, key_file):
        if not Path(path).is_file():
            raise ServiceError(f"TLS file {path} does not exist")
    return {"load_files": [{"certificate": str(cert_file), "key": str(key_file), "tags": ["chatspark"]}]}


def slow_client_limits(settings: Settings) -> dict[str, Any]:
    """Server options that cut off a client too slow to send its request or to read its response.

    Go bounds the TLS handshake by the shortest of these, so a client that never finishes it is cut off too.
    """
    return {
        "read_header_timeout": f"{settings.read_header_timeout_seconds}s",
        "read_timeout": f"{settings.read_body_timeout_seconds}s",
        "write_idle_timeout": f"{settings.write_stall_timeout_seconds}s",
        "idle_timeout": f"{settings.idle_timeout_seconds}s",
        "max_header_bytes": settings.max_header_bytes,
        # Without it net/http drains a body Caddy stopped reading before it sends the answer: a body that trickles
        # would hold back the 408 that tells its client it was too slow.
        "enable_full_duplex": True,
    }


def front_headers(settings: Settings, *, content_security_policy: str = CONTENT_SECURITY_POLICY) -> list[dict]:
    """Header handlers that give every response, the app's or one Caddy makes, the app's security headers and no
    banner: the fixed ones always, a policy and caching rule where the response brought none of its own."""
    fixed = {name: [value] for name, value in fixed_headers(hsts_max_age=settings.hsts_max_age_seconds).items()}
    return [
        {"handler": "headers", "response": {"deferred": True, "set": fixed, "delete": list(BANNERS)}},
        _unless_present("Content-Security-Policy", content_security_policy),
        _unless_present("Cache-Control", "no-store"),
    ]


def _unless_present(name: str, value: str) -> dict[str, Any]:
    return {"handler": "headers",
            "response": {"deferred": True, "require": {"headers": {name: None}}, "set": {name: [value]}}}


def _json_answer(status: int | str, error: str, message: str, *, close: bool = False) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "handler": "static_response",
        "status_code": status,
        "headers": {"Content-Type": ["application/json"], "Cache-Control": ["no-store"]},
        "body": json.dumps({"error": error, "message": message}),
    }
    if close:
        answer["headers"]["Connection"] = ["close"]
        answer["close"] = True
    return answer


def too_large_route(limit: int) -> dict[str, Any]:
    """Answer a declared Content-Length over the limit at once, before the client sends the body."""
    return {
        "match": [{"expression": (
            # CEL's && is false when either side is false, even if the other is an error (no Content-Length).
            "{http.request.header.Content-Length}.matches('^[0-9]{1,18}$') && "
            f"int({{http.request.header.Content-Length}}) > {limit}"
        )}],
        "handle": [_json_answer(413, "request_entity_too_large",
                                f"the request body is larger than the {limit}-byte limit", close=True)],
        "terminal": True,
    }


def request_timeout_answer(settings: Settings) -> dict[str, Any]:
    """A client that did not send its whole request within the read timeout is told so, and its connection closed.

    Caddy's read timeout ends the request as if the client had gone (status 499); the client may well be there.
    A body announced under 256 KiB is then drained by net/http before the connection closes, with no deadline
    (Caddy 2.11 clears it on the failed read): such a client holds one of Caddy's connections until it has sent
    what it announced, and nothing of it reaches waitress.
    """
    return {"handler": "intercept", "handle_response": [{
        "match": {"status_code": [499]},
        "routes": [{"handle": [_json_answer(
            408, "request_timeout",
            f"the request was not received within {settings.read_body_timeout_seconds} s; send it again", close=True,
        )]}],
    }]}


def proxy_to_app(settings: Settings, upstream_socket: Path) -> dict[str, Any]:
    return {
        "handler": "reverse_proxy",
        # The whole body is in Caddy before waitress sees the request: a body that trickles in holds none of
        # waitress's connections, only Caddy's, until the read timeout ends it.
        "request_buffers": settings.max_request_body_bytes,
        "response_buffers": RESPONSE_BUFFER_BYTES,
        "transport": {
            "protocol": "http",
            # Never more connections than waitress accepts; further requests wait in Caddy for a free one.
            "max_conns_per_host": settings.app_connection_limit,
            # Caddy lets an idle connection go well before waitress would close it, so it never sends a request on
            # a connection waitress is closing.
            "keep_alive": {"idle_timeout": f"{max(1, settings.app_channel_timeout_seconds // 2)}s"},
        },
        "upstreams": [{"dial": f"unix/{upstream_socket}"}],
        "headers": {
            "request": {
                # Set, never appended: a client's own X-Forwarded-* never reaches the app.
                "set": {
                    "X-Forwarded-For": ["{http.request.remote.host}"],
                    "X-Forwarded-Proto": ["https"],
                    "X-Forwarded-Host": ["{http.request.host}"],
                },
                "delete": ["Forwarded", "X-Real-Ip", "Via"],
            },
            "response": {"delete": list(BANNERS)},
        },
    }


def _tls_policy(settings: Settings) -> list[dict[str, Any]]:
    return [{
        "protocol_min": "tls1.3",
        "protocol_max": "tls1.3",
        "default_sni": settings.public_host or "localhost",
        "certificate_selection": {"any_tag": ["chatspark"]},
    }]


def appliance_server(settings: Settings, upstream_socket: Path) -> dict[str, Any]:
    return {
        "listen": [listen_address(settings.host, settings.port)],
        "protocols": ["h1", "h2"],
        "automatic_https": {"disable": True},
        **slow_client_limits(settings),
        # Errors Caddy itself answers (the app is restarting, a request it could not read) are JSON like the
        # app's, and end the connection: whatever was left of that request is not worth reading.
        "errors": {"routes": [{"handle": [*front_headers(settings), _json_answer(
            "{http.error.status_code}", "proxy_error",
            "the appliance could not answer this request ({http.error.status_code}); try again shortly", close=True,
        )]}]},
        "tls_connection_policies": _tls_policy(settings),
        "routes": [
            {"handle": front_headers(settings)},
            too_large_route(settings.max_request_body_bytes),
            {"handle": [
                {"handler": "request_body", "max_size": settings.max_request_body_bytes},
                request_timeout_answer(settings),
                proxy_to_app(settings, upstream_socket),
            ]},
        ],
    }


def redirect_server(settings: Settings) -> dict[str, Any]:
    """Plain HTTP that only redirects to HTTPS."""
    port_suffix = "" if settings.port == 443 else f":{settings.port}"
    return {
        "listen": [listen_address(settings.host, settings.http_redirect_port)],
        "protocols": ["h1"],
        "automatic_https": {"disable": True},
        **slow_client_limits(settings),
        "routes": [{"handle": [*front_headers(settings), {
            "handler": "static_response",
            "status_code": 308,
            "headers": {
                "Location": [f"https://{{http.request.host}}{port_suffix}{{http.request.uri}}"],
                "Connection": ["close"],
            },
        }]}],
    }


def demo_site_policy(appliance_url: str) -> str:
    """The demo page's content policy: the app's, but for the widget's script and calls from the appliance."""
    parts = urlsplit(appliance_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    return (f"default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'; "
            f"img-src 'self' data:; style-src 'self'; script-src 'self' {origin}; connect-src 'self' {origin}")


def demo_site_server(settings: Settings, site_dir: Path, *, appliance_url: str) -> dict[str, Any]:
    """The demo intranet page, a second origin (same host, another port) that embeds the widget like any intranet."""
    headers = front_headers(settings, content_security_policy=demo_site_policy(appliance_url))
    return {
        "listen": [listen_address(settings.host, settings.demo_site_port)],
        "protocols": ["h1", "h2"],
        "automatic_https": {"disable": True},
        **slow_client_limits(settings),
        "errors": {"routes": [{"handle": [*headers, {
            "handler": "static_response",
            "status_code": "{http.error.status_code}",
            "headers": {"Content-Type": ["text/plain; charset=utf-8"]},
            "body": "{http.error.status_code} {http.error.status_text}\n",
        }]}]},
        "tls_connection_policies": _tls_policy(settings),
        "routes": [
            {"handle": headers},
            {
                "match": [{"method": ["GET", "HEAD"]}],
                "handle": [
                    {"handler": "headers", "response": {"set": {"Cache-Control": ["no-cache"]}}},
                    {"handler": "file_server", "root": str(site_dir), "index_names": ["index.html"]},
                ],
                "terminal": True,
            },
            {"handle": [{"handler": "static_response", "status_code": 405,
                         "headers": {"Allow": ["GET, HEAD"], "Content-Type": ["text/plain; charset=utf-8"]},
                         "body": "405 Method Not Allowed\n"}]},
        ],
    }


def build_config(
    settings: Settings, *, upstream_socket: Path, storage_dir: Path, certificates: dict[str, Any],
    demo_site_dir: Path | None = None, appliance_url: str = "",
) -> dict[str, Any]:
    """Caddy's JSON config, from settings and a `pem_certificate` or `file_certificate`."""
    servers: dict[str, Any] = {"appliance": appliance_server(settings, upstream_socket)}
    if settings.http_redirect_port:
        servers["redirect"] = redirect_server(settings)
    if settings.demo_site_port and demo_site_dir is not None:
        servers["demo_site"] = demo_site_server(settings, demo_site_dir, appliance_url=appliance_url)
    return {
        # No admin endpoint and no autosave: the config holds the private key and must never reach a file.
        "admin": {"disabled": True, "config": {"persist": False}},
        "storage": {"module": "file_system", "root": str(storage_dir)},
        "logging": {"logs": {"default": {"level": "WARN" if settings.log_level != "DEBUG" else "DEBUG",
                                         "encoder": {"format": "json"}}}},
        "apps": {
            "http": {"servers": servers},
            "tls": {"certificates": certificates},
        },
    }
