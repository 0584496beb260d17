"""Retention policies: what a proposed policy must be, the default that keeps everything, audited changes, legal
holds; and how visitor addresses are made less precise."""

from __future__ import annotations

import pytest

from appliance.errors import NotFound, ValidationError
from appliance.retention.addresses import truncate
from appliance.retention.policy import RetentionPolicy
from appliance.retention.service import Actor


@pytest.mark.parametrize(("proposed", "complaint"), [
    ({"conversations_days": 0}, "1 to 3650"),
    ({"leads_days": 3651}, "1 to 3650"),
    ({"analytics_events_days": "30"}, "whole number"),
    ({"uploaded_originals_days": 1.5}, "whole number"),
    ({"visitor_addresses_days": True}, "whole number"),
    ({"visitor_addresses_action": "blur"}, "'truncate'"),
    ({"conversation_days": 30}, "unknown retention field 'conversation_days'"),
    (["conversations_days", 30], "JSON object"),
    (None, "JSON object"),
])
def test_a_policy_outside_the_rules_is_refused_saying_what_to_fix(proposed, complaint):
    with pytest.raises(ValidationError, match=complaint):
        RetentionPolicy.from_json(proposed)


def test_days_at_either_end_of_the_range_and_null_are_accepted():
    policy = RetentionPolicy.from_json({"conversations_days": 1, "leads_days": 3650, "analytics_events_days": None,
                                        "visitor_addresses_action": "drop"})

    assert (policy.conversations_days, policy.leads_days, policy.analytics_events_days) == (1, 3650, None)
    assert policy.visitor_addresses_action == "drop"
    assert policy.uploaded_originals_days is None


def test_a_workspace_keeps_everything_until_a_policy_is_set(services, place):
    retention = services.retention.get(place.workspace_id)

    assert retention.policy == RetentionPolicy()
    assert retention.policy.keeps_everything()
    assert retention.legal_hold is None


def test_applying_a_policy_is_audited_with_before_and_after(services, place):
    place.set_policy(conversations_days=90)
    services.retention.apply(place.workspace_id, {"conversations_days": 30, "leads_days": 365},
                             actor=Actor("user", place.owner_id, "192.0.2.1"))

    assert services.retention.get(place.workspace_id).policy == RetentionPolicy(conversations_days=30,
                                                                                leads_days=365)
    event = services.audit.events(workspace_id=place.workspace_id, action="retention.update")[-1]
    assert event.details["before"]["conversations_days"] == 90
    assert event.details["after"]["conversations_days"] == 30
    assert event.details["after"]["leads_days"] == 365
    assert (event.actor_id, event.client_address) == (place.owner_id, "192.0.2.1")


def test_a_refused_policy_changes_nothing(services, place):
    place.set_policy(conversations_days=90)

    with pytest.raises(ValidationError):
        services.retention.apply(place.workspace_id, {"conversations_days": -1}, actor=place.owner)

    assert services.retention.get(place.workspace_id).policy.conversations_days == 90
    assert len(services.audit.events(workspace_id=place.workspace_id, action="retention.update")) == 1


def test_an_unknown_workspace_has_no_policy(services):
    with pytest.raises(NotFound):
        services.retention.get("0123456789abcdef")


def test_a_legal_hold_is_set_with_its_reason_kept_while_renewed_and_lifted(services, place, clock):
    held = services.retention.set_legal_hold(place.workspace_id, on=True, reason="Case 2026-17", actor=place.owner)
    since = held.legal_hold.since
    clock.advance(days=3)
    again = services.retention.set_legal_hold(place.workspace_id, on=True, actor=place.owner)
    lifted = services.retention.set_legal_hold(place.workspace_id, on=False, actor=place.owner)

    assert (again.legal_hold.since, again.legal_hold.reason) == (since, "Case 2026-17")
    assert lifted.legal_hold is None
    events = services.audit.events(workspace_id=place.workspace_id, action="retention.legal_hold")
    assert [(e.details["on"], e.details["was_on"]) for e in events] == [(True, False), (True, True), (False, True)]
    assert events[0].details["reason"] == "Case 2026-17"


def test_a_legal_hold_needs_a_yes_or_no(services, place):
    with pytest.raises(ValidationError, match="'on' is true"):
        services.retention.set_legal_hold(place.workspace_id, on="yes", actor=place.owner)


@pytest.mark.parametrize(("address", "truncated"), [
    ("203.0.113.77", "203.0.113.0/24"),
    ("2001:db8:abcd:12:1::7", "2001:db8:abcd::/48"),
    ("::ffff:198.51.100.9", "198.51.100.0/24"),
    ("fe80::1%eth0", "fe80::/48"),
    ("203.0.113.0/24", "203.0.113.0/24"),      # already a network: a later sweep leaves it
    ("unknown", None),                          # not an address: it cannot be made less precise, so it goes
])
def test_addresses_are_truncated_to_their_network(address, truncated):
    assert truncate(address) == truncated
