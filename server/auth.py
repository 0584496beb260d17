"""Who is calling: sessions from a bearer header or the `__Host-` cookie, CSRF for cookie-borne requests, roles."""

from __future__ import annotations

import functools
import hmac
import secrets

from flask import current_app, g, request

from appliance import permissions
from appliance.errors import AuthenticationFailed, PermissionDenied, ValidationError
from appliance.services import Services

SESSION_COOKIE = "__Host-chatspark_session"
CSRF_COOKIE = "__Host-chatspark_csrf"
CSRF_HEADER = "X-CSRF-Token"
_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
# Endpoints a session may use while the appliance's policy makes its user enrol a second factor first.
_ENROL_ONLY = {"me.me", "me.start_second_factor", "me.confirm_second_factor", "auth.logout",
               "pages.account", "pages.logout", "pages.enrol", "pages.confirm_enrolment"}


def services() -> Services:
    return current_app.extensions["chatspark.services"]


def client_address() -> str | None:
    # Waitress replaced REMOTE_ADDR with the X-Forwarded-For that Caddy set; a client's own header never gets here.
    return request.remote_addr


def _token_from_request() -> tuple[str | None, bool]:
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise AuthenticationFailed("send the session token as 'Authorization: Bearer <token>'")
        return value.strip(), False
    cookie = request.cookies.get(SESSION_COOKIE)
    return (cookie, True) if cookie else (None, False)


def current_session(*, required: bool = True):
    """Authenticate once per request; g.session and g.user are set, or None when optional and absent."""
    if "session" in g:
        return g.session
    # The API never takes credentials from the URL (they would land in logs and histories); the mailed-link pages
    # carry single-use link tokens there, which are not credentials for this check.
    if request.path.startswith("/api/") and any(n in request.args for n in ("token", "access_token", "session")):
        raise ValidationError("credentials are never accepted in the query string; send an Authorization header")
    token, from_cookie = _token_from_request()
    if token is None:
        if required:
            raise AuthenticationFailed("log in first")
        g.session = g.user = None
        return None
    svc = services()
    session = svc.sessions.authenticate(token)
    user = svc.users.get(session.user_id)
    if user.status == "disabled":
        raise AuthenticationFailed("this account is disabled")
    if from_cookie and request.method in _UNSAFE:
        check_csrf()
    if session.enrol_only and request.endpoint not in _ENROL_ONLY:
        raise PermissionDenied("the appliance requires a second factor for your role: enrol one first "
                               "(POST /api/v1/me/second-factor)")
    g.session, g.user, g.token = session, user, token
    return session


def check_csrf() -> None:
    """Double-submit: the form field or header must equal the `__Host-` CSRF cookie, which other sites cannot set."""
    expected = request.cookies.get(CSRF_COOKIE, "")
    given = request.headers.get(CSRF_HEADER) or request.form.get("csrf_token", "")
    if not expected or not hmac.compare_digest(expected, given):
        raise PermissionDenied("the form is stale or came from another site; reload the page and try again")


def csrf_token() -> str:
    """The CSRF value for this browser, made on first use; the response sets it as a cookie (see set_csrf_cookie)."""
    if "csrf" not in g:
        g.csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
    return g.csrf


def set_csrf_cookie(response):
    if "csrf" in g and request.cookies.get(CSRF_COOKIE) != g.csrf:
        response.set_cookie(CSRF_COOKIE, g.csrf, secure=True, httponly=True, samesite="Strict", path="/")
    return response


def login_required(view):
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        current_session()
        return view(*args, **kwargs)
    return wrapper


def operator_required(view):
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        current_session()
        if not g.user.is_operator:
            raise PermissionDenied("only appliance operators may do this")
        return view(*args, **kwargs)
    return wrapper


def workspace_role(workspace_id: str, action: str) -> str:
    """The caller's role in the workspace, after checking it allows `action` (404 for non-members)."""
    current_session()
    role = services().workspaces.role_of(workspace_id, g.user.id)
    permissions.check(role, action, workspace_id=workspace_id)
    return role
