"""The chat widget's endpoints (`/widget.js`, `/widget/v1/agents/<id>/...`): CORS for the agent's allowed origins
only, visitor tokens, small bodies, and errors the widget can show."""

from __future__ import annotations

import contextlib
import hashlib
import html

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request

from appliance import errors, resources
from appliance.agent.agents import origin_of
from appliance.conversations.leads import THANKS
from appliance.turns import Turns
from appliance.widget.service import Caller, WidgetService
from server.http_errors import STATUS_BY_ERROR

blueprint = Blueprint("widget", __name__)
A = "/widget/v1/agents/<public_id>"
_AGENTS = "/widget/v1/agents/"
PREFLIGHT_MAX_AGE = "600"
# What the widget shows for each refusal; the code tells it what to do (renew the token, wait, give up).
_WIDGET_CODES = [(errors.FieldErrors, "invalid"), (errors.ValidationError, "invalid"),
                 (errors.TooManyAttempts, "rate_limited")]


def embed_snippet(appliance_url: str, public_id: str) -> str:
    """The one line that puts an agent's chat on a page: `<script src=.../widget.js data-agent=... defer>`."""
    return (f'<script src="{html.escape(appliance_url.rstrip("/"))}/widget.js" '
            f'data-agent="{html.escape(public_id)}" defer></script>')


def _widget() -> WidgetService:
    return current_app.extensions["chatspark.services"].widget


def _caller(data: dict | None = None) -> Caller:
    page_url = (data or {}).get("page_url")
    return Caller(origin=origin_of(request.headers.get("Origin", "")), page_url=page_url,
                  client_address=request.remote_addr)


def _token() -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _body() -> dict:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise errors.ValidationError("the request body must be a JSON object")
    return data


@blueprint.get("/widget.js")
def widget_js():
    script = resources.widget_script().read_bytes()
    response = Response(script, mimetype="text/javascript")
    response.set_etag(hashlib.sha256(script).hexdigest()[:32])
    response.cache_control.public = True
    response.cache_control.max_age = 300
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"  # loaded by pages on other origins
    return response.make_conditional(request)


@blueprint.post(f"{A}/session", provide_automatic_options=False)
def open_session(public_id: str):
    data = _body()
    session = _widget().open_session(public_id, _caller(data), token=data.get("token") or None,
                                     restart=data.get("restart") is True)
    agent = session.agent
    return jsonify(
        token=session.token, expires_in=int(_widget().token_lifetime.total_seconds()),
        agent={"name": agent.name, "color": agent.color, "welcome_message": agent.welcome_message,
               "suggested_questions": agent.suggested_questions, "lead_capture": agent.lead_capture,
               "lead_form": {"fields": agent.lead_fields, "consent_text": agent.consent_text,
                             "consent_version": agent.consent_version}},
        conversation={"id": session.claims.conversation_id, "messages": [_message(m) for m in session.messages],
                      "lead_submitted": session.lead is not None,
                      "lead": session.lead and {"after_message_id": session.lead.after_message_id, "message": THANKS}})


@blueprint.post(f"{A}/messages", provide_automatic_options=False)
def send_message(public_id: str):
    data = _body()
    visitor_message, reply = _widget().ask(_token(), _caller(data), data.get("text"), agent=public_id)
    return jsonify(visitor_message=_message(visitor_message), reply=_message(reply))


@blueprint.post(f"{A}/messages/<int:message_id>/feedback", provide_automatic_options=False)
def rate_reply(public_id: str, message_id: int):
    data = _body()
    if "rating" not in data:
        raise errors.ValidationError("'rating' is up, down or null")
    _widget().rate(_token(), _caller(data), message_id, data["rating"], agent=public_id)
    return jsonify(message_id=message_id, feedback=data["rating"])


@blueprint.get(f"{A}/messages/<int:message_id>/sources/<int:rank>", provide_automatic_options=False)
def cited_passage(public_id: str, message_id: int, rank: int):
    passage = _widget().cited_passage(_token(), _caller(), message_id, rank, agent=public_id)
    return jsonify(passage=passage.public())


