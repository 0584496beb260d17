"""Invitations over the real control database: mailed links that work once, expire, can be revoked or resent, are
bound to the invited address, never grant more than the inviter holds, and are stored only as hashes."""

from __future__ import annotations

import hashlib

import pytest

from appliance.errors import Conflict, EmailNotVerified, InvalidToken, PermissionDenied, ValidationError
from tests.appliance.mail.queued_mail import last_mail_to, mails_to, token_in

PASSWORD = "violet anchor drizzle 42"
OWNER, NEWCOMER, BOB, CAROL = "owen@example.com", "nina@example.com", "bob@example.com", "carol@example.com"
HOME = "192.0.2.10"


def invitation_token(services, address: str = NEWCOMER) -> str:
    return token_in(last_mail_to(services, address)["body"], "/invitations/accept")


def verified_user(services, email: str) -> str:
    """An account that has confirmed its address through the mailed link, as an invitee's would."""
    with services.appliance.control_db.transaction() as conn:
        user_id = services.users.create_pending(conn, email=email, password=PASSWORD)
    services.users.verify_email(token_in(last_mail_to(services, email)["body"], "/account/verify"),
                                client_address=HOME)
    return user_id


@pytest.fixture
def workspace(services):
    """A workspace owned by OWNER, made by an operator."""
    operator = services.users.create_operator(email="olga@example.com", password=PASSWORD)
    return services.workspaces.create(name="Research", owner_id=verified_user(services, OWNER),
                                      actor_id=operator.id, client_address=HOME)


def invite(services, workspace, email: str = NEWCOMER, role: str = "editor", *, inviter_role: str = "owner"):
    invitation, _ = services.invitations.invite(workspace.id, email=email, role=role, inviter_id=workspace.owner_id,
                                                inviter_role=inviter_role, client_address=HOME)
    return invitation


def accept(services, token: str, *, password: str = PASSWORD, signed_in_user_id: str | None = None,
           display_name: str = ""):
    return services.invitations.accept(token, password=password, display_name=display_name,
                                       signed_in_user_id=signed_in_user_id, client_address=HOME)


def test_an_invitation_mails_a_link_to_the_invited_address(services, workspace):
    invitation = invite(services, workspace)

    mail = last_mail_to(services, NEWCOMER)
    assert mail["subject"] == "You are invited to Research on ChatSpark"
    assert "https://localhost:8443/invitations/accept?token=" in mail["body"]
    assert services.invitations.lookup(invitation_token(services)) == invitation
    assert (invitation.email, invitation.role, invitation.invited_by) == (NEWCOMER, "editor", workspace.owner_id)


def test_accepting_with_a_password_makes_a_pending_member_who_must_verify_by_mail(services, workspace):
    invitation = invite(services, workspace)

    acceptance = accept(services, invitation_token(services), display_name="Nina")

    user = services.users.get(acceptance.user_id)
    assert (acceptance.invitation.id, acceptance.new_account) == (invitation.id, True)
    assert acceptance.invitation.accepted_at is not None
    assert (user.email, user.display_name, user.status, user.email_verified) == (NEWCOMER, "Nina", "pending", False)
    assert services.workspaces.role_of(workspace.id, user.id) == "editor"
    with pytest.raises(EmailNotVerified):
        services.auth.login(email=NEWCOMER, password=PASSWORD, client_address=HOME)
    services.users.verify_email(token_in(last_mail_to(services, NEWCOMER)["body"], "/account/verify"),
                                client_address=HOME)
    assert services.auth.login(email=NEWCOMER, password=PASSWORD, client_address=HOME).user.id == user.id
    assert [e.action for e in services.audit.events(workspace_id=workspace.id, action="invitation")] == [
        "invitation.create", "invitation.accept"]


def test_an_invitation_is_accepted_only_once(services, workspace):
    invite(services, workspace)
    token = invitation_token(services)
    accept(services, token)

    with pytest.raises(InvalidToken):
        accept(services, token)
    with pytest.raises(InvalidToken):
        services.invitations.lookup(token)


def test_a_weak_password_leaves_the_invitation_open(services, workspace):
    invite(services, workspace)
    token = invitation_token(services)

    with pytest.raises(ValidationError):
        accept(services, token, password="nina-rocks-the-house")

    assert services.users.find_by_email(NEWCOMER) is None
    assert accept(services, token).new_account


@pytest.mark.parametrize(("minutes_early", "valid"), [(1, True), (0, False)])
def test_an_invitation_expires_after_invitation_hours(services, workspace, settings, clock, minutes_early, valid):
    invite(services, workspace)
    clock.advance(hours=settings.invitation_hours, minutes=-minutes_early)

    if valid:
        assert accept(services, invitation_token(services)).new_account
    else:
        with pytest.raises(InvalidToken):
            accept(services, invitation_token(services))
        assert services.users.find_by_email(NEWCOMER) is None


