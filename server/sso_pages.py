"""Single sign-on in the browser: "Sign in with <provider>" starts at /sso/<id>/start, which binds the sign-in to
this browser (a short-lived cookie) and sends it to the provider; the provider sends it back to /sso/<id>/callback,
which signs it in. The session cookie is set on a page of this appliance that then moves on to the account page, so
that the strict session cookie travels with a same-site navigation."""

from __future__ import annotations

from flask import Blueprint, make_response, redirect, request

from appliance.errors import ApplianceError
from server.auth import SESSION_COOKIE, client_address, services
from server.pages import _local_path, _status, form

blueprint = Blueprint("sso_pages", __name__)
BINDING_COOKIE = "__Host-chatspark_sso"
BINDING_SECONDS = 600


def callback_url(provider_id: str) -> str:
    return f"{services().links.public_url}/sso/{provider_id}/callback"


@blueprint.get("/sso/<provider_id>/start")
def start(provider_id: str):
    port = request.args.get("panel_port")
    try:
        begun = services().sso.begin(provider_id, redirect_uri=callback_url(provider_id),
                                     return_to=_local_path(request.args.get("next")),
                                     panel_port=int(port) if port and port.isdigit() else None,
                                     panel_challenge=request.args.get("panel_challenge"))
    except ApplianceError as exc:
        return _failed(exc)
    response = redirect(begun.url, code=303)
    # Lax, not Strict: the provider's redirect back is a top-level navigation from its site, which must carry it.
    response.set_cookie(BINDING_COOKIE, begun.binding, secure=True, httponly=True, samesite="Lax", path="/",
                        max_age=BINDING_SECONDS)
    return response


@blueprint.get("/sso/<provider_id>/callback")
def callback(provider_id: str):
    if request.args.get("error"):
        reason = request.args.get("error_description") or request.args["error"]
        return form("Sign-in not completed", action="", fields=None, status=401,
                    error=f"The sign-in provider did not sign you in: {reason[:300]}", links=_retry(provider_id))
    try:
        result = services().sso.complete(provider_id, state=request.args.get("state", ""),
                                         code=request.args.get("code", ""),
                                         binding=request.cookies.get(BINDING_COOKIE),
                                         redirect_uri=callback_url(provider_id), client_address=client_address(),
                                         user_agent=request.headers.get("User-Agent"))
    except ApplianceError as exc:
        return _failed(exc, provider_id)
    if result.panel_redirect:
        # A desktop panel's sign-in: the session is the panel's; the browser only carries the one-time code to it.
        response = redirect(result.panel_redirect, code=303)
        response.delete_cookie(BINDING_COOKIE, secure=True, httponly=True, samesite="Lax", path="/")
        return response
    after = result.return_to or "/account"
    body, status = form("Signed in", action="", fields=None, intro=f"Signed in as {result.user.email}.",
                        links=[{"href": after, "text": "Continue"}])
    response = make_response(body, status)
    response.headers["Refresh"] = f"0; url={after}"
    response.set_cookie(SESSION_COOKIE, result.token, secure=True, httponly=True, samesite="Strict", path="/",
                        max_age=int(services().sessions.absolute.total_seconds()))
    response.delete_cookie(BINDING_COOKIE, secure=True, httponly=True, samesite="Lax", path="/")
    return response


def _retry(provider_id: str | None) -> list[dict]:
    links = [{"href": "/login", "text": "Back to the sign-in page"}]
    return ([{"href": f"/sso/{provider_id}/start", "text": "Try again"}] if provider_id else []) + links


def _failed(exc: ApplianceError, provider_id: str | None = None):
    return form("Sign-in not completed", action="", fields=None, status=_status(exc), error=str(exc),
                links=_retry(provider_id))
