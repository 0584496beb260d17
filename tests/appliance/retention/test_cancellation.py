"""Cancelling a workspace: the purge date it schedules, the owner's mail, undoing it, an operator bringing the purge
earlier (never later), and the 30-day limit on the setting."""

from __future__ import annotations

import datetime as dt

import pytest

from appliance import settings as settings_module
from appliance.errors import ConfigurationError, Conflict, ValidationError
from appliance.retention.service import Actor
from tests.appliance.mail.queued_mail import mails_to

OPERATOR = Actor("user", "operator-1")


def test_cancelling_schedules_the_purge_thirty_days_on_and_mails_the_owner(services, place, clock):
    cancellation = services.cancellation.cancel(place.workspace_id, actor=place.owner)

    assert cancellation.status == "cancelled"
    assert cancellation.cancelled_at == "2026-11-29T12:00:00Z"
    assert cancellation.purge_after == "2026-12-29T12:00:00Z"
    assert services.workspaces.get(place.workspace_id).status == "cancelled"
    owner = services.users.get(place.owner_id)
    mail = mails_to(services, owner.email)[-1]
    assert mail["subject"] == 'Workspace "Acme" is cancelled'
    assert "after 2026-12-29T12:00:00Z" in mail["body"] and "undo" in mail["body"]
    event = services.audit.events(workspace_id=place.workspace_id, action="workspace.cancel")[-1]
    assert (event.actor_id, event.details) == (place.owner_id, {"purge_after": "2026-12-29T12:00:00Z"})


def test_the_purge_delay_comes_from_the_setting(services, place):
    services.cancellation._purge_days = 7  # as `cancellation_purge_days = 7` would build it

    assert services.cancellation.cancel(place.workspace_id, actor=place.owner).purge_after == "2026-12-06T12:00:00Z"


@pytest.mark.parametrize("days", ["0", "31"])
def test_the_setting_cannot_put_a_purge_beyond_thirty_days(days):
    with pytest.raises(ConfigurationError, match="between 1 and 30"):
        settings_module.load(environ={"CHATSPARK_CANCELLATION_PURGE_DAYS": days})


def test_a_cancelled_workspace_cannot_be_cancelled_again(services, place):
    services.cancellation.cancel(place.workspace_id, actor=place.owner)

    with pytest.raises(Conflict, match="already cancelled; its purge is due at 2026-12-29"):
        services.cancellation.cancel(place.workspace_id, actor=place.owner)


def test_the_owner_undoes_a_cancellation_before_the_purge(services, place, clock):
    services.cancellation.cancel(place.workspace_id, actor=place.owner)
    clock.advance(days=29)

    undone = services.cancellation.undo(place.workspace_id, actor=place.owner)

    assert (undone.status, undone.cancelled_at, undone.purge_after) == ("active", None, None)
    assert services.workspaces.get(place.workspace_id).status == "active"
    assert mails_to(services, services.users.get(place.owner_id).email)[-1]["subject"] == \
        'Workspace "Acme" is active again'
    assert services.audit.events(workspace_id=place.workspace_id, action="workspace.cancel_undo")
    clock.advance(days=5)
    assert services.purges.purge_due().purged == []


def test_undoing_resumes_indexing_of_sources_left_waiting(services, place):
    services.cancellation.cancel(place.workspace_id, actor=place.owner)
    with place.db.transaction() as conn:  # as after a restart while cancelled: the source still waits
        conn.execute("UPDATE sources SET status = 'queued' WHERE id = ?", (place.handbook_id,))

    services.cancellation.undo(place.workspace_id, actor=place.owner)

    assert services.knowledge.wait_idle(30)
    assert services.knowledge.sources(place.workspace_id).get(place.handbook_id).status == "ready"


def test_there_is_nothing_to_undo_in_an_active_workspace(services, place):
    with pytest.raises(Conflict, match="not cancelled"):
        services.cancellation.undo(place.workspace_id, actor=place.owner)


def test_an_operator_brings_the_purge_earlier_and_the_owner_is_told(services, place):
    services.cancellation.cancel(place.workspace_id, actor=place.owner)

    earlier = services.cancellation.set_purge_date(place.workspace_id, "2026-12-05", actor=OPERATOR)

    assert earlier.purge_after == "2026-12-05T00:00:00Z"
    mail = mails_to(services, services.users.get(place.owner_id).email)[-1]
    assert "after 2026-12-05T00:00:00Z (UTC) instead of 2026-12-29T12:00:00Z" in mail["body"]
    event = services.audit.events(workspace_id=place.workspace_id, action="workspace.purge_date")[-1]
    assert event.details == {"before": "2026-12-29T12:00:00Z", "after": "2026-12-05T00:00:00Z"}


def test_a_purge_date_never_moves_later(services, place):
    services.cancellation.cancel(place.workspace_id, actor=place.owner)
    services.cancellation.set_purge_date(place.workspace_id, "2026-12-05T00:00:00Z", actor=OPERATOR)

    with pytest.raises(ValidationError, match="only be brought earlier"):
        services.cancellation.set_purge_date(place.workspace_id, "2026-12-06T00:00:00Z", actor=OPERATOR)

    assert services.cancellation.get(place.workspace_id).purge_after == "2026-12-05T00:00:00Z"


def test_a_purge_date_in_the_past_means_at_the_next_run(services, place, clock):
    services.cancellation.cancel(place.workspace_id, actor=place.owner)

    now = services.cancellation.set_purge_date(place.workspace_id, "2020-01-01", actor=OPERATOR)

    assert now.purge_after == "2026-11-29T12:00:00Z"
    assert services.purges.purge_due().purged == [place.workspace_id]


@pytest.mark.parametrize(("value", "error"), [("next tuesday", ValidationError), (20261205, ValidationError),
                                              ("", ValidationError)])
def test_a_purge_date_must_be_a_time(services, place, value, error):
    services.cancellation.cancel(place.workspace_id, actor=place.owner)

    with pytest.raises(error, match="ISO 8601"):
        services.cancellation.set_purge_date(place.workspace_id, value, actor=OPERATOR)


def test_only_a_cancelled_workspace_has_a_purge_date(services, place):
    with pytest.raises(Conflict, match="only a cancelled workspace"):
        services.cancellation.set_purge_date(place.workspace_id, "2026-12-01", actor=OPERATOR)


def test_operators_list_cancelled_workspaces_soonest_purge_first(services, place, other_place, clock):
    services.cancellation.cancel(place.workspace_id, actor=place.owner)
    clock.advance(days=-1)
    services.cancellation.cancel(other_place.workspace_id, actor=other_place.owner)
    clock.advance(days=1)
    services.retention.set_legal_hold(place.workspace_id, on=True, actor=OPERATOR)

    listed = services.cancellation.list_cancelled()

    assert [(c.workspace_id, c.legal_hold) for c in listed] == [(other_place.workspace_id, False),
                                                                (place.workspace_id, True)]
    assert listed[0].purge_after == (dt.datetime(2026, 12, 28, 12, tzinfo=dt.timezone.utc)
                                     .isoformat().replace("+00:00", "Z"))
