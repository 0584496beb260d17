"""Every /api/v1 endpoint called by every kind of caller: the permission tables hold, and no endpoint goes unlisted."""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from flask import Flask

from appliance import settings as settings_module
from appliance.accounts import permissions, totp
from appliance.accounts.permissions import OPERATOR_PERMISSIONS, WORKSPACE_PERMISSIONS
from appliance.accounts.users import User
from appliance.bootstrap import initialise, open_appliance
from appliance.clock import FixedClock
from appliance.conversations.chat import Visitor
from appliance.retention.service import Actor
from appliance.services import Services, build_scheduler, build_services
from appliance.storage.layout import Layout
from server.app import create_app
from tests.server.api.permission_routes import (
    CALLERS,
    ENDPOINT_ACTION,
    LOGIN,
    MEMBER_ROLES,
    OPERATOR_ROUTES,
    OTHER_ROUTES,
    PANEL_VERIFIER,
    PASSWORD,
    PLACEHOLDER,
    PUBLIC,
    WORKSPACE_ROUTES,
    Route,
)


@dataclass
class World:
    """One appliance, app and set of logged-in users for the module; fresh workspaces and targets are cheap."""

    services: Services
    app: Flask
    clock: FixedClock
    outsiders_workspace: str = ""
    users: dict[str, User] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    serial: itertools.count = field(default_factory=itertools.count)

    def mailed_token(self, email: str) -> str:
        """The token in the link of the newest mail to `email`, as its recipient would follow it."""
        row = self.services.appliance.control_db.query_one(
            "SELECT body FROM outbox WHERE recipient = ? ORDER BY id DESC LIMIT 1", (email,))
        return unquote(re.search(r"token=(\S+)", row["body"])[1])

    def new_email(self, label: str) -> str:
        return f"{label}-{next(self.serial)}@example.com"

    def new_pending_user(self, label: str) -> tuple[str, str]:
        """An account as an invitee gets one: pending until the mailed verification link is used. Id and email."""
        email = self.new_email(label)
        with self.services.appliance.control_db.transaction() as conn:
            return self.services.users.create_pending(conn, email=email, password=PASSWORD), email

    def new_user(self, label: str = "user") -> User:
        user_id, email = self.new_pending_user(label)
        self.services.users.verify_email(self.mailed_token(email), client_address=None)
        return self.services.users.get(user_id)

    def log_in(self, user: User) -> tuple[str, str]:
        response = self.app.test_client().post("/api/v1/auth/login", json={"email": user.email, "password": PASSWORD})
        assert response.status_code == 200, response.get_json()
        return response.get_json()["token"], response.get_json()["session"]["id"]

    def new_workspace(self, owner: User, members: dict[str, User]) -> str:
        workspace = self.services.workspaces.create(name="W", owner_id=owner.id, actor_id=owner.id,
                                                    client_address=None)
        with self.services.appliance.control_db.transaction() as conn:
            for role, user in members.items():
                self.services.workspaces.add_member(conn, workspace_id=workspace.id, user_id=user.id, role=role)
        return workspace.id

    def new_member(self, workspace_id: str, role: str = "viewer") -> str:
        user = self.new_user(role)
        with self.services.appliance.control_db.transaction() as conn:
            self.services.workspaces.add_member(conn, workspace_id=workspace_id, user_id=user.id, role=role)
        return user.id

    def new_invitation(self, workspace_id: str, *, role: str = "viewer") -> tuple[str, str]:
        """An open invitation by the workspace's owner: its id and the token mailed to the invitee."""
        email = self.new_email("invitee")
        owner_id = self.services.workspaces.get(workspace_id).owner_id
        invitation, _ = self.services.invitations.invite(workspace_id, email=email, role=role, inviter_id=owner_id,
                                                         inviter_role="owner", client_address=None)
        return invitation.id, self.mailed_token(email)

    def totp_code(self, user_id: str) -> str:
        """Start an enrolment as the authenticator app would see it, and read the current code off it."""
        secret = self.services.auth.start_enrolment(self.services.users.get(user_id), password=PASSWORD,
                                                    client_address=None).secret
        key = base64.b32decode(secret + "=" * (-len(secret) % 8))
        return totp.code_at(key, totp.step_of(self.clock.now()))

    def reset_token(self) -> str:
        user = self.new_user("forgetful")
        self.services.auth.request_reset(email=user.email, client_address=None)
        return self.mailed_token(user.email)

    def new_conversation(self, workspace_id: str) -> str:
        """A conversation someone had with a fresh agent through the API."""
        agent = self.services.agents.of(workspace_id).create({"name": "Helper"})
        return self.services.conversations.chat(workspace_id).ask(agent, "When is lunch?").conversation_id

    def new_lead(self, workspace_id: str) -> str:
        """A lead a widget visitor left with a fresh agent, consenting to the agent's text."""
        agent = self.services.agents.of(workspace_id).create({"name": "Helper"})
        lead = self.services.conversations.leads(workspace_id).submit(
            agent, conversation_id=uuid.uuid4().hex, visitor=Visitor("visitor-1", "https://example.com"),
            fields={"email": "visitor@example.com"}, consent=True, consent_version=agent.consent_version)
        return lead.id

    def new_cancelled_workspace(self) -> str:
        """A workspace of the outsider's, cancelled by them, its purge not yet due."""
        workspace_id = self.new_workspace(self.users["outsider"], {})
        self.services.cancellation.cancel(workspace_id, actor=Actor("user", self.users["outsider"].id))
        return workspace_id

    def call(self, caller: str, method: str, path: str, body: dict | None = None):
        """Send as one of the module's callers; "anonymous" has no token."""
        return self.send(self.tokens.get(caller), method, path, body)

    def send(self, token: str | None, method: str, path: str, body: dict | None = None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.app.test_client().open(path, method=method, json=body, headers=headers)

    def endpoint_of(self, method: str, path: str) -> str:
        return self.app.url_map.bind("appliance.test").match(path.partition("?")[0], method=method)[0]


# How each placeholder is filled: from what the test already knows, else made fresh for this one request.
MAKERS = {
    "member": lambda world, known: world.new_member(known["w"]),
    "peer": lambda world, known: world.new_member(known["w"], role="admin"),
    "owner": lambda world, known: world.users["owner"].id,
    "invitation": lambda world, known: world.new_invitation(known["w"])[0],
    "user": lambda world, known: world.new_user().id,
    "user_session": lambda world, known: world.log_in(world.services.users.get(known["user"]))[1],
    "email": lambda world, known: world.new_user().email,
    "totp_code": lambda world, known: world.totp_code(known["me"]),
    "verify_token": lambda world, known: world.mailed_token(world.new_pending_user("pending")[1]),
    "reset_token": lambda world, known: world.reset_token(),
    "invitation_token": lambda world, known: world.new_invitation(world.outsiders_workspace)[1],
    "api_key": lambda world, known: world.services.api_keys.create(
        known["w"], name="Key", scopes=["chat"], actor_id=world.users["owner"].id, client_address=None)[1].id,
    "agent": lambda world, known: world.services.agents.of(known["w"]).create({"name": "Helper"}).id,
    "qa_source": lambda world, known: world.services.knowledge.sources(known["w"]).add_qa(
        title="FAQ", pairs=[("Where is parking?", "Behind building B.")]).id,
    "source": lambda world, known: world.services.knowledge.sources(known["w"]).add_text(
        title="Lunch", text="Lunch is at noon.").id,
    "conversation": lambda world, known: world.new_conversation(known["w"]),
    "lead": lambda world, known: world.new_lead(known["w"]),
    "cancelled": lambda world, known: world.new_cancelled_workspace(),
    "backup": lambda world, known: world.services.backups.create().id,
    "panel_code": lambda world, known: world.services.sso.hand_off(
        world.log_in(world.new_user("panel"))[0], create_s256_code_challenge(PANEL_VERIFIER)),
    "sso_provider": lambda world, known: world.services.sso_providers.create(
        {"name": "Corp", "issuer": "https://idp.example.com", "client_id": "chatspark", "client_secret": "s3cret"},
        actor_id=world.users["owner"].id, client_address=None).id,
    # A directory nobody listens for (port 1 on loopback): testing its connection answers at once that it failed.
    "ldap_directory": lambda world, known: world.services.sso_providers.create(
        {"kind": "ldap", "name": "Directory", "url": "ldaps://127.0.0.1:1", "user_base": "ou=people,dc=example"},
        actor_id=world.users["owner"].id, client_address=None).id,
    "metrics_token": lambda world, known: world.services.metrics_tokens.create(
        name="Prometheus", actor_id=world.users["owner"].id, client_address=None)[1].id,
}


def prepare(world: World, route: Route, **known: str) -> tuple[str, str, dict | None]:
    def fill(match: re.Match) -> str:
        if match[1] not in known:
            known[match[1]] = MAKERS[match[1]](world, known)
        return known[match[1]]

    def filled(value: object) -> object:
        if isinstance(value, str):
            return PLACEHOLDER.sub(fill, value)
        return [filled(item) for item in value] if isinstance(value, list) else value

    path = PLACEHOLDER.sub(fill, route.path)
    body = None if route.body is None else {name: filled(value) for name, value in route.body.items()}
    return route.method, path, body


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = tmp_path_factory.mktemp("permissions")
    clock = FixedClock(dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.timezone.utc))
    layout = Layout.of(base / "data", base / "keys")
    initialise(layout, clock=clock)
    appliance = open_appliance(layout, clock=clock)
    settings = settings_module.load(environ={}).replace(argon2_time_cost=1, argon2_memory_kib=1024,
                                                        argon2_parallelism=1, public_requests_per_minute=100_000,
                                                        failed_credentials_per_minute=100_000)
    services = build_services(appliance, settings)
    scheduler = build_scheduler(services)
    scheduler.start()
    world = World(services, create_app(services, settings=settings, scheduler=scheduler), clock)
    world.users = {name: world.new_user(name) for name in (*MEMBER_ROLES, "outsider")}
    world.users["operator"] = services.users.create_operator(email="operator@example.com", password=PASSWORD)
    world.outsiders_workspace = world.new_workspace(world.users["outsider"], {})
    world.tokens = {name: world.log_in(user)[0] for name, user in world.users.items()}
    yield world
    scheduler.shutdown(wait=True)
    appliance.close()


