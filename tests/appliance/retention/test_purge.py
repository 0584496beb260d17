"""Purging cancelled workspaces: only once due and not on hold, key destroyed before anything else of the data,
every control row gone, ids-only audit, hooks called, and a purge stopped half-way finished by the next run."""

from __future__ import annotations

import pytest

from appliance.errors import Conflict, DatabaseMissing, PurgeFailed
from appliance.keys.keystore import workspace_db_key
from appliance.retention.purge import purge_cancelled_workspaces
from appliance.retention.service import Actor
from tests.appliance.retention.places import PARKING

OPERATOR = Actor("user", "operator-1")


def _with_access(services, place):
    """Everything that lets people reach the workspace: a member, an invitation, an API key, a widget route."""
    from tests.appliance.accounts.account_steps import make_user

    member = make_user(services, f"member-{place.workspace_id}@example.com")
    with services.appliance.control_db.transaction() as conn:
        services.workspaces.add_member(conn, workspace_id=place.workspace_id, user_id=member.id, role="editor")
    services.invitations.invite(place.workspace_id, email="invitee@example.com", role="viewer",
                                inviter_id=place.owner_id, inviter_role="owner", client_address=None)
    services.api_keys.create(place.workspace_id, name="CRM", scopes=["chat"], actor_id=place.owner_id,
                             client_address=None)
    place.set_policy(conversations_days=30)
    place.conversation(PARKING)
    return member


def _control_rows(services, workspace_id: str) -> dict[str, int]:
    db = services.appliance.control_db
    return {table: db.query_one(f"SELECT count(*) FROM {table} WHERE {column} = ?", (workspace_id,))[0]
            for table, column in (("workspaces", "id"), ("memberships", "workspace_id"),
                                  ("invitations", "workspace_id"), ("api_keys", "workspace_id"),
                                  ("agent_routes", "workspace_id"), ("retention_policies", "workspace_id"))}


def _files(place) -> list[str]:
    directory = place.services.appliance.layout.workspaces_dir
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(place.workspace_id))


def test_a_cancelled_workspace_is_not_purged_before_its_date(services, place, clock):
    services.cancellation.cancel(place.workspace_id, actor=place.owner)
    clock.advance(days=30, seconds=-1)

    assert purge_cancelled_workspaces(services.purges)["purged"] == []
    assert _files(place) and _control_rows(services, place.workspace_id)["memberships"] == 1


def test_the_purge_destroys_the_key_the_file_and_every_control_row(services, place, other_place, clock):
    _with_access(services, place)
    _with_access(services, other_place)
    key_name = workspace_db_key(place.workspace_id)
    assert _files(place) and services.appliance.keystore.has(key_name)
    services.cancellation.cancel(place.workspace_id, actor=place.owner)
    clock.advance(days=30)

    summary = purge_cancelled_workspaces(services.purges)

    assert summary == {"dry_run": False, "purged": [place.workspace_id], "held": [], "failed": {}}
    assert not services.appliance.keystore.has(key_name)
    assert _files(place) == []
    assert set(_control_rows(services, place.workspace_id).values()) == {0}
    assert services.purges.purged()[0]["workspace_id"] == place.workspace_id
    assert services.purges.purged()[0]["purge_after"] == "2026-12-29T12:00:00Z"
    with pytest.raises(DatabaseMissing):
        services.appliance.workspaces.open(place.workspace_id)
    # The other workspace is whole.
    assert _control_rows(services, other_place.workspace_id) == {
        "workspaces": 1, "memberships": 2, "invitations": 1, "api_keys": 1, "agent_routes": 1, "retention_policies": 1}
    assert other_place.count("conversations") == 1
    assert services.appliance.keystore.has(workspace_db_key(other_place.workspace_id))


def test_the_audit_log_keeps_ids_and_dates_only(services, place, clock):
    _with_access(services, place)
    services.cancellation.cancel(place.workspace_id, actor=place.owner)
    clock.advance(days=31)

    purge_cancelled_workspaces(services.purges)

    events = services.audit.events(workspace_id=place.workspace_id, action="workspace.purge")
    begun = services.audit.events(workspace_id=place.workspace_id, action="workspace.purge_begin")
    assert [e.target_id for e in events + begun] == [place.workspace_id] * 2
    assert begun[0].details["removed"] == {"memberships": 2, "invitations": 1, "integrations": 1,
                                           "widget_routes": 1}
    assert events[0].details["key_destroyed"] and events[0].details["file_removed"]
    rows = services.appliance.control_db.query("SELECT details FROM audit_log WHERE action LIKE 'workspace.purge%'")
    assert all("Acme" not in row["details"] and "@" not in row["details"] for row in rows)
    assert services.audit.verify().ok