def test_a_revoked_invitation_cannot_be_accepted(services, workspace):
    invitation = invite(services, workspace)

    services.invitations.revoke(workspace.id, invitation.id, actor_id=workspace.owner_id, client_address=HOME)

    with pytest.raises(InvalidToken):
        accept(services, invitation_token(services))
    assert [member.email for member in services.workspaces.members(workspace.id)] == [OWNER]


def test_resending_revokes_the_old_link_and_mails_a_new_one(services, workspace):
    old = invite(services, workspace)
    old_token = invitation_token(services)

    new, _ = services.invitations.resend(workspace.id, old.id, actor_id=workspace.owner_id, actor_role="owner",
                                         client_address=HOME)

    assert len(mails_to(services, NEWCOMER)) == 2
    new_token = invitation_token(services)
    assert new_token != old_token and new.id != old.id
    assert services.invitations.get(workspace.id, old.id).revoked_at is not None
    with pytest.raises(InvalidToken):
        accept(services, old_token)
    assert accept(services, new_token).invitation.id == new.id


def test_an_existing_account_accepts_only_while_signed_in_as_itself(services, workspace):
    bob, carol = verified_user(services, BOB), verified_user(services, CAROL)
    invite(services, workspace, BOB, "viewer")
    token = invitation_token(services, BOB)

    with pytest.raises(PermissionDenied, match="log in"):
        accept(services, token)
    with pytest.raises(PermissionDenied):
        accept(services, token, signed_in_user_id=carol)
    assert services.workspaces.role_of(workspace.id, bob) is None

    signed_in = services.auth.login(email=BOB, password=PASSWORD, client_address=HOME).session.user_id
    acceptance = accept(services, token, signed_in_user_id=signed_in)
    assert (acceptance.user_id, acceptance.new_account) == (bob, False)
    assert services.workspaces.role_of(workspace.id, bob) == "viewer"


def test_a_new_address_cannot_be_accepted_by_someone_signed_in(services, workspace):
    carol = verified_user(services, CAROL)
    invite(services, workspace)

    with pytest.raises(PermissionDenied):
        accept(services, invitation_token(services), signed_in_user_id=carol)
    assert services.workspaces.role_of(workspace.id, carol) is None


@pytest.mark.parametrize(("inviter_role", "role", "error"), [
    ("admin", "owner", ValidationError),
    ("owner", "owner", ValidationError),
    ("editor", "admin", PermissionDenied),
])
def test_nobody_invites_an_owner_or_above_their_own_role(services, workspace, inviter_role, role, error):
    with pytest.raises(error):
        invite(services, workspace, role=role, inviter_role=inviter_role)

    assert mails_to(services, NEWCOMER) == []
    assert services.invitations.list(workspace.id) == []


def test_inviting_someone_who_is_already_a_member_is_a_conflict(services, workspace):
    with pytest.raises(Conflict, match="already a member"):
        invite(services, workspace, OWNER.upper())

    assert services.invitations.list(workspace.id) == []


def test_only_the_hash_of_an_invitation_token_is_stored(services, workspace):
    invitation = invite(services, workspace)
    token = invitation_token(services).encode()

    row = services.appliance.control_db.query_one("SELECT * FROM invitations WHERE id = ?", (invitation.id,))
    assert bytes(row["token_hash"]) == hashlib.sha256(token).digest()
    assert not [value for value in tuple(row) if token in (value if isinstance(value, bytes) else str(value).encode())]


@pytest.mark.parametrize("email", ["jürgen@example.com", "nina@exämple.com", "ni\u202ena@example.com",
                                   "ni\u200bna@example.com"])
def test_an_invitation_to_an_address_mail_cannot_carry_is_refused_before_anything_is_stored(services, workspace,
                                                                                            email):
    with pytest.raises(ValidationError, match="address") as raised:
        invite(services, workspace, email)

    assert not str(raised.value).startswith("to ")
    assert services.invitations.list(workspace.id) == []
    assert services.appliance.control_db.query_one("SELECT count(*) FROM outbox WHERE recipient = ?",
                                                   (email,))[0] == 0


def test_a_new_account_password_may_not_be_made_of_the_workspaces_name(services, workspace):
    invite(services, workspace)

    with pytest.raises(ValidationError, match="workspace's name"):
        accept(services, invitation_token(services), password="research 2024 research")

    accept(services, invitation_token(services))
    assert services.users.find_by_email(NEWCOMER) is not None
