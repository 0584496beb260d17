"""Security headers on every response the application sends."""

from __future__ import annotations

from flask import Flask, Response, request

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'; "
    "img-src 'self' data:; style-src 'self'; script-src 'self'"
)


def install(app: Flask, *, hsts_max_age: int) -> None:
    hsts = f"max-age={hsts_max_age}; includeSubDomains"

    @app.after_request
    def add_security_headers(response: Response) -> Response:
        headers = response.headers
        headers["Strict-Transport-Security"] = hsts
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "no-referrer"
        headers["X-Frame-Options"] = "DENY"
        headers["Cross-Origin-Opener-Policy"] = "same-origin"
        headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), payment=()"
        if request.path.startswith("/api/") or response.mimetype == "application/json":
            headers["Cache-Control"] = "no-store"
        else:
            headers.setdefault("Cache-Control", "no-cache")
        return response