def test_a_legal_hold_keeps_a_due_workspace_until_it_is_lifted(services, place, clock):
    services.cancellation.cancel(place.workspace_id, actor=place.owner)
    services.retention.set_legal_hold(place.workspace_id, on=True, reason="Case 17", actor=OPERATOR)
    clock.advance(days=60)

    held = purge_cancelled_workspaces(services.purges)

    assert held == {"dry_run": False, "purged": [], "held": [place.workspace_id], "failed": {}}
    assert _files(place)
    services.retention.set_legal_hold(place.workspace_id, on=False, actor=OPERATOR)
    assert purge_cancelled_workspaces(services.purges)["purged"] == [place.workspace_id]


def test_a_dry_run_lists_what_would_be_purged_and_changes_nothing(services, place, clock):
    services.cancellation.cancel(place.workspace_id, actor=place.owner)
    clock.advance(days=30)

    dry = purge_cancelled_workspaces(services.purges, dry_run=True)

    assert dry["purged"] == [place.workspace_id] and dry["dry_run"]
    assert _files(place) and _control_rows(services, place.workspace_id)["workspaces"] == 1


def test_hooks_run_once_the_key_and_file_are_gone(services, place, clock):
    seen = []

    def forget_workspace(workspace_id: str) -> None:
        seen.append((workspace_id, services.appliance.keystore.has(workspace_db_key(workspace_id)), _files(place)))

    services.purges.on_purged.append(forget_workspace)
    services.cancellation.cancel(place.workspace_id, actor=place.owner)
    clock.advance(days=30)

    purge_cancelled_workspaces(services.purges)

    assert seen == [(place.workspace_id, False, [])]


def test_a_purge_stopped_after_the_key_went_is_invisible_and_finished_by_the_next_run(services, place, clock):
    member = _with_access(services, place)
    calls = []

    def crashing_hook(workspace_id: str) -> None:
        calls.append(workspace_id)
        if len(calls) == 1:
            raise OSError("backup index unreachable")  # the process stops here, in effect

    services.purges.on_purged.append(crashing_hook)
    services.cancellation.cancel(place.workspace_id, actor=place.owner)
    clock.advance(days=30)

    with pytest.raises(PurgeFailed, match="backup index unreachable"):
        purge_cancelled_workspaces(services.purges)

    # Half-way: the key and file are gone, and nobody can reach what is left.
    assert not services.appliance.keystore.has(workspace_db_key(place.workspace_id))
    assert _files(place) == []
    assert services.workspaces.list_for_user(place.owner_id) == []
    assert services.workspaces.list_for_user(member.id) == []
    assert _control_rows(services, place.workspace_id)["api_keys"] == 0
    with pytest.raises(Conflict, match="has begun"):
        services.cancellation.undo(place.workspace_id, actor=place.owner)
    # A hold set now cannot stop it: the data may already be gone.
    services.retention.set_legal_hold(place.workspace_id, on=True, actor=OPERATOR)

    assert purge_cancelled_workspaces(services.purges)["purged"] == [place.workspace_id]
    assert calls == [place.workspace_id, place.workspace_id]
    assert set(_control_rows(services, place.workspace_id).values()) == {0}
    assert services.audit.verify().ok


def test_a_purge_stopped_before_the_key_went_is_finished_by_the_next_run(services, place, clock):
    services.cancellation.cancel(place.workspace_id, actor=place.owner)
    clock.advance(days=30)
    assert services.purges._begin(place.workspace_id)  # the first step committed, then the process died

    assert services.purges.due().unfinished == [place.workspace_id]
    assert purge_cancelled_workspaces(services.purges)["purged"] == [place.workspace_id]
    assert not services.appliance.keystore.has(workspace_db_key(place.workspace_id))
    assert _files(place) == []


def test_a_workspace_undone_or_held_just_before_its_purge_is_left_alone(services, place, clock):
    services.cancellation.cancel(place.workspace_id, actor=place.owner)
    clock.advance(days=30)
    services.cancellation.undo(place.workspace_id, actor=place.owner)

    assert services.purges.purge(place.workspace_id) is False
    assert _files(place) and services.workspaces.get(place.workspace_id).status == "active"