@pytest.fixture
def workspace_id(world) -> str:
    """A fresh W with owner, admin, editor and viewer, so a transfer or a departure cannot leak into the next test."""
    return world.new_workspace(world.users["owner"], {role: world.users[role] for role in MEMBER_ROLES[1:]})


def expected_status(caller: str, route: Route) -> int:
    if caller == "anonymous":
        return 401
    if caller not in MEMBER_ROLES:
        return 404
    return route.status if permissions.outranks_or_equals(caller, WORKSPACE_PERMISSIONS[route.access]) else 403


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("endpoint", WORKSPACE_ROUTES)
def test_workspace_endpoint_allows_exactly_the_roles_its_action_names(world, workspace_id, endpoint, caller):
    method, path, body = prepare(world, WORKSPACE_ROUTES[endpoint], w=workspace_id)
    assert world.endpoint_of(method, path) == endpoint

    response = world.call(caller, method, path, body)

    assert response.status_code == expected_status(caller, WORKSPACE_ROUTES[endpoint]), response.get_json()
    if response.status_code == 404:  # non-members see exactly what they would for a workspace that does not exist
        ghost = "0" * len(workspace_id)
        missing = world.call(caller, method, path.replace(workspace_id, ghost), body)
        assert response.get_data(as_text=True).replace(workspace_id, ghost) == missing.get_data(as_text=True)


