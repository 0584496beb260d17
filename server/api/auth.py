"""Logging in and out, email verification, password reset and accepting invitations."""

from __future__ import annotations

from flask import Blueprint, g, jsonify, request

from server.api.payload import body, text
from server.auth import client_address, current_session, login_required, services

blueprint = Blueprint("auth", __name__)


def session_json(session, *, current_id: str | None = None) -> dict:
    return {"id": session.id, "created_at": session.created_at, "last_seen_at": session.last_seen_at,
            "expires_at": session.expires_at, "client_address": session.client_address,
            "user_agent": session.user_agent, "current": session.id == current_id}


@blueprint.post("/auth/login")
def login():
    data = body()
    result = services().auth.login(
        email=text(data, "email"), password=text(data, "password"),
        totp_code=text(data, "totp_code", required=False), recovery_code=text(data, "recovery_code", required=False),
        client_address=client_address(), user_agent=request.headers.get("User-Agent"),
        device_token=text(data, "device_token", required=False),
    )
    return jsonify(token=result.token, session=session_json(result.session, current_id=result.session.id),
                   user=result.user.public(), second_factor_enrolment_required=result.session.enrol_only,
                   device_token=result.device_token)


@blueprint.post("/auth/logout")
@login_required
def logout():
    services().auth.logout(g.session, client_address=client_address())
    return "", 204


@blueprint.post("/auth/verify-email")
def verify_email():
    user = services().users.verify_email(text(body(), "token"), client_address=client_address())
    return jsonify(user=user.public())


@blueprint.post("/auth/password-reset")
def request_password_reset():
    services().auth.request_reset(email=text(body(), "email"), client_address=client_address())
    return jsonify(message="If an account uses that address, a reset link is on its way."), 202


@blueprint.post("/auth/password-reset/complete")
def complete_password_reset():
    data = body()
    user = services().auth.complete_reset(
        token=text(data, "token"), password=text(data, "password"),
        totp_code=text(data, "totp_code", required=False), recovery_code=text(data, "recovery_code", required=False),
        client_address=client_address(),
    )
    return jsonify(user=user.public())


@blueprint.post("/invitations/accept")
def accept_invitation():
    data = body()
    session = current_session(required=False)
    result = services().invitations.accept(
        text(data, "token"), password=text(data, "password", required=False),
        display_name=text(data, "display_name", required=False, default="") or "",
        signed_in_user_id=session.user_id if session else None, client_address=client_address(),
    )
    return jsonify(invitation=result.invitation.public(), user_id=result.user_id, new_account=result.new_account,
                   email_verification_sent=result.new_account)
