"""Per-address request limits on the endpoints anyone can call without credentials (login, reset, invitations...)."""

from __future__ import annotations

import threading
import time
from collections import deque

from flask import Flask, request

from appliance.errors import TooManyAttempts

# Endpoints reachable without a session or key; each address gets `limit` calls a minute across all of them.
PUBLIC_ENDPOINTS = frozenset({
    "auth.login", "auth.verify_email", "auth.request_password_reset", "auth.complete_password_reset",
    "auth.accept_invitation", "pages.login", "pages.verify_email", "pages.forgot_password", "pages.reset_password",
    "pages.accept_invitation",
})


class AddressLimiter:
    """A moving one-minute window per client address, in this process (the appliance serves from one)."""

    def __init__(self, limit: int, *, now=time.monotonic) -> None:
        self.limit = limit
        self._now = now
        self._windows: dict[str, deque] = {}
        self._lock = threading.Lock()

    def hit(self, address: str) -> None:
        now = self._now()
        with self._lock:
            window = self._windows.setdefault(address, deque())
            while window and window[0] <= now - 60:
                window.popleft()
            if len(window) >= self.limit:
                raise TooManyAttempts("too many requests from your address; wait a minute and try again",
                                      retry_after_seconds=max(1, int(window[0] + 60 - now) + 1))
            window.append(now)
            if len(self._windows) > 100_000:  # forget quiet addresses rather than grow without bound
                for key in [k for k, w in self._windows.items() if not w or w[-1] <= now - 60]:
                    del self._windows[key]


def install(app: Flask, *, limit: int) -> None:
    limiter = AddressLimiter(limit)

    @app.before_request
    def limit_public_endpoints() -> None:
        if request.endpoint in PUBLIC_ENDPOINTS and request.method == "POST":
            limiter.hit(request.remote_addr or "unknown")
