"""API keys over the real control database: shown once, hashes only, scopes, expiry, rotation grace, revocation,
address limits, per-key rate limits, constant-time comparison, audit."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from appliance.errors import AuthenticationFailed, PermissionDenied, TooManyAttempts, ValidationError

PASSWORD = "violet anchor drizzle 42"


@pytest.fixture
def workspace(services):
    owner = services.users.create_operator(email="olga@example.com", password=PASSWORD)
    space = services.workspaces.create(name="Acme", owner_id=owner.id, actor_id=owner.id, client_address=None)
    return space.id, owner.id


def create(services, workspace, **options):
    workspace_id, owner_id = workspace
    options.setdefault("scopes", ["chat"])
    return services.api_keys.create(workspace_id, name="CRM", actor_id=owner_id, client_address="192.0.2.1",
                                    **options)


def test_the_key_is_shown_once_and_only_its_hash_is_stored(services, workspace):
    key, record = create(services, workspace)
    assert key.startswith(f"csk_{record.id}_")
    rows = services.appliance.control_db.query("SELECT * FROM api_keys")
    stored = b"".join(v if isinstance(v, bytes) else str(v).encode() for row in rows for v in row)
    assert key.encode() not in stored and key.split("_")[-1].encode() not in stored
    assert bytes(rows[0]["secret_hash"]) == hashlib.sha256(key.encode()).digest()
    assert services.api_keys.authenticate(key, client_address="192.0.2.1").id == record.id


def test_keys_expire_after_90_days_unless_never_is_chosen_explicitly(services, workspace, clock):
    key, record = create(services, workspace)
    forever, _ = create(services, workspace, expires_in_days="never")
    assert record.expires_at.startswith("2027-02-27")
    clock.advance(days=91)
    with pytest.raises(AuthenticationFailed):
        services.api_keys.authenticate(key, client_address="192.0.2.1")
    assert services.api_keys.authenticate(forever, client_address="192.0.2.1")
    with pytest.raises(ValidationError):
        create(services, workspace, expires_in_days=0)


def test_rotation_keeps_the_old_secret_working_for_the_grace_period_only(services, workspace, clock):
    old, record = create(services, workspace)
    new, rotated = services.api_keys.rotate(workspace[0], record.id, actor_id=workspace[1], client_address=None)
    assert rotated.id == record.id and rotated.scopes == record.scopes and new != old
    clock.advance(hours=23)
    assert services.api_keys.authenticate(old, client_address="192.0.2.1")
    assert services.api_keys.authenticate(new, client_address="192.0.2.1")
    clock.advance(hours=2)
    with pytest.raises(AuthenticationFailed):
        services.api_keys.authenticate(old, client_address="192.0.2.1")
    assert services.api_keys.authenticate(new, client_address="192.0.2.1")


def test_rotation_with_no_grace_retires_the_old_secret_at_once(services, workspace):
    import datetime as dt

    old, record = create(services, workspace)
    services.api_keys.rotate(workspace[0], record.id, actor_id=workspace[1], client_address=None,
                             grace=dt.timedelta(0))
    with pytest.raises(AuthenticationFailed):
        services.api_keys.authenticate(old, client_address="192.0.2.1")


def test_revocation_takes_effect_on_the_next_request(services, workspace):
    key, record = create(services, workspace)
    assert services.api_keys.authenticate(key, client_address="192.0.2.1")
    services.api_keys.revoke(workspace[0], record.id, actor_id=workspace[1], client_address=None)
    with pytest.raises(AuthenticationFailed):
        services.api_keys.authenticate(key, client_address="192.0.2.1")


def test_a_key_limited_to_addresses_is_refused_elsewhere(services, workspace):
    key, _ = create(services, workspace, allowed_addresses=["10.20.0.0/16"])
    assert services.api_keys.authenticate(key, client_address="10.20.3.4")
    with pytest.raises(PermissionDenied):
        services.api_keys.authenticate(key, client_address="192.0.2.1")


def test_requests_past_the_per_minute_limit_are_refused_with_a_retry_time(services, workspace, clock):
    key, _ = create(services, workspace, rate_limit_per_minute=3)
    for _ in range(3):
        services.api_keys.authenticate(key, client_address="192.0.2.1")
    with pytest.raises(TooManyAttempts) as refused:
        services.api_keys.authenticate(key, client_address="192.0.2.1")
    assert 1 <= refused.value.retry_after_seconds <= 61
    clock.advance(seconds=61)
    assert services.api_keys.authenticate(key, client_address="192.0.2.1")


def test_secrets_are_compared_in_constant_time(services, workspace, monkeypatch):
    key, _ = create(services, workspace)
    calls = []
    real = hmac.compare_digest
    monkeypatch.setattr("appliance.accounts.api_keys.hmac.compare_digest",
                        lambda a, b: calls.append((a, b)) or real(a, b))
    with pytest.raises(AuthenticationFailed):
        services.api_keys.authenticate(key[:-4] + "AAAA", client_address="192.0.2.1")
    assert calls


def test_unknown_scopes_and_malformed_keys_are_refused(services, workspace):
    with pytest.raises(ValidationError, match="scopes"):
        create(services, workspace, scopes=["everything"])
    for bogus in ("csk_nope", "csk_abcdefabcdef_short", "not a key", ""):
        with pytest.raises(AuthenticationFailed):
            services.api_keys.authenticate(bogus, client_address="192.0.2.1")


def test_creation_rotation_revocation_refusals_and_new_addresses_are_audited(services, workspace):
    key, record = create(services, workspace)
    services.api_keys.authenticate(key, client_address="198.51.100.7")
    services.api_keys.rotate(workspace[0], record.id, actor_id=workspace[1], client_address=None)
    services.api_keys.revoke(workspace[0], record.id, actor_id=workspace[1], client_address=None)
    with pytest.raises(AuthenticationFailed):
        services.api_keys.authenticate(key, client_address="198.51.100.7")
    actions = [e.action for e in services.audit.events(action="api_key")]
    assert actions == ["api_key.create", "api_key.new_address", "api_key.rotate", "api_key.revoke",
                       "api_key.refused"]
    assert key not in str([e.details for e in services.audit.events(action="api_key")])
