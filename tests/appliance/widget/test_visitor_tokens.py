"""Widget visitor tokens: signed claims bound to agent and origin, expiry, and the renewal window."""

from __future__ import annotations

import datetime as dt

import pytest

from appliance.errors import VisitorTokenExpired, VisitorTokenInvalid
from appliance.widget.visitor_tokens import VisitorTokens

KEY = bytes(range(32))
AGENT, ORIGIN = "ag_demo", "https://intranet.example.com"


@pytest.fixture
def tokens(clock):
    return VisitorTokens(KEY, clock=clock, lifetime=dt.timedelta(minutes=30), renewable_for=dt.timedelta(hours=24))


def test_a_fresh_token_reads_back_its_claims(tokens):
    text, issued = tokens.issue(agent=AGENT, origin=ORIGIN)
    read = tokens.read(text, agent=AGENT, origin=ORIGIN)
    assert read == issued and read.expires_at - read.issued_at == 1800
    assert len(read.conversation_id) == 32 and read.visitor_id


def test_renewal_keeps_conversation_and_visitor(tokens):
    _, first = tokens.issue(agent=AGENT, origin=ORIGIN)
    _, second = tokens.issue(agent=AGENT, origin=ORIGIN, conversation_id=first.conversation_id,
                             visitor_id=first.visitor_id)
    assert (second.conversation_id, second.visitor_id) == (first.conversation_id, first.visitor_id)


def test_expiry_is_exact_to_the_second(tokens, clock):
    text, _ = tokens.issue(agent=AGENT, origin=ORIGIN)
    clock.advance(minutes=30, seconds=-1)
    tokens.read(text, agent=AGENT, origin=ORIGIN)
    clock.advance(seconds=1)
    with pytest.raises(VisitorTokenExpired):
        tokens.read(text, agent=AGENT, origin=ORIGIN)
    assert tokens.read(text, agent=AGENT, origin=ORIGIN, allow_expired=True).agent == AGENT


def test_an_expired_token_can_be_renewed_only_within_the_window(tokens, clock):
    text, _ = tokens.issue(agent=AGENT, origin=ORIGIN)
    clock.advance(minutes=30, hours=24, seconds=-1)
    tokens.read(text, agent=AGENT, origin=ORIGIN, allow_expired=True)
    clock.advance(seconds=1)
    with pytest.raises(VisitorTokenInvalid, match="too old"):
        tokens.read(text, agent=AGENT, origin=ORIGIN, allow_expired=True)


@pytest.mark.parametrize("agent, origin", [("ag_other", ORIGIN), (AGENT, "https://evil.example"),
                                           (AGENT, "http://intranet.example.com")])
def test_a_token_is_bound_to_its_agent_and_origin(tokens, agent, origin):
    text, _ = tokens.issue(agent=AGENT, origin=ORIGIN)
    with pytest.raises(VisitorTokenInvalid):
        tokens.read(text, agent=agent, origin=origin)


def test_tampered_foreign_and_malformed_tokens_are_invalid(tokens, clock):
    text, _ = tokens.issue(agent=AGENT, origin=ORIGIN)
    payload, signature = text[3:].split(".")
    other_key = VisitorTokens(b"x" * 32, clock=clock, lifetime=dt.timedelta(minutes=30),
                              renewable_for=dt.timedelta(hours=1))
    foreign, _ = other_key.issue(agent=AGENT, origin=ORIGIN)
    flipped = payload[:-1] + ("A" if payload[-1] != "A" else "B")
    for bad in (f"v1.{flipped}.{signature}", foreign, "v1.", "v2." + text[3:], "", None, "v1." + "a" * 700,
                f"v1.{payload}", f"v1.e30.{signature}"):
        with pytest.raises(VisitorTokenInvalid):
            tokens.read(bad, agent=AGENT, origin=ORIGIN)
