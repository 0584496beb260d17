"""Workspaces over the real control database and real workspace files: the owner, a database under its own key,
roles managed up to the actor's rank, ownership transfer, and the audit trail of every change."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from appliance.errors import Conflict, DatabaseUnreadable, NotFound, PermissionDenied, ValidationError
from appliance.keys.keystore import CONTROL_DB_KEY
from appliance.storage.database import Database

PASSWORD = "violet anchor drizzle 42"
HOME = "192.0.2.10"


@dataclass(frozen=True)
class Team:
    """A workspace and the user id holding each role in it."""

    workspace_id: str
    owner: str
    admin: str
    editor: str
    viewer: str


def new_user(services, email: str) -> str:
    with services.appliance.control_db.transaction() as conn:
        return services.users.create_pending(conn, email=email, password=PASSWORD)


@pytest.fixture
def operator(services):
    return services.users.create_operator(email="olga@example.com", password=PASSWORD)


@pytest.fixture
def team(services, operator) -> Team:
    """"Research", owned by owen@, with admin@, editor@ and viewer@ holding the roles they are named after."""
    owner = new_user(services, "owen@example.com")
    workspace = services.workspaces.create(name="Research", owner_id=owner, actor_id=operator.id,
                                           client_address=HOME)
    members = {}
    with services.appliance.control_db.transaction() as conn:
        for role in ("admin", "editor", "viewer"):
            members[role] = services.users.create_pending(conn, email=f"{role}@example.com", password=PASSWORD)
            services.workspaces.add_member(conn, workspace_id=workspace.id, user_id=members[role], role=role)
    return Team(workspace.id, owner, **members)


def roles(services, team: Team) -> dict[str, str]:
    """Each member's role, by the local part of their address."""
    return {member.email.partition("@")[0]: member.role for member in services.workspaces.members(team.workspace_id)}


def change_role(services, team: Team, user_id: str, role: str, *, actor_role: str = "admin") -> None:
    """Change a role as the team member holding `actor_role`."""
    services.workspaces.change_role(team.workspace_id, user_id=user_id, role=role, actor_id=getattr(team, actor_role),
                                    actor_role=actor_role, client_address=HOME)


def test_creating_a_workspace_makes_its_owner_a_member(services, operator):
    owner = new_user(services, "owen@example.com")

    workspace = services.workspaces.create(name="Research", owner_id=owner, actor_id=operator.id,
                                           client_address=HOME)

    assert (workspace.name, workspace.owner_id, workspace.owner_email) == ("Research", owner, "owen@example.com")
    assert [(m.user_id, m.role) for m in services.workspaces.members(workspace.id)] == [(owner, "owner")]
    assert services.workspaces.role_of(workspace.id, operator.id) is None
    assert [(w.id, role) for w, role in services.workspaces.list_for_user(owner)] == [(workspace.id, "owner")]


def test_each_workspace_gets_a_database_file_under_a_key_of_its_own(services, operator):
    owner = new_user(services, "owen@example.com")
    first, second = (services.workspaces.create(name=name, owner_id=owner, actor_id=operator.id,
                                                client_address=HOME) for name in ("Research", "Sales"))
    layout, keystore = services.appliance.layout, services.appliance.keystore
    keys = {workspace.id: keystore.get(f"db:workspace:{workspace.id}") for workspace in (first, second)}

    assert layout.workspace_db(first.id).is_file() and layout.workspace_db(second.id).is_file()
    assert len({*keys.values(), keystore.get(CONTROL_DB_KEY)}) == 3
    with Database(layout.workspace_db(first.id), keys[first.id]) as opened:
        assert opened.user_version() > 0
    with pytest.raises(DatabaseUnreadable):
        Database(layout.workspace_db(first.id), keys[second.id])


@pytest.mark.parametrize("disabled", [True, False], ids=["disabled", "unknown"])
def test_a_workspace_needs_an_existing_enabled_owner(services, operator, disabled):
    owner = new_user(services, "owen@example.com") if disabled else "no-such-user"
    if disabled:
        services.users.set_disabled(owner, disabled=True, actor_id=operator.id, client_address=HOME)

    with pytest.raises(ValidationError, match="owner"):
        services.workspaces.create(name="Research", owner_id=owner, actor_id=operator.id, client_address=HOME)
    assert services.workspaces.list_all() == []
    assert list(services.appliance.layout.workspaces_dir.glob("*.db")) == []


@pytest.mark.parametrize("role", ["viewer", "editor", "admin"])
def test_an_admin_may_set_a_member_to_any_role_up_to_admin(services, team, role):
    change_role(services, team, team.editor, role)

    assert services.workspaces.role_of(team.workspace_id, team.editor) == role


