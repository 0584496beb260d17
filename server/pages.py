"""The few HTML pages the appliance serves itself: log in, account, verify email, reset password, accept invitation,
and an agent's widget preview."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

import segno
from flask import Blueprint, g, redirect, render_template, request

from appliance import errors
from appliance.accounts import devices
from appliance.errors import ApplianceError
from server.auth import (
    SESSION_COOKIE,
    check_csrf,
    client_address,
    csrf_token,
    current_session,
    services,
    workspace_role,
)
from server.http_errors import STATUS_BY_ERROR
from server.widget import embed_snippet

blueprint = Blueprint("pages", __name__)
# The device token a browser keeps after signing in (appliance/accounts/devices.py): it still gets in while strangers'
# guesses have the account locked.
DEVICE_COOKIE = "__Host-chatspark_device"


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    type: str = "text"
    required: bool = True
    autocomplete: str | None = None
    hint: str | None = None
    value: str | None = None


PASSWORD_HINT = ("12 to 256 characters, hard to guess: a passphrase of several unrelated words is good. Common "
                 "passwords, repeats, sequences and your own name or address are refused.")
_LOCAL_PATH = re.compile(r"/(?!/)[A-Za-z0-9._~/-]{0,300}")
CODE = Field("totp_code", "Code from your authenticator app, if you set one up (or a recovery code)", required=False,
             autocomplete="one-time-code")


def _status(exc: ApplianceError) -> int:
    return next((s for kind, s in STATUS_BY_ERROR if isinstance(exc, kind)), 500)


def form(title: str, *, action: str, fields: list[Field] | None, submit: str = "Continue", status: int = 200,
         **context):
    return render_template("form.html", title=title, action=action, fields=fields, submit=submit, csrf=csrf_token(),
                           **context), status


def _code_fields() -> dict[str, str | None]:
    code = (request.form.get("totp_code") or "").strip()
    if not code:
        return {"totp_code": None, "recovery_code": None}
    return {"totp_code": code, "recovery_code": None} if code.isdigit() else {"totp_code": None, "recovery_code": code}


def _local_path(value: str | None) -> str | None:
    """`value` if it is a plain path on this appliance (where to go after logging in), else None: nothing a browser
    could read as another site (`//host`, backslashes, whitespace it strips, escapes)."""
    return value if isinstance(value, str) and _LOCAL_PATH.fullmatch(value) else None


@blueprint.route("/login", methods=["GET", "POST"])
def login():
    after = _local_path(request.values.get("next"))
    # Through a directory, people sign in by their user name there too (uid, sAMAccountName), not only by mail.
    directory = bool(services().sso_providers.list(kind="ldap"))
    fields = [Field("email", "Email or user name", "text", autocomplete="username") if directory else
              Field("email", "Email", "email", autocomplete="username"),
              Field("password", "Password", "password", autocomplete="current-password"), CODE]
    if after:
        fields.append(Field("next", "", "hidden", value=after))
    links = [{"href": "/account/forgot", "text": "Forgot your password?"}]
    # One button per single sign-on provider the operators configured.
    links = [{"href": f"/sso/{p.id}/start" + (f"?next={after}" if after else ""), "text": f"Sign in with {p.name}"}
             for p in services().sso_providers.list(kind="oidc")] + links
    if request.method == "GET":
        return form("Log in", action="/login", fields=fields, submit="Log in", links=links)
    try:
        check_csrf()
        result = services().auth.login(email=request.form.get("email", ""),
                                       password=request.form.get("password", ""), **_code_fields(),
                                       client_address=client_address(), user_agent=request.headers.get("User-Agent"),
                                       device_token=request.cookies.get(DEVICE_COOKIE))
    except ApplianceError as exc:
        return form("Log in", action="/login", fields=fields, submit="Log in", links=links, error=str(exc),
                    status=_status(exc))
    response = redirect(after or "/account", code=303)
    response.set_cookie(SESSION_COOKIE, result.token, secure=True, httponly=True, samesite="Strict", path="/",
                        max_age=int(services().sessions.absolute.total_seconds()))
    response.set_cookie(DEVICE_COOKIE, result.device_token, secure=True, httponly=True, samesite="Strict", path="/",
                        max_age=int(devices.LIFETIME.total_seconds()))
    return response


@blueprint.post("/logout")
def logout():
    if (gone := _signed_in_or_redirect()) is not None:
        return gone
    session = g.session
    services().auth.logout(session, client_address=client_address())
    response = redirect("/login", code=303)
    response.delete_cookie(SESSION_COOKIE, secure=True, httponly=True, samesite="Strict", path="/")
    return response


def _account_page(*, status: int = 200, **context):
    svc = services()
    return render_template("account.html", title="Your account", user=g.user, csrf=csrf_token(),
                           sessions=svc.sessions.list_for_user(g.user.id), current_session=g.session.id,
                           enrol_only=g.session.enrol_only, **context), status


def _signed_in_or_redirect(*, back: bool = False):
    """None when signed in (and, for a form post, its CSRF value matches); else the page to answer with. With
    `back`, logging in leads back to this page."""
    try:
        current_session()
    except errors.AuthenticationFailed:
        return redirect(f"/login?next={quote(request.path)}" if back else "/login", code=303)
    except errors.PermissionDenied as exc:
        return form("Your account", action="", fields=None, error=str(exc), status=403,
                    links=[{"href": "/account", "text": "Back to your account"}])
    return None


@blueprint.get("/account")
def account():
    return _signed_in_or_redirect() or _account_page()


@blueprint.post("/account/second-factor")
def enrol():
    if (gone := _signed_in_or_redirect()) is not None:
        return gone
    try:
        enrolment = services().auth.start_enrolment(g.user, password=request.form.get("password", ""),
                                                    client_address=client_address())
    except ApplianceError as exc:
        return _account_page(error=str(exc), status=_status(exc))
    qr = segno.make(enrolment.uri, error="m").svg_inline(scale=5, dark="#1d2330", light="#ffffff")
    return _account_page(enrolment=enrolment, qr_svg=qr)


@blueprint.post("/account/second-factor/confirm")
def confirm_enrolment():
    if (gone := _signed_in_or_redirect()) is not None:
        return gone
    try:
        codes = services().auth.confirm_enrolment(g.user, code=request.form.get("code", ""),
                                                  password=request.form.get("password", ""),
                                                  session_id=g.session.id, client_address=client_address())
    except ApplianceError as exc:
        return _account_page(error=str(exc), status=_status(exc))
    g.user = services().users.get(g.user.id)
    g.session = services().sessions.get(g.session.id)
    return _account_page(recovery_codes=codes, notice="Second factor on.")


@blueprint.post("/account/second-factor/disable")
def disable_second_factor():
    if (gone := _signed_in_or_redirect()) is not None:
        return gone
    try:
        services().auth.disable_second_factor(g.user, password=request.form.get("password", ""),
                                              client_address=client_address())
    except ApplianceError as exc:
        return _account_page(error=str(exc), status=_status(exc))
    g.user = services().users.get(g.user.id)
    return _account_page(notice="Second factor off. Logins need only your password now.")


@blueprint.post("/account/sessions/<session_id>/end")
def end_session(session_id: str):
    if (gone := _signed_in_or_redirect()) is not None:
        return gone
    svc = services()
    if session_id in {s.id for s in svc.sessions.list_for_user(g.user.id)}:
        svc.auth.end_session(session_id, actor_id=g.user.id, client_address=client_address())
    return _account_page(notice="Session ended.")


@blueprint.post("/account/password")
def change_password():
    if (gone := _signed_in_or_redirect()) is not None:
        return gone
    try:
        ended = services().auth.change_password(g.user, session_id=g.session.id,
                                                current=request.form.get("current_password", ""),
                                                new=request.form.get("new_password", ""),
                                                client_address=client_address())
    except ApplianceError as exc:
        return _account_page(error=str(exc), status=_status(exc))
    return _account_page(notice=f"Password changed. {ended} other session(s) ended.")


@blueprint.route("/account/verify", methods=["GET", "POST"])
def verify_email():
    token = request.values.get("token", "")
    fields = [Field("token", "", "hidden", value=token)]
    # GET only shows a button: mail scanners that follow links must not use the token up.
    if request.method == "GET":
        return form("Confirm your email", action="/account/verify", fields=fields, submit="Confirm my address")
    try:
        check_csrf()
        services().users.verify_email(token, client_address=client_address())
    except ApplianceError as exc:
        return form("Confirm your email", action="/account/verify", fields=None, error=str(exc),
                    status=_status(exc), links=[{"href": "/login", "text": "Log in"}])
    return form("Email confirmed", action="", fields=None, notice="Your address is confirmed. You can log in now.",
                links=[{"href": "/login", "text": "Log in"}])


@blueprint.route("/account/forgot", methods=["GET", "POST"])
def forgot_password():
    fields = [Field("email", "Email", "email", autocomplete="username")]
    if request.method == "GET":
        return form("Reset your password", action="/account/forgot", fields=fields, submit="Send me a link",
                    intro="We will mail a link to choose a new password.")
    try:
        check_csrf()
        services().auth.request_reset(email=request.form.get("email", ""), client_address=client_address())
    except ApplianceError as exc:
        return form("Reset your password", action="/account/forgot", fields=fields, submit="Send me a link",
                    error=str(exc), status=_status(exc))
    return form("Check your mail", action="", fields=None,
                notice="If an account uses that address, a reset link is on its way. It works for 30 minutes.")


@blueprint.route("/account/reset", methods=["GET", "POST"])
def reset_password():
    token = request.values.get("token", "")
    svc = services()
    try:
        needs_code = svc.auth.reset_needs_second_factor(token)
    except ApplianceError as exc:
        return form("Reset your password", action="", fields=None, error=str(exc), status=_status(exc),
                    links=[{"href": "/account/forgot", "text": "Ask for a new link"}])
    fields = [Field("token", "", "hidden", value=token),
              Field("password", "New password", "password", autocomplete="new-password", hint=PASSWORD_HINT)]
    if needs_code:
        fields.append(Field("totp_code", "Code from your authenticator app (or a recovery code)",
                            autocomplete="one-time-code"))
    if request.method == "GET":
        return form("Choose a new password", action="/account/reset", fields=fields, submit="Set password")
    try:
        check_csrf()
        svc.auth.complete_reset(token=token, password=request.form.get("password", ""), **_code_fields(),
                                client_address=client_address())
    except ApplianceError as exc:
        return form("Choose a new password", action="/account/reset", fields=fields, submit="Set password",
                    error=str(exc), status=_status(exc))
    return form("Password changed", action="", fields=None,
                notice="Your password is changed and every session was ended. Log in with the new one.",
                links=[{"href": "/login", "text": "Log in"}])


@blueprint.route("/invitations/accept", methods=["GET", "POST"])
def accept_invitation():
    token = request.values.get("token", "")
    svc = services()
    try:
        invitation = svc.invitations.lookup(token)
    except ApplianceError as exc:
        return form("Invitation", action="", fields=None, error=str(exc), status=_status(exc))
    workspace = svc.workspaces.get(invitation.workspace_id)
    existing = svc.users.find_by_email(invitation.email)
    try:
        session = current_session(required=False)
    except errors.AuthenticationFailed:
        session = None  # an expired cookie: treat the visitor as signed out
    title = f"Join {workspace.name}"
    intro = f"You are invited to {workspace.name} as {invitation.role} ({invitation.email})."
    if existing and (session is None or session.user_id != existing.id):
        return form(title, action="", fields=None, intro=intro + " Log in as that account, then open the link again.",
                    links=[{"href": "/login", "text": "Log in"}])
    fields = [Field("token", "", "hidden", value=token)]
    if not existing:
        fields += [Field("display_name", "Your name", required=False, autocomplete="name"),
                   Field("password", "Choose a password", "password", autocomplete="new-password",
                         hint=PASSWORD_HINT)]
    if request.method == "GET":
        return form(title, action="/invitations/accept", fields=fields, submit="Accept", intro=intro)
    try:
        check_csrf()
        result = svc.invitations.accept(token, password=request.form.get("password"),
                                        display_name=request.form.get("display_name", ""),
                                        signed_in_user_id=session.user_id if session else None,
                                        client_address=client_address())
    except ApplianceError as exc:
        return form(title, action="/invitations/accept", fields=fields, submit="Accept", intro=intro,
                    error=str(exc), status=_status(exc))
    notice = (f"You joined {workspace.name}. We mailed a link to confirm your address; open it, then log in."
              if result.new_account else f"You joined {workspace.name}.")
    return form("Invitation accepted", action="", fields=None, notice=notice,
                links=[{"href": "/login" if result.new_account else "/account", "text": "Continue"}])


@blueprint.get("/workspaces/<workspace_id>/agents/<agent_id>/preview")
def agent_preview(workspace_id: str, agent_id: str):
    """The agent's chat widget on a page of the appliance's own origin, for the workspace's people to try it as a
    visitor would; where the agent refuses this origin, the widget says so on the page."""
    if (gone := _signed_in_or_redirect(back=True)) is not None:
        return gone
    try:
        workspace_role(workspace_id, "agents.read")
        agent = services().agents.of(workspace_id).get(agent_id)
    except ApplianceError as exc:
        return form("Preview", action="", fields=None, error=str(exc), status=_status(exc))
    return render_template("preview.html", title=f"Preview of {agent.name}", agent=agent,
                           snippet=embed_snippet(services().links.public_url, agent.public_id))
