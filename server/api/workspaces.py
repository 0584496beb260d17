"""Workspaces, their members, invitations and audit trail, each checked against the caller's role."""

from __future__ import annotations

from flask import Blueprint, g, jsonify, request

from appliance.accounts import permissions
from appliance.accounts.users import check_email
from appliance.errors import PermissionDenied, ValidationError
from server.api.audit import audit_response
from server.api.pagination import page
from server.api.payload import body, text
from server.auth import client_address, current_session, login_required, operator_required, services, workspace_role

blueprint = Blueprint("workspaces", __name__)


def workspace_json(workspace, role: str | None = None) -> dict:
    """`role` is the caller's (None when an operator lists every workspace); the hold is shown as
    Workspace.public says."""
    operator = g.user is not None and g.user.is_operator
    data = workspace.public(with_hold=operator or (role is not None and "retention.read" in permissions.allowed(role)))
    if role is not None:
        data["role"] = role
    return data


@blueprint.get("/workspaces")
@login_required
def list_workspaces():
    svc = services()
    if request.args.get("all") in ("1", "true"):
        if not g.user.is_operator:
            raise PermissionDenied("only appliance operators may list every workspace")
        workspaces, next_after = page(svc.workspaces.list_all(), key=lambda w: w.id)
        return jsonify(workspaces=[workspace_json(w) for w in workspaces], next_after=next_after)
    mine, next_after = page(svc.workspaces.list_for_user(g.user.id), key=lambda pair: pair[0].id)
    return jsonify(workspaces=[workspace_json(w, role) for w, role in mine], next_after=next_after)


@blueprint.post("/workspaces")
@operator_required
def create_workspace():
    data = body()
    svc = services()
    owner_email = text(data, "owner_email", required=False)
    owner = svc.users.find_by_email(check_email(owner_email, field="owner_email")) if owner_email else g.user
    if owner is None:
        raise ValidationError("'owner_email': no account uses that address; create or invite it first")
    workspace = svc.workspaces.create(name=text(data, "name"), owner_id=owner.id, actor_id=g.user.id,
                                      client_address=client_address())
    return jsonify(workspace=workspace_json(workspace)), 201


@blueprint.get("/workspaces/<workspace_id>")
def get_workspace(workspace_id: str):
    role = workspace_role(workspace_id, "workspace.read")
    return jsonify(workspace=workspace_json(services().workspaces.get(workspace_id), role))


@blueprint.patch("/workspaces/<workspace_id>")
def update_workspace(workspace_id: str):
    workspace_role(workspace_id, "workspace.update")
    workspace = services().workspaces.rename(workspace_id, name=text(body(), "name"), actor_id=g.user.id,
                                             client_address=client_address())
    return jsonify(workspace=workspace_json(workspace, services().workspaces.role_of(workspace_id, g.user.id)))


def settled_json(settled) -> list[dict]:
    return [k.public() for k in settled]


@blueprint.post("/workspaces/<workspace_id>/transfer")
def transfer_workspace(workspace_id: str):
    workspace_role(workspace_id, "workspace.transfer")
    settled = services().workspaces.transfer_ownership(workspace_id, to_user_id=text(body(), "user_id"),
                                                       actor_id=g.user.id, client_address=client_address())
    return jsonify(workspace=workspace_json(services().workspaces.get(workspace_id), "admin"),
                   api_keys=settled_json(settled))


@blueprint.get("/workspaces/<workspace_id>/members")
def list_members(workspace_id: str):
    workspace_role(workspace_id, "members.read")
    members, next_after = page(services().workspaces.members(workspace_id), key=lambda m: m.user_id)
    return jsonify(members=[{"user_id": m.user_id, "email": m.email, "display_name": m.display_name,
                             "role": m.role, "joined_at": m.joined_at} for m in members], next_after=next_after)


@blueprint.patch("/workspaces/<workspace_id>/members/<user_id>")
def change_member_role(workspace_id: str, user_id: str):
    role = workspace_role(workspace_id, "members.manage")
    data = body()
    settled = services().workspaces.change_role(
        workspace_id, user_id=user_id, role=text(data, "role"), actor_id=g.user.id, actor_role=role,
        client_address=client_address(), hand_api_keys_to=text(data, "hand_api_keys_to", required=False))
    return jsonify(user_id=user_id, role=services().workspaces.role_of(workspace_id, user_id),
                   api_keys=settled_json(settled))


@blueprint.delete("/workspaces/<workspace_id>/members/<user_id>")
def remove_member(workspace_id: str, user_id: str):
    current_session()
    # Anyone may leave; removing someone else needs members.manage.
    action = "members.read" if user_id == g.user.id else "members.manage"
    role = workspace_role(workspace_id, action)
    settled = services().workspaces.remove_member(
        workspace_id, user_id=user_id, actor_id=g.user.id, actor_role=role, client_address=client_address(),
        hand_api_keys_to=request.args.get("hand_api_keys_to") or None)
    return jsonify(user_id=user_id, api_keys=settled_json(settled),
                   message=_removal_message(user_id == g.user.id, settled))


def _removal_message(left: bool, settled) -> str:
    done = "You left the workspace." if left else "The member was removed."
    if not settled:
        return done
    handed = [k for k in settled if k.outcome == "handed_over"]
    return (f"{done} {len(settled) - len(handed)} API key(s) they held were revoked and {len(handed)} handed over; "
            "api_keys says which.")


@blueprint.get("/workspaces/<workspace_id>/invitations")
def list_invitations(workspace_id: str):
    workspace_role(workspace_id, "invitations.read")
    invitations, next_after = page(services().invitations.list(workspace_id), key=lambda i: i.id)
    return jsonify(invitations=[i.public() for i in invitations], next_after=next_after)


@blueprint.post("/workspaces/<workspace_id>/invitations")
def invite(workspace_id: str):
    role = workspace_role(workspace_id, "invitations.manage")
    data = body()
    invitation, link = services().invitations.invite(workspace_id, email=text(data, "email"),
                                                     role=text(data, "role"), inviter_id=g.user.id,
                                                     inviter_role=role, client_address=client_address())
    return jsonify(invitation=invitation.public(), accept_url=link), 201


@blueprint.post("/workspaces/<workspace_id>/invitations/<invitation_id>/resend")
def resend_invitation(workspace_id: str, invitation_id: str):
    role = workspace_role(workspace_id, "invitations.manage")
    invitation, link = services().invitations.resend(workspace_id, invitation_id, actor_id=g.user.id,
                                                     actor_role=role, client_address=client_address())
    return jsonify(invitation=invitation.public(), accept_url=link), 201


@blueprint.delete("/workspaces/<workspace_id>/invitations/<invitation_id>")
def revoke_invitation(workspace_id: str, invitation_id: str):
    workspace_role(workspace_id, "invitations.manage")
    services().invitations.revoke(workspace_id, invitation_id, actor_id=g.user.id, client_address=client_address())
    return "", 204


@blueprint.get("/workspaces/<workspace_id>/audit")
def workspace_audit(workspace_id: str):
    workspace_role(workspace_id, "audit.read")
    return audit_response(workspace_id=workspace_id)