@pytest.mark.parametrize("actor_role", ["admin", "owner"])
def test_nobody_changes_the_owners_role_outside_a_transfer(services, team, actor_role):
    with pytest.raises(Conflict, match="transfer"):
        change_role(services, team, team.owner, "viewer", actor_role=actor_role)

    assert services.workspaces.role_of(team.workspace_id, team.owner) == "owner"


def test_a_role_change_cannot_make_an_owner(services, team):
    with pytest.raises(ValidationError):
        change_role(services, team, team.admin, "owner", actor_role="owner")

    assert roles(services, team) == {"owen": "owner", "admin": "admin", "editor": "editor", "viewer": "viewer"}


@pytest.mark.parametrize(("target", "role"), [("viewer", "admin"), ("admin", "viewer")])
def test_an_editor_cannot_manage_a_member_at_or_to_a_rank_above_editor(services, team, target, role):
    with pytest.raises(PermissionDenied):
        change_role(services, team, getattr(team, target), role, actor_role="editor")

    assert roles(services, team) == {"owen": "owner", "admin": "admin", "editor": "editor", "viewer": "viewer"}


def test_transferring_ownership_makes_the_new_owner_and_the_old_owner_an_admin(services, team):
    services.workspaces.transfer_ownership(team.workspace_id, to_user_id=team.editor, actor_id=team.owner,
                                           client_address=HOME)

    assert roles(services, team) == {"owen": "admin", "admin": "admin", "editor": "owner", "viewer": "viewer"}
    assert services.workspaces.get(team.workspace_id).owner_id == team.editor


def test_ownership_goes_only_to_a_member(services, team):
    stranger = new_user(services, "stranger@example.com")

    with pytest.raises(NotFound):
        services.workspaces.transfer_ownership(team.workspace_id, to_user_id=stranger, actor_id=team.owner,
                                               client_address=HOME)
    assert services.workspaces.get(team.workspace_id).owner_id == team.owner


def test_ownership_cannot_go_to_a_disabled_member(services, team, operator):
    # create() refuses a disabled owner; a transfer must not make one either, or the workspace is left with an owner
    # who cannot log in and a former owner who, now an admin, cannot transfer it back.
    services.users.set_disabled(team.admin, disabled=True, actor_id=operator.id, client_address=HOME)

    with pytest.raises((ValidationError, Conflict)):
        services.workspaces.transfer_ownership(team.workspace_id, to_user_id=team.admin, actor_id=team.owner,
                                               client_address=HOME)
    assert services.workspaces.get(team.workspace_id).owner_id == team.owner


def test_the_owner_cannot_be_removed(services, team):
    with pytest.raises(Conflict, match="transfer ownership first"):
        services.workspaces.remove_member(team.workspace_id, user_id=team.owner, actor_id=team.admin,
                                          actor_role="admin", client_address=HOME)

    assert services.workspaces.role_of(team.workspace_id, team.owner) == "owner"


def test_an_editor_cannot_remove_an_admin_but_an_admin_removes_a_viewer(services, team):
    with pytest.raises(PermissionDenied):
        services.workspaces.remove_member(team.workspace_id, user_id=team.admin, actor_id=team.editor,
                                          actor_role="editor", client_address=HOME)
    services.workspaces.remove_member(team.workspace_id, user_id=team.viewer, actor_id=team.admin,
                                      actor_role="admin", client_address=HOME)

    assert roles(services, team) == {"owen": "owner", "admin": "admin", "editor": "editor"}


def test_every_change_to_a_workspace_is_audited_with_actor_target_and_details(services, team, operator):
    change_role(services, team, team.viewer, "editor")
    services.workspaces.transfer_ownership(team.workspace_id, to_user_id=team.admin, actor_id=team.owner,
                                           client_address=HOME)
    new_owner = team.admin
    services.workspaces.remove_member(team.workspace_id, user_id=team.viewer, actor_id=new_owner,
                                      actor_role="owner", client_address=HOME)

    events = services.audit.events(workspace_id=team.workspace_id)
    assert [(e.action, e.actor_id, e.target_id, e.details, e.outcome) for e in events] == [
        ("workspace.create", operator.id, team.workspace_id, {"owner_id": team.owner}, "success"),
        ("member.role_change", team.admin, team.viewer, {"from": "viewer", "to": "editor"}, "success"),
        ("workspace.transfer", team.owner, team.admin, {}, "success"),
        ("member.remove", new_owner, team.viewer, {"role": "editor"}, "success"),
    ]
    assert {e.client_address for e in events} == {HOME}
