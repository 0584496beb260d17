"""API keys answer to the member who holds them, through the API: whoever loses the power to hold keys (removed,
demoted, disabled, leaving, or after handing over ownership) takes their keys along, revoked or handed to another
member who may hold them, and the answer and the audit log say which."""

from __future__ import annotations

import pytest

from appliance.errors import PermissionDenied
from appliance.services import build_scheduler
from server.app import create_app
from tests.appliance.mail.queued_mail import last_mail_to, token_in

PASSWORD = "violet anchor drizzle 42"


class World:
    """An operator who owns Acme and Beta, admins Ann and Ben and editor Eve in Acme, each signed in."""

    def __init__(self, services, client) -> None:
        self.services, self.client = services, client
        self.users, self.tokens = {}, {}
        self.users["owner"] = services.users.create_operator(email="olga@example.com", password=PASSWORD)
        self.acme = services.workspaces.create(name="Acme", owner_id=self.users["owner"].id,
                                               actor_id=self.users["owner"].id, client_address=None).id
        self.beta = services.workspaces.create(name="Beta", owner_id=self.users["owner"].id,
                                               actor_id=self.users["owner"].id, client_address=None).id
        for name, role in (("ann", "admin"), ("ben", "admin"), ("eve", "editor")):
            self.join(name, role)
        self.tokens["owner"] = self.log_in("olga@example.com")

    def join(self, name: str, role: str, workspace: str | None = None) -> None:
        """`name` accepts an invitation to `workspace` (Acme) as `role`, through the API."""
        workspace = workspace or self.acme
        owner = self.users["owner"]
        email = f"{name}@example.com"
        self.services.invitations.invite(workspace, email=email, role=role, inviter_id=owner.id,
                                         inviter_role="owner", client_address=None)
        token = token_in(last_mail_to(self.services, email)["body"], "/invitations/accept")
        signed_in = self.tokens.get(name)
        body = {"token": token} if signed_in else {"token": token, "password": PASSWORD}
        headers = {"Authorization": f"Bearer {signed_in}"} if signed_in else {}
        response = self.client.post("/api/v1/invitations/accept", json=body, headers=headers)
        assert response.status_code == 200, response.get_json()
        if not signed_in:
            verify = token_in(last_mail_to(self.services, email)["body"], "/account/verify")
            assert self.client.post("/api/v1/auth/verify-email", json={"token": verify}).status_code == 200
            self.users[name] = self.services.users.find_by_email(email)
            self.tokens[name] = self.log_in(email)

    def log_in(self, email: str) -> str:
        response = self.client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert response.status_code == 200, response.get_json()
        return response.get_json()["token"]

    def call(self, who: str, method: str, path: str, **kwargs):
        return self.client.open(f"/api/v1{path}", method=method,
                                headers={"Authorization": f"Bearer {self.tokens[who]}"}, **kwargs)

    def new_key(self, who: str, name: str, workspace: str | None = None) -> dict:
        """A never-expiring key `who` creates through the API that reads and exports every lead."""
        response = self.call(who, "POST", f"/workspaces/{workspace or self.acme}/api-keys",
                             json={"name": name, "scopes": ["leads:read", "export"], "expires_in_days": "never"})
        assert response.status_code == 201, response.get_json()
        return {"id": response.get_json()["api_key"]["id"], "key": response.get_json()["key"], "name": name,
                "workspace": workspace or self.acme}

    def works(self, key: dict) -> bool:
        response = self.client.get(f"/api/v1/workspaces/{key['workspace']}/leads/export",
                                   headers={"Authorization": f"Bearer {key['key']}"})
        assert response.status_code in (200, 401), response.get_json()
        return response.status_code == 200

    def holder(self, key: dict) -> str | None:
        response = self.call("owner", "GET", f"/workspaces/{key['workspace']}/api-keys")
        return {k["id"]: k["created_by"] for k in response.get_json()["api_keys"]}[key["id"]]

    def audit(self, action: str) -> list[dict]:
        response = self.call("owner", "GET", f"/workspaces/{self.acme}/audit?action={action}")
        assert response.status_code == 200, response.get_json()
        return response.get_json()["events"]


@pytest.fixture
def world(services, settings):
    scheduler = build_scheduler(services)
    scheduler.start()
    client = create_app(services, settings=settings, scheduler=scheduler).test_client()
    yield World(services, client)
    scheduler.shutdown(wait=True)
    services.knowledge.close()