@pytest.mark.parametrize(("caller", "status"), [("admin", 200), ("editor", 200), ("viewer", 200),
                                                ("owner", 409),  # the owner must transfer ownership first
                                                ("outsider", 404), ("operator", 404)])
def test_every_member_may_leave_a_workspace_but_the_owner(world, workspace_id, caller, status):
    own_id = world.users[caller].id

    response = world.call(caller, "DELETE", f"/api/v1/workspaces/{workspace_id}/members/{own_id}")

    assert response.status_code == status, response.get_json()
    assert (world.services.workspaces.role_of(workspace_id, own_id) is not None) == (caller == "owner")


@pytest.mark.parametrize(("actor", "method", "path", "body", "status"), [
    pytest.param("admin", "PATCH", "/members/{peer}", {"role": "viewer"}, 200, id="admin-changes-an-admin"),
    pytest.param("admin", "DELETE", "/members/{peer}", None, 200, id="admin-removes-an-admin"),
    pytest.param("admin", "PATCH", "/members/{member}", {"role": "owner"}, 400, id="no-role-change-makes-an-owner"),
    # The owner outranks admins; ownership changes only by a transfer, so these are refused as conflicts.
    pytest.param("admin", "PATCH", "/members/{owner}", {"role": "viewer"}, 409, id="admin-cannot-demote-the-owner"),
    pytest.param("admin", "DELETE", "/members/{owner}", None, 409, id="admin-cannot-remove-the-owner"),
    pytest.param("admin", "POST", "/invitations", {"email": "boss@example.com", "role": "owner"}, 400,
                 id="nobody-is-invited-as-owner"),
    pytest.param("owner", "PATCH", "/members/{peer}", {"role": "viewer"}, 200, id="owner-changes-an-admin"),
])
def test_members_are_managed_only_at_or_below_the_actors_rank(world, workspace_id, actor, method, path, body, status):
    route = Route("members.manage", method, "/api/v1/workspaces/{w}" + path, body)
    response = world.call(actor, *prepare(world, route, w=workspace_id))

    assert response.status_code == status, response.get_json()
    assert world.services.workspaces.role_of(workspace_id, world.users["owner"].id) == "owner"


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("route", [pytest.param(r, id=r.method + " " + r.path) for r in OPERATOR_ROUTES])
def test_operator_routes_refuse_everyone_else(world, route, caller):
    method, path, body = prepare(world, route)

    response = world.call(caller, method, path, body)

    expected = {"anonymous": 401, "operator": route.status}.get(caller, 403)
    assert response.status_code == expected, response.get_json()