@blueprint.post(f"{A}/leads", provide_automatic_options=False)
def leave_lead(public_id: str):
    data = _body()
    lead = _widget().leave_lead(_token(), _caller(data), fields=data.get("fields"), consent=data.get("consent"),
                                consent_version=data.get("consent_version"), agent=public_id)
    return jsonify(lead_id=lead.id, message=THANKS), 201


@blueprint.route(f"{A}/<path:rest>", methods=["OPTIONS"])
def preflight(public_id: str, rest: str):
    if not g.get("widget_origin_allowed"):
        _widget().refuse(public_id, g.widget_origin, client_address=request.remote_addr)
    response = Response(status=204)
    response.headers["Access-Control-Allow-Methods"] = "GET, POST"
    response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
    response.headers["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
    return response


def _message(message) -> dict:
    return {"id": message.id, "role": message.role, "text": message.text,
            "sources": [{**s.public(), "rank": s.rank} for s in message.sources], "answered": message.answered,
            "offer_lead_form": message.offer_lead_form, "feedback": message.feedback,
            "created_at": message.created_at}


def _error(code: str, message: str, status: int, **extra) -> Response:
    response = jsonify(error=code, message=message, **extra)
    response.status_code = status
    return response


def install(app: Flask, *, max_request_bytes: int, turns: Turns) -> None:
    app.config["CHATSPARK_WIDGET_MAX_REQUEST_BYTES"] = max_request_bytes
    app.register_blueprint(blueprint)
    app.wsgi_app = _chat_in_turn(app.wsgi_app, turns)


def _chat_in_turn(wsgi_app, turns: Turns):
    """A visitor's message is handled whole (Flask's checks and logging with it) in one of the process's turns at
    computing replies, so a burst of visitors is answered one message after another, each at its cheapest; every
    other request goes on meanwhile."""
    def app(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") == "POST" and path.startswith(_AGENTS) and path.endswith("/messages"):
            with turns.taken():
                return wsgi_app(environ, start_response)
        return wsgi_app(environ, start_response)
    return app


@blueprint.before_request
def check_origin_and_size():
    # The request's CORS check and its answer look the agent up once between them (forgotten at its teardown).
    g.widget_request = contextlib.ExitStack()
    g.widget_request.enter_context(_widget().one_request())
    public_id = (request.view_args or {}).get("public_id")
    origin = origin_of(request.headers.get("Origin", ""))
    g.widget_origin = origin
    g.widget_origin_allowed = bool(public_id and origin and _widget().allowed_origin(public_id, origin))
    limit = current_app.config["CHATSPARK_WIDGET_MAX_REQUEST_BYTES"]
    if request.method == "POST" and (request.content_length or 0) > limit:
        return _error("too_large", f"the request is larger than {limit} bytes", 413)
    if request.method == "POST" and len(request.stream.read(limit + 1) if request.content_length is None
                                         else request.get_data(cache=True)) > limit:
        return _error("too_large", f"the request is larger than {limit} bytes", 413)
    return None


@blueprint.teardown_request
def forget_agents(_exc) -> None:
    stack = g.pop("widget_request", None)
    if stack is not None:
        stack.close()


@blueprint.after_request
def allow_origin(response: Response) -> Response:
    response.vary.add("Origin")
    if g.get("widget_origin_allowed"):
        response.headers["Access-Control-Allow-Origin"] = g.widget_origin
        response.headers["Access-Control-Expose-Headers"] = "Retry-After"
    return response


@blueprint.errorhandler(errors.ApplianceError)
def widget_error(exc: errors.ApplianceError):
    status = next((s for kind, s in STATUS_BY_ERROR if isinstance(exc, kind)), 500)
    code = next((c for kind, c in _WIDGET_CODES if isinstance(exc, kind)), exc.code)
    extra = {}
    if isinstance(exc, errors.FieldErrors):
        extra["fields"] = exc.fields
    if isinstance(exc, errors.TooManyAttempts):
        extra["retry_after_seconds"] = exc.retry_after_seconds
    if status >= 500:
        current_app.logger.error("widget request failed: %s", exc)
    response = _error(code, str(exc), status, **extra)
    if isinstance(exc, errors.TooManyAttempts):
        response.headers["Retry-After"] = str(exc.retry_after_seconds)
    return response