def settled(keys: list[dict], outcome: str, to: str | None = None) -> list[dict]:
    return by_id([{"id": k["id"], "name": k["name"], "outcome": outcome, "to": to} for k in keys])


def by_id(items: list[dict]) -> list[dict]:
    return sorted(items, key=lambda item: item["id"])


def test_removing_a_member_revokes_the_keys_they_created_and_says_which(world):
    keys = [world.new_key("ann", "CRM export"), world.new_key("ann", "Nightly sync")]
    bens = world.new_key("ben", "Ben's key")
    assert all(world.works(k) for k in (*keys, bens))

    response = world.call("owner", "DELETE", f"/workspaces/{world.acme}/members/{world.users['ann'].id}")

    assert response.status_code == 200, response.get_json()
    assert by_id(response.get_json()["api_keys"]) == settled(keys, "revoked")
    assert "2 API key(s) they held were revoked" in response.get_json()["message"]
    assert not any(world.works(k) for k in keys)
    assert world.works(bens)
    revoked = world.audit("api_key.revoke")
    assert sorted(e["target_id"] for e in revoked) == sorted(k["id"] for k in keys)
    assert {e["details"]["reason"] for e in revoked} == {"member.remove"}
    (removal,) = world.audit("member.remove")
    assert by_id(removal["details"]["key_settlements"]) == settled(keys, "revoked")


def test_removing_a_member_can_hand_their_keys_to_another_admin(world):
    key = world.new_key("ann", "CRM export")
    ben = world.users["ben"].id

    response = world.call("owner", "DELETE",
                          f"/workspaces/{world.acme}/members/{world.users['ann'].id}?hand_api_keys_to={ben}")

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["api_keys"] == settled([key], "handed_over", ben)
    assert world.works(key) and world.holder(key) == ben
    (handed,) = world.audit("api_key.hand_over")
    assert handed["target_id"] == key["id"]
    assert handed["details"] == {"reason": "member.remove", "from": world.users["ann"].id, "to": ben}
    # Ben now answers for it: when he goes, it goes.
    world.call("owner", "DELETE", f"/workspaces/{world.acme}/members/{ben}")
    assert not world.works(key)


@pytest.mark.parametrize(("to", "status"), [("eve", 409), ("owner-of-nothing", 409), ("ann", 400)])
def test_keys_are_handed_only_to_someone_who_may_hold_them_and_a_refusal_changes_nothing(world, to, status):
    key = world.new_key("ann", "CRM export")
    target = world.users[to].id if to in world.users else "no-such-user"

    response = world.call("owner", "DELETE",
                          f"/workspaces/{world.acme}/members/{world.users['ann'].id}?hand_api_keys_to={target}")

    assert response.status_code == status, response.get_json()
    assert "hand" in response.get_json()["message"] or "handed" in response.get_json()["message"]
    assert world.services.workspaces.role_of(world.acme, world.users["ann"].id) == "admin"
    assert world.works(key) and world.holder(key) == world.users["ann"].id


@pytest.mark.parametrize("role", ["editor", "viewer"])
def test_demoting_a_member_below_the_keys_role_revokes_their_keys(world, role):
    key = world.new_key("ann", "CRM export")

    response = world.call("owner", "PATCH", f"/workspaces/{world.acme}/members/{world.users['ann'].id}",
                          json={"role": role})

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["role"] == role
    assert response.get_json()["api_keys"] == settled([key], "revoked")
    assert not world.works(key)
    (change,) = world.audit("member.role_change")
    assert change["details"]["key_settlements"] == settled([key], "revoked")


def test_demoting_a_member_can_hand_their_keys_over_instead(world):
    key = world.new_key("ann", "CRM export")
    ben = world.users["ben"].id

    response = world.call("owner", "PATCH", f"/workspaces/{world.acme}/members/{world.users['ann'].id}",
                          json={"role": "viewer", "hand_api_keys_to": ben})

    assert response.get_json()["api_keys"] == settled([key], "handed_over", ben)
    assert world.works(key) and world.holder(key) == ben


def test_a_role_that_may_still_hold_keys_keeps_them(world):
    key = world.new_key("ben", "Ben's key")
    world.call("owner", "PATCH", f"/workspaces/{world.acme}/members/{world.users['ben'].id}",
               json={"role": "viewer"})
    other = world.new_key("ann", "Ann's key")

    response = world.call("owner", "PATCH", f"/workspaces/{world.acme}/members/{world.users['ann'].id}",
                          json={"role": "admin"})

    assert response.status_code == 200 and response.get_json()["api_keys"] == []
    assert world.works(other) and not world.works(key)