@pytest.mark.parametrize("route", [pytest.param(r, id=r.method + " " + r.path)
                                   for r in OTHER_ROUTES if r.access == LOGIN])
def test_account_routes_need_a_login_and_nothing_more(world, route):
    me = world.new_user("member-of-nothing")
    token, session_id = world.log_in(me)
    method, path, body = prepare(world, route, me=me.id, own_session=session_id)

    assert world.send(None, method, path, body).status_code == 401
    response = world.send(token, method, path, body)
    assert response.status_code == route.status, response.get_json()


@pytest.mark.parametrize("route", [pytest.param(r, id=r.method + " " + r.path)
                                   for r in OTHER_ROUTES if r.access == PUBLIC])
def test_public_routes_work_without_a_login(world, route):
    response = world.send(None, *prepare(world, route))

    assert response.status_code == route.status, response.get_json()


def test_every_api_route_and_method_is_in_a_table_of_this_module(world):
    served = {(rule.endpoint, method) for rule in world.app.url_map.iter_rules() if rule.rule.startswith("/api/v1/")
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    in_workspace = {rule.endpoint for rule in world.app.url_map.iter_rules()
                    if rule.rule.startswith("/api/v1/workspaces/<workspace_id>")}
    tabled = {(endpoint, route.method) for endpoint, route in WORKSPACE_ROUTES.items()}
    tabled |= {(route.endpoint, route.method) for route in OTHER_ROUTES}

    assert served == tabled
    assert in_workspace == set(WORKSPACE_ROUTES)
    assert all(world.endpoint_of(r.method, r.path) == r.endpoint for r in OTHER_ROUTES)


def test_the_permissions_document_is_generated_from_the_tables():
    document = Path(__file__).resolve().parents[3] / "docs" / "permissions.md"

    assert document.read_text(encoding="utf-8") == permissions.markdown()


def test_every_workspace_action_guards_an_endpoint():
    assert set(ENDPOINT_ACTION.values()) == set(WORKSPACE_PERMISSIONS)


def test_every_operator_route_is_an_action_in_the_permissions_table():
    assert {route.access for route in OPERATOR_ROUTES} == set(OPERATOR_PERMISSIONS)
