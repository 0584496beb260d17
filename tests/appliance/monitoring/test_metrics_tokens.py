"""Metrics tokens: shown once and kept as a hash, expiring after a year unless "never" is chosen, refused once
revoked or expired (each refusal audited alike), and their use written down once a minute, not at every scrape."""

from __future__ import annotations

import pytest

from appliance.errors import AuthenticationFailed, Conflict, ValidationError

PASSWORD = "a long enough passphrase for tests"


@pytest.fixture
def operator(services):
    return services.users.create_operator(email="olga@example.com", password=PASSWORD).id


def create(services, operator, **options):
    return services.metrics_tokens.create(name="Prometheus", actor_id=operator, client_address="192.0.2.9", **options)


def test_the_token_is_shown_once_and_only_its_hash_is_stored(services, operator):
    token, record = create(services, operator)
    assert token.startswith(f"csm_{record.id}_") and record.public()["prefix"] == f"csm_{record.id}_"
    [row] = services.appliance.control_db.query("SELECT * FROM metrics_tokens")
    assert token.encode() not in b"".join(bytes(v) if isinstance(v, bytes) else str(v).encode() for v in row)
    assert services.metrics_tokens.authenticate(token, client_address="192.0.2.9").id == record.id


def test_tokens_expire_after_a_year_unless_never_is_chosen_explicitly(services, operator, clock):
    token, record = create(services, operator)
    forever, _ = create(services, operator, expires_in_days="never")
    assert record.expires_at[:4] == str(clock.now().year + 1)
    clock.advance(days=366)
    with pytest.raises(AuthenticationFailed):
        services.metrics_tokens.authenticate(token, client_address="192.0.2.9")
    assert services.metrics_tokens.authenticate(forever, client_address="192.0.2.9")
    for wrong in (0, 3651, True, "soon"):
        with pytest.raises(ValidationError):
            create(services, operator, expires_in_days=wrong)


def test_a_revoked_token_is_refused_like_an_unknown_one_and_both_are_audited(services, operator):
    token, record = create(services, operator)
    services.metrics_tokens.revoke(record.id, actor_id=operator, client_address=None)
    with pytest.raises(Conflict):
        services.metrics_tokens.revoke(record.id, actor_id=operator, client_address=None)
    refusals = []
    for attempt in (token, token[:-1] + ("A" if token[-1] != "A" else "B"), "csm_nope", ""):
        with pytest.raises(AuthenticationFailed) as refused:
            services.metrics_tokens.authenticate(attempt, client_address="198.51.100.7")
        refusals.append(str(refused.value))
    assert len(set(refusals)) == 1  # nothing tells a revoked token from a guess
    events = services.audit.events(action="metrics_token", limit=100)
    assert [e.action for e in events].count("metrics_token.refused") == 4
    assert {"metrics_token.create", "metrics_token.revoke"} <= {e.action for e in events}


def test_use_is_written_once_a_minute_and_a_new_address_is_audited(services, operator, clock):
    token, record = create(services, operator)
    for _ in range(5):
        services.metrics_tokens.authenticate(token, client_address="192.0.2.9")
    first = services.metrics_tokens.get(record.id).last_used_at
    clock.advance(seconds=20)
    services.metrics_tokens.authenticate(token, client_address="192.0.2.9")
    assert services.metrics_tokens.get(record.id).last_used_at == first or clock.now().second < 20
    services.metrics_tokens.authenticate(token, client_address="192.0.2.10")
    assert services.metrics_tokens.get(record.id).last_used_address == "192.0.2.10"
    moves = services.audit.events(action="metrics_token.new_address", limit=100)
    assert [e.client_address for e in moves] == ["192.0.2.9", "192.0.2.10"]
