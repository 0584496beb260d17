"""Appliance operators' view of accounts: list, disable and enable, hand one to a directory, see and end anyone's
sessions."""

from __future__ import annotations

import secrets

from flask import Blueprint, g, jsonify, request

from appliance.accounts.users import check_display_name, check_email
from appliance.errors import NotFound, ValidationError
from server.api.auth import session_json
from server.api.pagination import page
from server.api.payload import body, text
from server.auth import client_address, operator_required, services

blueprint = Blueprint("users", __name__)


@blueprint.get("/users")
@operator_required
def list_users():
    users, next_after = page(services().users.list_all(), key=lambda u: u.id)
    return jsonify(users=[u.public() for u in users], next_after=next_after)


@blueprint.post("/users")
@operator_required
def create_operator():
    """Another operator, active at once; with `generate_password` the answer holds the password, shown this once."""
    data = body()
    # Each field is checked in its own right first, so an error names the field it is about.
    email = check_email(text(data, "email"))
    try:
        display_name = check_display_name(text(data, "display_name", required=False) or "")
    except ValidationError as exc:
        raise ValidationError(f"'display_name': {exc}") from None
    password = text(data, "password", required=False)
    generated = data.get("generate_password") is True
    if generated == bool(password):
        raise ValidationError("'password': give one, or 'generate_password': true, not both")
    if generated:
        password = secrets.token_urlsafe(18)
    user = services().users.create_operator(email=email, password=password, display_name=display_name,
                                            actor_id=g.user.id, client_address=client_address())
    return jsonify(user=user.public(), **({"password": password} if generated else {})), 201


@blueprint.post("/users/<user_id>/directory")
@operator_required
def hand_to_directory(user_id: str):
    """Move an account with its own password to an LDAP directory, which checks its password from then on."""
    svc = services()
    linked = svc.directories.hand_over(user_id, text(body(), "provider_id"), actor_id=g.user.id,
                                       client_address=client_address())
    return jsonify(user=svc.users.get(user_id).public(), groups=linked.groups, role_changes=linked.changes)


@blueprint.post("/users/<user_id>/disable")
@operator_required
def disable_user(user_id: str):
    change = services().users.set_disabled(user_id, disabled=True, actor_id=g.user.id,
                                           client_address=client_address(),
                                           hand_api_keys_to=request.args.get("hand_api_keys_to") or None)
    return jsonify(user=change.user.public(), api_keys=[k.public() for k in change.api_keys])


@blueprint.post("/users/<user_id>/enable")
@operator_required
def enable_user(user_id: str):
    change = services().users.set_disabled(user_id, disabled=False, actor_id=g.user.id,
                                           client_address=client_address())
    return jsonify(user=change.user.public())


@blueprint.get("/users/<user_id>/sessions")
@operator_required
def user_sessions(user_id: str):
    svc = services()
    svc.users.get(user_id)
    sessions, next_after = page(svc.sessions.list_for_user(user_id), key=lambda s: s.id)
    return jsonify(sessions=[session_json(s, current_id=g.session.id) for s in sessions], next_after=next_after)


@blueprint.delete("/users/<user_id>/sessions/<session_id>")
@operator_required
def end_user_session(user_id: str, session_id: str):
    svc = services()
    if session_id not in {s.id for s in svc.sessions.list_for_user(user_id)}:
        raise NotFound(f"no session {session_id} of user {user_id}")
    svc.auth.end_session(session_id, actor_id=g.user.id, client_address=client_address())
    return "", 204
