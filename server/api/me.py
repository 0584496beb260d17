"""The signed-in user's own account: profile, password, sessions and second factor."""

from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify

from appliance import __version__
from appliance.accounts import permissions
from appliance.errors import NotFound
from server.api.auth import session_json
from server.api.pagination import page
from server.api.payload import body, text
from server.auth import client_address, login_required, services

blueprint = Blueprint("me", __name__)


@blueprint.get("/me")
@login_required
def me():
    svc = services()
    memberships = svc.workspaces.list_for_user(g.user.id)
    settings = current_app.extensions["chatspark.settings"]
    return jsonify(user=g.user.public(), session=session_json(g.session, current_id=g.session.id),
                   workspaces=[{"id": w.id, "name": w.name, "status": w.status, "role": role,
                                "permissions": permissions.allowed(role)} for w, role in memberships],
                   operator_permissions=sorted(permissions.OPERATOR_PERMISSIONS) if g.user.is_operator else [],
                   appliance={"version": __version__, "mail_relay_configured": bool(settings.smtp_host),
                              "cancellation_purge_days": settings.cancellation_purge_days,
                              "api_key_grace_hours": settings.api_key_grace_hours,
                              # What a file or a crawl may be, so a client can say so before sending anything.
                              "max_upload_bytes": min(settings.max_upload_bytes, settings.max_request_body_bytes),
                              "crawl_allowed_hosts": sorted({h.strip().lower() for h in
                                                             settings.crawl_allowed_hosts.split(",") if h.strip()})})


@blueprint.post("/me/password")
@login_required
def change_password():
    data = body()
    ended = services().auth.change_password(g.user, session_id=g.session.id, current=text(data, "current_password"),
                                            new=text(data, "new_password"), client_address=client_address())
    return jsonify(message="Password changed; your other sessions were ended.", sessions_ended=ended)


@blueprint.get("/me/sessions")
@login_required
def list_sessions():
    sessions, next_after = page(services().sessions.list_for_user(g.user.id), key=lambda s: s.id)
    return jsonify(sessions=[session_json(s, current_id=g.session.id) for s in sessions], next_after=next_after)


@blueprint.delete("/me/sessions/<session_id>")
@login_required
def end_session(session_id: str):
    svc = services()
    if session_id not in {s.id for s in svc.sessions.list_for_user(g.user.id)}:
        raise NotFound(f"no session {session_id}")
    svc.auth.end_session(session_id, actor_id=g.user.id, client_address=client_address())
    return "", 204


@blueprint.post("/me/second-factor")
@login_required
def start_second_factor():
    # The current password, like a password change: a stolen session token alone must not put a factor on.
    enrolment = services().auth.start_enrolment(g.user, password=text(body(), "password"),
                                                client_address=client_address())
    return jsonify(secret=enrolment.secret, otpauth_uri=enrolment.uri,
                   next="POST /api/v1/me/second-factor/confirm with a code from the app and your password")


@blueprint.post("/me/second-factor/confirm")
@login_required
def confirm_second_factor():
    data = body()
    codes = services().auth.confirm_enrolment(g.user, code=text(data, "code"), password=text(data, "password"),
                                              session_id=g.session.id, client_address=client_address())
    return jsonify(recovery_codes=codes, message="Second factor on. Keep these recovery codes safe: each works once.")


@blueprint.post("/me/second-factor/disable")
@login_required
def disable_second_factor():
    services().auth.disable_second_factor(g.user, password=text(body(), "password"), client_address=client_address())
    return "", 204