def test_disabling_an_account_revokes_its_keys_in_every_workspace_for_good(world):
    world.join("ann", "admin", world.beta)
    keys = [world.new_key("ann", "Acme export"), world.new_key("ann", "Beta export", world.beta)]

    response = world.call("owner", "POST", f"/users/{world.users['ann'].id}/disable")

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["user"]["status"] == "disabled"
    assert by_id(response.get_json()["api_keys"]) == settled(keys, "revoked")
    assert not any(world.works(k) for k in keys)
    (disabling,) = [e for e in world.call("owner", "GET", "/audit?action=user.disable").get_json()["events"]]
    assert len(disabling["details"]["key_settlements"]) == 2

    assert world.call("owner", "POST", f"/users/{world.users['ann'].id}/enable").status_code == 200
    assert not any(world.works(k) for k in keys), "enabling the account does not bring its keys back"


def test_disabling_hands_keys_over_only_to_someone_who_may_hold_them_in_every_workspace(world):
    world.join("ann", "admin", world.beta)
    keys = [world.new_key("ann", "Acme export"), world.new_key("ann", "Beta export", world.beta)]
    ben = world.users["ben"].id  # an admin of Acme, not a member of Beta

    refused = world.call("owner", "POST", f"/users/{world.users['ann'].id}/disable?hand_api_keys_to={ben}")

    assert refused.status_code == 409 and world.beta in refused.get_json()["message"]
    assert world.services.users.get(world.users["ann"].id).status == "active"
    assert all(world.works(k) for k in keys)

    world.join("ben", "admin", world.beta)
    response = world.call("owner", "POST", f"/users/{world.users['ann'].id}/disable?hand_api_keys_to={ben}")
    assert response.status_code == 200
    assert {k["outcome"] for k in response.get_json()["api_keys"]} == {"handed_over"}
    assert all(world.works(k) and world.holder(k) == ben for k in keys)


def test_a_member_who_leaves_takes_their_keys_along(world):
    world.join("ivy", "admin")
    key = world.new_key("ivy", "Ivy's sync")

    response = world.call("ivy", "DELETE", f"/workspaces/{world.acme}/members/{world.users['ivy'].id}")

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["api_keys"] == settled([key], "revoked")
    assert "You left the workspace" in response.get_json()["message"]
    assert not world.works(key)


def test_a_member_who_leaves_may_hand_their_keys_to_an_admin(world):
    key = world.new_key("ann", "CRM export")
    ben = world.users["ben"].id

    response = world.call("ann", "DELETE",
                          f"/workspaces/{world.acme}/members/{world.users['ann'].id}?hand_api_keys_to={ben}")

    assert response.get_json()["api_keys"] == settled([key], "handed_over", ben)
    assert world.works(key)


def test_an_owner_who_hands_over_ownership_keeps_keys_only_while_an_admin(world):
    key = world.new_key("owner", "Owner's export")
    ann = world.users["ann"].id

    response = world.call("owner", "POST", f"/workspaces/{world.acme}/transfer", json={"user_id": ann})

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["workspace"]["role"] == "admin" and response.get_json()["api_keys"] == []
    assert world.works(key), "an admin may still hold keys"
    demoted = world.call("ann", "PATCH", f"/workspaces/{world.acme}/members/{world.users['owner'].id}",
                         json={"role": "editor"})
    assert demoted.get_json()["api_keys"] == settled([key], "revoked")
    assert not world.works(key)


def test_a_key_never_works_for_a_holder_who_lost_the_role_some_other_way(world):
    key = world.new_key("ann", "CRM export")
    with world.services.appliance.control_db.transaction() as conn:
        # As a restore, a hand edit or a future path that forgot to settle the keys would leave it.
        conn.execute("UPDATE memberships SET role = 'viewer' WHERE user_id = ?", (world.users["ann"].id,))

    assert not world.works(key)
    refused = world.call("owner", "GET", "/audit?action=api_key.refused").get_json()["events"]
    assert refused[-1]["details"] == {"reason": "its holder may no longer hold keys"}


def test_only_a_member_who_may_hold_keys_can_have_one_made_for_them(world):
    response = world.call("eve", "POST", f"/workspaces/{world.acme}/api-keys", json={"name": "x", "scopes": ["chat"]})
    assert response.status_code == 403

    with pytest.raises(PermissionDenied, match="answer to the member who creates them"):
        world.services.api_keys.create(world.acme, name="Sneaky", scopes=["chat"], actor_id=world.users["eve"].id,
                                       client_address=None)
