"""Security headers on every response: the application's own, and the same set for the ones Caddy makes itself."""

from __future__ import annotations

from flask import Flask, Response, request

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'; "
    "img-src 'self' data:; style-src 'self'; script-src 'self'"
)
# Banners that name the software answering; none of them is ever sent (the proxy strips them, waitress sends none).
BANNERS = ("Server", "Via", "X-Powered-By")


def strict_transport_security(hsts_max_age: int) -> str:
    return f"max-age={hsts_max_age}; includeSubDomains"


def fixed_headers(*, hsts_max_age: int) -> dict[str, str]:
    """The headers every response carries with the same value, whatever answered it."""
    return {
        "Strict-Transport-Security": strict_transport_security(hsts_max_age),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    }


def install(app: Flask, *, hsts_max_age: int) -> None:
    fixed = fixed_headers(hsts_max_age=hsts_max_age)

    @app.after_request
    def add_security_headers(response: Response) -> Response:
        headers = response.headers
        headers.update(fixed)
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        if request.path.startswith("/api/") or response.mimetype == "application/json":
            headers["Cache-Control"] = "no-store"
        else:
            headers.setdefault("Cache-Control", "no-cache")
        return response
