"""Per-address request limits: on the endpoints anyone can call without credentials (login, reset, invitations...),
and on failed credentials of every kind, on every route."""

from __future__ import annotations

import time

from flask import Flask, Response, request

from appliance.errors import TooManyAttempts
from appliance.rate_limits import MinuteWindows

# Endpoints reachable without a session or key; each address gets `limit` calls a minute across all of them.
PUBLIC_ENDPOINTS = frozenset({
    "auth.login", "auth.verify_email", "auth.request_password_reset", "auth.complete_password_reset",
    "auth.accept_invitation", "pages.login", "pages.verify_email", "pages.forgot_password", "pages.reset_password",
    "pages.accept_invitation", "sso.panel_token",
})
# Pages that cost the appliance work on a GET too (a single sign-on's start keeps a pending sign-in; its callback asks
# the provider for tokens): counted with the endpoints above, whatever the method.
COSTLY_PAGES = frozenset({"sso_pages.start", "sso_pages.callback"})
# Refusals that say a credential was wrong: a password, a session or API key, a widget visitor token, a mailed
# link's token. Not the ones an honest client meets in passing: a second factor still to give, an address still to
# verify, a visitor token that expired and is renewed.
FAILED_CREDENTIALS = frozenset({"authentication_failed", "token_invalid", "invalid_token"})
# What an address that spends its failures may still fetch: health checks and the files pages load.
ALWAYS_SERVED = frozenset({"health.healthz", "health.readyz", "health.ca_certificate", "widget.widget_js", "static"})


class AddressLimiter:
    """A moving one-minute window per client address."""

    def __init__(self, limit: int, *, now=time.monotonic) -> None:
        self.limit = limit
        self._windows = MinuteWindows(now=now)

    def hit(self, address: str) -> None:
        self._windows.hit(address, limit=self.limit,
                          message="too many requests from your address; wait a minute and try again")


class FailedCredentials:
    """Failed credentials per client address over a moving minute: once an address has spent `limit`, it is refused
    at once, before any credential it sends is looked at (so guessing keys or tokens costs the appliance nothing and
    writes nothing), until its oldest failure leaves the window."""

    def __init__(self, limit: int, *, now=time.monotonic) -> None:
        self.limit = limit
        self._windows = MinuteWindows(now=now)

    def check(self, address: str) -> None:
        wait = self._windows.wait(address, limit=self.limit)
        if wait:
            raise TooManyAttempts("too many failed sign-ins, keys or tokens from your address; wait a minute and "
                                  "try again", retry_after_seconds=wait)

    def record(self, address: str) -> None:
        self._windows.add(address)


def install(app: Flask, *, limit: int, failed_credentials_limit: int) -> None:
    limiter = AddressLimiter(limit)
    failures = FailedCredentials(failed_credentials_limit)

    @app.before_request
    def limit_public_endpoints() -> None:
        address = request.remote_addr or "unknown"
        if request.endpoint not in ALWAYS_SERVED:
            failures.check(address)
        if request.endpoint in PUBLIC_ENDPOINTS and request.method == "POST" or request.endpoint in COSTLY_PAGES:
            limiter.hit(address)

    @app.after_request
    def count_failed_credentials(response: Response) -> Response:
        if response.status_code in (400, 401) and response.is_json:
            code = (response.get_json(silent=True) or {}).get("error")
            if code in FAILED_CREDENTIALS:
                failures.record(request.remote_addr or "unknown")
        return response
