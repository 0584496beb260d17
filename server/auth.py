"""Who is calling: sessions from a bearer header or the `__Host-` cookie, CSRF for cookie-borne requests, roles."""

from __future__ import annotations

import functools
import hmac
import secrets

from flask import current_app, g, request

from appliance.accounts import permissions
from appliance.accounts.api_keys import looks_like_api_key
from appliance.errors import (
    AuthenticationFailed,
    LegalHoldActive,
    NotFound,
    PermissionDenied,
    ValidationError,
    WorkspaceReadOnly,
)
from appliance.services import Services

SESSION_COOKIE = "__Host-chatspark_session"
CSRF_COOKIE = "__Host-chatspark_csrf"
CSRF_HEADER = "X-CSRF-Token"
_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
# Endpoints a session may use while the appliance's policy makes its user enrol a second factor first.
# What each workspace action needs of an API key; actions missing here are for people only.
API_KEY_SCOPES = {
    "agents.ask": "chat",
    "agents.read": "agents:read",
    "agents.write": "agents:write",
    "sources.read": "sources:read",
    "sources.write": "sources:write",
    "conversations.read": "conversations:read",
    "conversations.delete": "conversations:delete",
    "leads.read": "leads:read",
    "leads.delete": "leads:delete",
    "analytics.read": "analytics:read",
}
# What an API key needs besides the action's own scope to take data out of the appliance in bulk.
EXPORT_SCOPE = "export"
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
        if g.session is None and required:
            if g.get("api_key") is not None:
                raise PermissionDenied("API keys reach only the endpoints of their own workspace; this one needs "
                                       "a signed-in user")
            raise AuthenticationFailed("log in first")
        return g.session
    # The API never takes credentials from the URL (they would land in logs and histories); the mailed-link pages
    # carry single-use link tokens there, which are not credentials for this check.
    if request.path.startswith("/api/") and (
            any(n in request.args for n in ("token", "access_token", "session", "api_key", "key"))
            or any(looks_like_api_key(v) for v in request.args.values())):
        raise ValidationError("credentials are never accepted in the query string (they would end up in logs and "
                              "histories); send them as 'Authorization: Bearer ...'")
    token, from_cookie = _token_from_request()
    if token is not None and not from_cookie and looks_like_api_key(token):
        g.api_key = services().api_keys.authenticate(token, client_address=client_address())
        g.session = g.user = None
        if required:
            # API keys reach their workspace's endpoints (see workspace_role), nothing that needs a person.
            raise PermissionDenied("API keys reach only the endpoints of their own workspace; this one needs a "
                                   "signed-in user")
        return None
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


def install_credential_check(app, *, callers: dict[str, str]) -> None:
    """Check the caller's credentials before anything reads the request's body: an API route that needs a session
    or a key (`callers`, from the OpenAPI document) refuses a request without valid ones at once, so nobody makes
    the appliance parse or validate a body without first proving who they are."""
    needs_person = {"session", "operator", "member"}

    @app.before_request
    def authenticate_before_reading_the_body() -> None:
        who = callers.get(request.endpoint or "")
        if who in needs_person:
            current_session()
        elif who == "key":
            current_session(required=False)
            if g.session is None and g.get("api_key") is None:
                raise AuthenticationFailed("log in first, or send an API key")


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


def add_rate_limit_headers(response):
    """Tell an API-key caller its per-minute limit and what is left of it."""
    api_key = g.get("api_key")
    if api_key is not None and api_key.remaining_this_minute is not None:
        response.headers["X-RateLimit-Limit"] = str(api_key.rate_limit_per_minute)
        response.headers["X-RateLimit-Remaining"] = str(api_key.remaining_this_minute)
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


def workspace_role(workspace_id: str, action: str, *, export: bool = False) -> str:
    """The caller's role in the workspace, after checking it allows `action` (404 for non-members).

    An API key is treated as a member of its own workspace only, holding exactly its scopes; an export (`export`)
    needs the key's `export` scope besides the action's own."""
    current_session(required=False)
    api_key = g.get("api_key")
    if api_key is not None:
        if api_key.workspace_id != workspace_id:
            raise NotFound(f"no workspace {workspace_id}")
        scope = API_KEY_SCOPES.get(action)
        if scope is None:
            raise PermissionDenied("API keys cannot do this; it needs a signed-in user")
        for needed in (scope, EXPORT_SCOPE) if export else (scope,):
            if needed not in api_key.scopes:
                raise PermissionDenied(f"this API key lacks the '{needed}' scope")
        _check_writable(workspace_id, action, export=export)
        return "api_key"
    if g.session is None:
        raise AuthenticationFailed("log in first, or send an API key")
    role = services().workspaces.role_of(workspace_id, g.user.id)
    permissions.check(role, action, workspace_id=workspace_id)
    _check_writable(workspace_id, action, export=export)
    return role


def _check_writable(workspace_id: str, action: str, *, export: bool) -> None:
    """The one place that keeps a cancelled workspace read-only: reading, exports, the legal hold and undoing the
    cancellation stay possible (permissions.ALLOWED_WHILE_CANCELLED), every other action is refused. A legal hold
    refuses deleting on demand (permissions.BLOCKED_BY_LEGAL_HOLD)."""
    if export or action in permissions.ALLOWED_WHILE_CANCELLED:
        return
    if services().workspaces.get(workspace_id).status == "cancelled":
        raise WorkspaceReadOnly("this workspace is cancelled and read-only; undo the cancellation to change it")
    if action in permissions.BLOCKED_BY_LEGAL_HOLD and services().retention.get(workspace_id).legal_hold:
        raise LegalHoldActive("this workspace is on legal hold: nothing in it can be deleted until the hold is lifted")


def allows(workspace_id: str, action: str) -> bool:
    """Whether the caller, already known to belong to the workspace, may also take `action` there."""
    try:
        workspace_role(workspace_id, action)
    except PermissionDenied:
        return False
    return True


def actor() -> tuple[str, str]:
    """Who is calling, as the audit log names them: ("user", user id) or ("api_key", key id)."""
    api_key = g.get("api_key")
    return ("api_key", api_key.id) if api_key is not None else ("user", g.user.id)
