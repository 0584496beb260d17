"""Calls without credentials are limited per client address: a flood of logins or resets gets 429, not service."""

from __future__ import annotations

import pytest

from appliance.errors import TooManyAttempts
from appliance.services import build_scheduler
from server.address_limits import AddressLimiter
from server.app import create_app


def test_public_posts_past_the_limit_get_429_with_retry_after_and_pages_still_load(services, settings):
    scheduler = build_scheduler(services)
    client = create_app(services, settings=settings.replace(public_requests_per_minute=3),
                        scheduler=scheduler).test_client()
    statuses = [client.post("/api/v1/auth/password-reset", json={"email": f"x{i}@example.com"}).status_code
                for i in range(4)]
    assert statuses == [202, 202, 202, 429]
    refused = client.post("/api/v1/auth/login", json={"email": "a@example.com", "password": "whatever it is"})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert refused.get_json()["error"] == "too_many_attempts"
    assert client.get("/login").status_code == 200


def test_single_sign_on_starts_and_callbacks_count_towards_the_limit(services, settings):
    """Each start keeps a pending sign-in and each callback asks the provider for tokens: a flood of either is
    refused like a flood of logins."""
    client = create_app(services, settings=settings.replace(public_requests_per_minute=3),
                        scheduler=build_scheduler(services)).test_client()
    statuses = [client.get(path).status_code for path in ("/sso/p1/start", "/sso/p1/callback?state=s&code=c",
                                                          "/sso/p1/start", "/sso/p1/start")]
    assert 429 not in statuses[:3] and statuses[3] == 429
    assert client.get("/login").status_code == 200


def test_the_window_moves_on_and_addresses_are_counted_apart():
    now = [1000.0]
    limiter = AddressLimiter(2, now=lambda: now[0])
    limiter.hit("192.0.2.1")
    limiter.hit("192.0.2.1")
    limiter.hit("192.0.2.2")
    with pytest.raises(TooManyAttempts):
        limiter.hit("192.0.2.1")
    now[0] += 61
    limiter.hit("192.0.2.1")
