"""Per-address request limits on the endpoints anyone can call without credentials (login, reset, invitations...)."""

from __future__ import annotations

import time

from flask import Flask, request

from appliance.rate_limits import MinuteWindows

# Endpoints reachable without a session or key; each address gets `limit` calls a minute across all of them.
PUBLIC_ENDPOINTS = frozenset({
    "auth.login", "auth.verify_email", "auth.request_password_reset", "auth.complete_password_reset",
    "auth.accept_invitation", "pages.login", "pages.verify_email", "pages.forgot_password", "pages.reset_password",
    "pages.accept_invitation",
})


class AddressLimiter:
    """A moving one-minute window per client address."""

    def __init__(self, limit: int, *, now=time.monotonic) -> None:
        self.limit = limit
        self._windows = MinuteWindows(now=now)

    def hit(self, address: str) -> None:
        self._windows.hit(address, limit=self.limit,
                          message="too many requests from your address; wait a minute and try again")


def install(app: Flask, *, limit: int) -> None:
    limiter = AddressLimiter(limit)

    @app.before_request
    def limit_public_endpoints() -> None:
        if request.endpoint in PUBLIC_ENDPOINTS and request.method == "POST":
            limiter.hit(request.remote_addr or "unknown")
