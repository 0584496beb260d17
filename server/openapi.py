"""The OpenAPI 3.1 description of `/api/v1`, served at `/api/v1/openapi.json` and shipped as `docs/openapi.json`.

Regenerate the shipped file with `python -m server.openapi > docs/openapi.json`; a test keeps the two equal and checks
that every route of the app is described here and nothing else is.
"""

from __future__ import annotations

import copy
import json
import re

from flask import Blueprint, jsonify

from appliance import __version__
from appliance.accounts.api_keys import SCOPES
from appliance.audit.log import ACTOR_TYPES, OUTCOMES
from appliance.permissions import ROLES
from server.api import api_keys, audit, auth, knowledge, me, users, workspaces

blueprint = Blueprint("openapi", __name__)

STRING = {"type": "string"}
INTEGER = {"type": "integer"}
BOOLEAN = {"type": "boolean"}
TIME = {"type": "string", "format": "date-time"}
MAYBE_STRING = {"type": ["string", "null"]}
MAYBE_TIME = {"type": ["string", "null"], "format": "date-time"}
BINARY = {"type": "string", "contentMediaType": "application/octet-stream"}
GRANTABLE_ROLES = [role for role in ROLES if role != "owner"]


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _list(item: dict, **limits) -> dict:
    return {"type": "array", "items": item, **limits}


def _object(properties: dict, *, optional: tuple[str, ...] = (), closed: bool = True) -> dict:
    """An object whose properties are all required unless named optional; closed ones reject unknown fields."""
    schema = {"type": "object", "properties": properties,
              "required": [name for name in properties if name not in optional]}
    if closed:
        schema["additionalProperties"] = False
    return schema


def _request(*required: str, optional: tuple[str, ...] = (), **types: dict) -> dict:
    """A JSON request body of string fields (unless typed otherwise); the views ignore fields they do not read."""
    names = required + optional
    return _object({name: types.get(name, STRING) for name in names}, optional=optional, closed=False)


def _wrapped(name: str, schema: dict) -> dict:
    return _object({name: schema})


def _paged(name: str, item: dict) -> dict:
    """A page of a list: its items and the cursor of the next page (null on the last)."""
    return _object({name: _list(item), "next_after": {"type": ["string", "null"]}})


MESSAGE = {"type": "string", "description": "What happened, worded for a person."}

SCHEMAS: dict[str, dict] = {
    "Error": _object({"error": {"type": "string", "description": "A stable machine-readable code."},
                      "message": MESSAGE}),
    "User": _object({"id": STRING, "email": STRING, "display_name": STRING, "is_operator": BOOLEAN,
                     "status": STRING, "email_verified": BOOLEAN, "second_factor": BOOLEAN, "created_at": TIME}),
    "Session": _object({"id": STRING, "created_at": TIME, "last_seen_at": TIME, "expires_at": TIME,
                        "client_address": MAYBE_STRING, "user_agent": MAYBE_STRING,
                        "current": {"type": "boolean", "description": "Whether this is the caller's own session."}}),
    "Membership": _object({"id": STRING, "name": STRING, "status": STRING, "role": {"enum": list(ROLES)}}),
    "Workspace": _object({"id": STRING, "name": STRING, "status": STRING, "created_at": TIME,
                          "owner": _object({"id": MAYBE_STRING, "email": MAYBE_STRING}),
                          "role": {"enum": list(ROLES), "description": "The caller's role; absent in ?all=1 lists."}},
                         optional=("role",)),
    "Member": _object({"user_id": STRING, "email": STRING, "display_name": STRING, "role": {"enum": list(ROLES)},
                       "joined_at": TIME}),
    "Invitation": _object({"id": STRING, "workspace_id": STRING, "email": STRING, "role": {"enum": GRANTABLE_ROLES},
                           "invited_by": MAYBE_STRING, "created_at": TIME, "expires_at": TIME,
                           "accepted_at": MAYBE_TIME, "revoked_at": MAYBE_TIME}),
    "Generator": _object({"url": {"type": "string", "format": "uri"}, "model": {"type": "string", "maxLength": 200},
                          "timeout_seconds": {"type": "number", "minimum": 1, "maximum": 120}},
                         optional=("model", "timeout_seconds")),
    "AgentSettings": _object({
        "name": {"type": "string", "minLength": 1, "maxLength": 100},
        "instructions": {"type": "string", "maxLength": 4000},
        "welcome_message": {"type": "string", "maxLength": 1000},
        "fallback_text": {"type": "string", "minLength": 1, "maxLength": 1000},
        "suggested_questions": _list({"type": "string", "maxLength": 200}, maxItems=10),
        "confidence_threshold": {"type": "number", "minimum": 0, "maximum": 1},
        "answer_length": {"enum": ["short", "medium", "long"]},
        "lead_capture": {"enum": ["off", "on_fallback", "always"]},
        "allowed_origins": _list({"type": "string", "description": "scheme://host[:port]"}, maxItems=50),
        "generator": {"oneOf": [_ref("Generator"), {"type": "null"}],
                      "description": "An OpenAI-compatible endpoint, or null for extractive answers only."},
        "color": {"type": "string", "pattern": "^#[0-9a-fA-F]{6}$", "description": "The widget's colour."},
        "lead_fields": _list(_ref("LeadField"), minItems=1, maxItems=12),
        "consent_text": {"type": "string", "minLength": 1, "maxLength": 2000,
                         "description": "Shown beside the lead form's consent box; changing it raises the version."},
        "notify_on_lead": {"type": "boolean", "description": "Mail the workspace's owners and admins per lead."},
    }, optional=("name", "instructions", "welcome_message", "fallback_text", "suggested_questions",
                 "confidence_threshold", "answer_length", "lead_capture", "allowed_origins", "generator", "color",
                 "lead_fields", "consent_text", "notify_on_lead")),
    "LeadField": _object({"name": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,39}$",
                                   "description": "name, email, phone, company, or a field of your own."},
                          "label": {"type": "string", "minLength": 1, "maxLength": 100},
                          "type": {"enum": ["text", "textarea", "email", "tel"]},
                          "required": BOOLEAN}, optional=("type", "required")),
    "Agent": _object({"id": STRING, "public_id": STRING, "name": STRING, "instructions": STRING,
                      "welcome_message": STRING, "suggested_questions": _list(STRING), "fallback_text": STRING,
                      "confidence_threshold": {"type": "number"}, "answer_length": STRING, "lead_capture": STRING,
                      "allowed_origins": _list(STRING),
                      "generator": {"oneOf": [_ref("Generator"), {"type": "null"}]},
                      "created_at": TIME, "updated_at": TIME, "color": STRING,
                      "lead_fields": _list(_ref("LeadField")), "consent_text": STRING,
                      "consent_version": INTEGER, "notify_on_lead": BOOLEAN}),
    "Citation": _object({"source_id": STRING, "title": STRING, "url": MAYBE_STRING, "heading_path": STRING,
                         "passage": STRING}),
    "Answer": _object({"conversation_id": STRING, "message_id": INTEGER, "reply": STRING, "answered": BOOLEAN,
                       "confidence": {"type": "number"},
                       "method": {"enum": ["qa", "extractive", "generated", "fallback", "handoff"]},
                       "offer_lead_form": BOOLEAN, "sources": _list(_ref("Citation"))}),
    "QAPair": _object({"question": STRING, "answer": STRING}, closed=False),
    "Source": _object({"id": STRING, "kind": STRING, "title": STRING, "url": MAYBE_STRING, "filename": MAYBE_STRING,
                       "media_type": MAYBE_STRING,
                       "status": {"type": "string", "description": "queued, indexing, ready or failed."},
                       "error": MAYBE_STRING, "size_bytes": INTEGER, "chunk_count": INTEGER, "created_at": TIME,
                       "updated_at": TIME, "refreshed_at": MAYBE_TIME}),
    "ApiKey": _object({"id": STRING, "workspace_id": STRING, "name": STRING, "scopes": _list({"enum": list(SCOPES)}),
                       "allowed_addresses": _list(STRING), "rate_limit_per_minute": INTEGER,
                       "created_by": MAYBE_STRING, "created_at": TIME, "expires_at": MAYBE_TIME,
                       "rotated_at": MAYBE_TIME, "revoked_at": MAYBE_TIME, "last_used_at": MAYBE_TIME,
                       "previous_valid_until": MAYBE_TIME,
                       "prefix": {"type": "string", "description": "csk_<id>_, to recognise the key."}}),
    "NewApiKey": _object({"api_key": _ref("ApiKey"),
                          "key": {"type": "string", "description": "The whole key, shown only this once."},
                          "message": MESSAGE}),
    "AuditEvent": _object({"seq": INTEGER, "at": TIME, "actor_type": {"enum": list(ACTOR_TYPES)},
                           "actor_id": MAYBE_STRING, "action": STRING, "target_type": MAYBE_STRING,
                           "target_id": MAYBE_STRING, "workspace_id": MAYBE_STRING, "client_address": MAYBE_STRING,
                           "outcome": {"enum": list(OUTCOMES)},
                           "details": {"type": "object", "additionalProperties": True}}),
    "AuditPage": _object({"events": _list(_ref("AuditEvent")),
                          "next_after": {"type": ["integer", "null"],
                                         "description": "Pass as ?after= for the next page; null on the last."}}),
}

_ERRORS = {400: ("BadRequest", "The request was malformed or a field is invalid."),
           401: ("Unauthorized", "No valid credentials, or a wrong password or code."),
           403: ("Forbidden", "The caller may not do this."),
           404: ("NotFound", "No such thing, or the caller is not a member of its workspace."),
           409: ("Conflict", "The request conflicts with the current state."),
           429: ("TooManyRequests", "Too many attempts, or the API key's per-minute limit is spent.")}


def _error_responses() -> dict:
    responses = {name: {"description": description, "content": {"application/json": {"schema": _ref("Error")}}}
                 for name, description in _ERRORS.values()}
    responses["Unauthorized"]["headers"] = {"WWW-Authenticate": {"schema": STRING}}
    responses["TooManyRequests"]["headers"] = {"Retry-After": {"schema": INTEGER,
                                                               "description": "Seconds to wait before retrying."}}
    return responses


# Who may call: `public` needs nothing, `optional` reads a session if sent, `session` needs a signed-in person,
# `operator` an appliance operator, `member` a person in the workspace, `key` a member or a scoped API key.
_SECURITY = {"public": [], "optional": [{}, {"session": []}], "session": [{"session": []}],
             "operator": [{"session": []}], "member": [{"session": []}], "key": None}
# Calls without credentials are limited per client address (429), see server/address_limits.py.
_AUTH_ERRORS = {"public": {400, 429}, "optional": {400, 401, 403, 429}, "session": {400, 401, 403},
                "operator": {400, 401, 403}, "member": {400, 401, 403, 404}, "key": {400, 401, 403, 404, 429}}

_AUDIT_FILTERS = [("actor_id", STRING, "Only events by this actor."),
                  ("action", STRING, "Only events of this action, like workspace.create."),
                  ("outcome", {"enum": list(OUTCOMES)}, "Only events with this outcome."),
                  ("since", TIME, "Only events at or after this ISO 8601 time (UTC if no zone)."),
                  ("until", TIME, "Only events before this ISO 8601 time (UTC if no zone)."),
                  ("after", {"type": "integer", "minimum": 0}, "The next_after of the previous page."),
                  ("limit", {"type": "integer", "minimum": 0, "maximum": 1000, "default": 100}, "Events per page."),
                  ("format", {"enum": ["json", "csv"], "default": "json"}, "csv downloads the page as CSV.")]
_AUDIT_RESPONSE = {"application/json": {"schema": _ref("AuditPage")}, "text/csv": {"schema": STRING}}

W = "/workspaces/{workspace_id}"
_SOURCE_BODY = {"oneOf": [
    _request("kind", "title", "text", kind={"const": "text"}),
    _request("kind", "title", "pairs", kind={"const": "qa"}, pairs=_list(_ref("QAPair"))),
    _request("kind", "url", kind={"enum": ["url", "sitemap"]}, url={"type": "string", "format": "uri"}),
]}
_EDIT_SOURCE_BODY = {"oneOf": [_request("text", optional=("title",)),
                               _request("pairs", optional=("title",), pairs=_list(_ref("QAPair")))]}
_KEY_BODY = _request(
    "name", "scopes", optional=("expires_in_days", "allowed_addresses", "rate_limit_per_minute"),
    scopes=_list({"enum": list(SCOPES)}, minItems=1),
    expires_in_days={"oneOf": [{"type": "integer", "minimum": 1, "maximum": 3650}, {"const": "never"},
                               {"type": "null"}], "description": "Defaults to 90; \"never\" must be explicit."},
    allowed_addresses=_list({"type": "string", "description": "An IP address or CIDR network."}),
    rate_limit_per_minute={"type": "integer", "minimum": 1, "maximum": 10000, "default": 120},
)
_UPLOAD_BODY = {"multipart/form-data": {"schema": _object({"file": BINARY})}}
_CSV_OR_JSON = object()  # marks the audit endpoints, whose 200 is JSON or CSV


def _operations() -> list[tuple]:
    """(method, path, endpoint, summary, who, request body, status, response schema, extra errors) per route."""
    sessions = _paged("sessions", _ref("Session"))
    user = _wrapped("user", _ref("User"))
    workspace = _wrapped("workspace", _ref("Workspace"))
    invitation = _wrapped("invitation", _ref("Invitation"))
    agent = _wrapped("agent", _ref("Agent"))
    source = _wrapped("source", _ref("Source"))
    return [
        ("get", "/openapi.json", "openapi.serve_document", "This OpenAPI document", "public", None, 200,
         {"type": "object", "description": "An OpenAPI 3.1 document."}, set()),
        ("post", "/auth/login", "auth.login", "Log in with email, password and second factor", "public",
         _request("email", "password", optional=("totp_code", "recovery_code")), 200,
         _object({"token": {"type": "string", "description": "The bearer session token."},
                  "session": _ref("Session"), "user": _ref("User"), "second_factor_enrolment_required": BOOLEAN}),
         {401, 403, 429}),
        ("post", "/auth/logout", "auth.logout", "End the caller's session", "session", None, 204, None, set()),
        ("post", "/auth/verify-email", "auth.verify_email", "Verify an email address with the mailed token", "public",
         _request("token"), 200, user, set()),
        ("post", "/auth/password-reset", "auth.request_password_reset", "Mail a password-reset link", "public",
         _request("email"), 202, _object({"message": MESSAGE}), set()),
        ("post", "/auth/password-reset/complete", "auth.complete_password_reset",
         "Set a new password with the mailed token", "public",
         _request("token", "password", optional=("totp_code", "recovery_code")), 200, user, {401, 429}),
        ("post", "/invitations/accept", "auth.accept_invitation",
         "Accept an invitation, creating an account or joining as the signed-in user", "optional",
         _request("token", optional=("password", "display_name")), 200,
         _object({"invitation": _ref("Invitation"), "user_id": STRING, "new_account": BOOLEAN,
                  "email_verification_sent": BOOLEAN}), {404, 409}),
        ("get", "/me", "me.me", "The caller's account, session and workspaces", "session", None, 200,
         _object({"user": _ref("User"), "session": _ref("Session"), "workspaces": _list(_ref("Membership"))}),
         set()),
        ("post", "/me/password", "me.change_password", "Change password, ending the caller's other sessions",
         "session", _request("current_password", "new_password"), 200,
         _object({"message": MESSAGE, "sessions_ended": INTEGER}), set()),
        ("get", "/me/sessions", "me.list_sessions", "The caller's sessions", "session", None, 200, sessions, set()),
        ("delete", "/me/sessions/{session_id}", "me.end_session", "End one of the caller's sessions", "session",
         None, 204, None, {404}),
        ("post", "/me/second-factor", "me.start_second_factor", "Start enrolling a TOTP second factor", "session",
         None, 200, _object({"secret": STRING, "otpauth_uri": STRING, "next": STRING}), {409}),
        ("post", "/me/second-factor/confirm", "me.confirm_second_factor",
         "Confirm the second factor with a code; returns recovery codes", "session", _request("code"), 200,
         _object({"recovery_codes": _list(STRING), "message": MESSAGE}), {409}),
        ("post", "/me/second-factor/disable", "me.disable_second_factor", "Turn the second factor off", "session",
         _request("password"), 204, None, set()),
        ("get", "/workspaces", "workspaces.list_workspaces", "The caller's workspaces, or every one for operators",
         "session", None, 200, _paged("workspaces", _ref("Workspace")), set()),
        ("post", "/workspaces", "workspaces.create_workspace", "Create a workspace", "operator",
         _request("name", optional=("owner_email",)), 201, workspace, {409}),
        ("get", W, "workspaces.get_workspace", "One workspace", "member", None, 200, workspace, set()),
        ("patch", W, "workspaces.update_workspace", "Rename a workspace", "member", _request("name"), 200,
         workspace, {409}),
        ("post", f"{W}/transfer", "workspaces.transfer_workspace", "Transfer ownership to a member", "member",
         _request("user_id"), 200, workspace, {409}),
        ("get", f"{W}/members", "workspaces.list_members", "The workspace's members", "member", None, 200,
         _paged("members", _ref("Member")), set()),
        ("patch", f"{W}/members/{{user_id}}", "workspaces.change_member_role", "Change a member's role", "member",
         _request("role", role={"enum": GRANTABLE_ROLES}), 200,
         _object({"user_id": STRING, "role": {"enum": list(ROLES)}}), {409}),
        ("delete", f"{W}/members/{{user_id}}", "workspaces.remove_member", "Remove a member, or leave", "member",
         None, 204, None, {409}),
        ("get", f"{W}/invitations", "workspaces.list_invitations", "The workspace's invitations", "member", None,
         200, _paged("invitations", _ref("Invitation")), set()),
        ("post", f"{W}/invitations", "workspaces.invite", "Invite someone by email", "member",
         _request("email", "role", role={"enum": GRANTABLE_ROLES}), 201, invitation, {409}),
        ("post", f"{W}/invitations/{{invitation_id}}/resend", "workspaces.resend_invitation",
         "Resend an invitation with a fresh link", "member", None, 201, invitation, {409}),
        ("delete", f"{W}/invitations/{{invitation_id}}", "workspaces.revoke_invitation", "Revoke an invitation",
         "member", None, 204, None, {409}),
        ("get", f"{W}/audit", "workspaces.workspace_audit", "The workspace's audit trail", "member", None, 200,
         _CSV_OR_JSON, set()),
        ("get", f"{W}/agents", "knowledge.list_agents", "The workspace's agents", "key", None, 200,
         _paged("agents", _ref("Agent")), set()),
        ("post", f"{W}/agents", "knowledge.create_agent", "Create an agent", "key",
         {"allOf": [_ref("AgentSettings"), {"required": ["name"]}]}, 201, agent, set()),
        ("get", f"{W}/agents/{{agent_id}}", "knowledge.get_agent", "One agent", "key", None, 200, agent, set()),
        ("patch", f"{W}/agents/{{agent_id}}", "knowledge.update_agent", "Change an agent's settings", "key",
         _ref("AgentSettings"), 200, agent, set()),
        ("delete", f"{W}/agents/{{agent_id}}", "knowledge.delete_agent", "Delete an agent", "key", None, 204, None,
         set()),
        ("post", f"{W}/agents/{{agent_id}}/ask", "knowledge.ask", "Ask an agent a question", "key",
         _request("question", optional=("conversation_id",)), 200, _ref("Answer"), set()),
        ("get", f"{W}/sources", "knowledge.list_sources", "The workspace's training sources", "key", None, 200,
         _paged("sources", _ref("Source")), set()),
        ("post", f"{W}/sources", "knowledge.add_source", "Add pasted text, Q&A pairs, a URL or a sitemap", "key",
         _SOURCE_BODY, 202, source, set()),
        ("post", f"{W}/sources/upload", "knowledge.upload_source", "Upload a file as a source", "key",
         _UPLOAD_BODY, 202, source, set()),
        ("get", f"{W}/sources/{{source_id}}", "knowledge.get_source", "One source", "key", None, 200, source, set()),
        ("get", f"{W}/sources/{{source_id}}/original", "knowledge.source_original",
         "Download what the source was made from", "key", None, 200, BINARY, set()),
        ("patch", f"{W}/sources/{{source_id}}", "knowledge.edit_source", "Edit a text or Q&A source", "key",
         _EDIT_SOURCE_BODY, 202, source, set()),
        ("post", f"{W}/sources/{{source_id}}/refresh", "knowledge.refresh_source", "Fetch and index a source again",
         "key", None, 202, source, set()),
        ("delete", f"{W}/sources/{{source_id}}", "knowledge.delete_source", "Delete a source", "key", None, 204,
         None, set()),
        ("get", f"{W}/api-keys", "api_keys.list_keys", "The workspace's API keys", "member", None, 200,
         _paged("api_keys", _ref("ApiKey")), set()),
        ("post", f"{W}/api-keys", "api_keys.create_key", "Create an API key (shown once)", "member", _KEY_BODY, 201,
         _ref("NewApiKey"), set()),
        ("post", f"{W}/api-keys/{{key_id}}/rotate", "api_keys.rotate_key",
         "Rotate an API key; the old secret works for a grace period", "member", None, 201, _ref("NewApiKey"),
         set()),
        ("delete", f"{W}/api-keys/{{key_id}}", "api_keys.revoke_key", "Revoke an API key", "member", None, 204, None,
         set()),
        ("get", "/users", "users.list_users", "Every user account", "operator", None, 200,
         _paged("users", _ref("User")), set()),
        ("post", "/users/{user_id}/disable", "users.disable_user", "Disable an account, ending its sessions",
         "operator", None, 200, user, {404, 409}),
        ("post", "/users/{user_id}/enable", "users.enable_user", "Enable a disabled account", "operator", None, 200,
         user, {404}),
        ("get", "/users/{user_id}/sessions", "users.user_sessions", "An account's sessions", "operator", None, 200,
         sessions, {404}),
        ("delete", "/users/{user_id}/sessions/{session_id}", "users.end_user_session", "End an account's session",
         "operator", None, 204, None, {404}),
        ("get", "/audit", "audit.appliance_audit", "The whole audit log", "operator", None, 200, _CSV_OR_JSON,
         set()),
    ]


PAGED_ENDPOINTS = {"workspaces.list_workspaces", "workspaces.list_members", "workspaces.list_invitations",
                   "knowledge.list_agents", "knowledge.list_sources", "api_keys.list_keys", "users.list_users",
                   "users.user_sessions", "me.list_sessions"}


def _parameters(path: str, endpoint: str) -> list[dict]:
    params = [{"name": name, "in": "path", "required": True, "schema": STRING}
              for name in re.findall(r"{(\w+)}", path)]
    if endpoint == "workspaces.list_workspaces":
        params.append({"name": "all", "in": "query", "schema": {"enum": ["1", "true"]},
                       "description": "Every workspace on the appliance (operators only)."})
    if endpoint == "audit.appliance_audit":
        params.append({"name": "workspace_id", "in": "query", "schema": STRING,
                       "description": "Only events of this workspace."})
    if endpoint in PAGED_ENDPOINTS:
        params += [{"name": "limit", "in": "query", "schema": {"type": "string", "pattern": "^[0-9]+$"},
                    "description": "Items per page, 1 to 500 (default 100)."},
                   {"name": "after", "in": "query", "schema": STRING,
                    "description": "The next_after of the previous page."}]
    if endpoint in ("audit.appliance_audit", "workspaces.workspace_audit"):
        params += [{"name": name, "in": "query", "schema": schema, "description": description}
                   for name, schema, description in _AUDIT_FILTERS]
    return params


def _operation(path, endpoint, summary, who, request_body, status, schema, extra_errors) -> dict:
    operation = {"operationId": endpoint, "tags": [endpoint.split(".")[0]], "summary": summary}
    parameters = _parameters(path, endpoint)
    if parameters:
        operation["parameters"] = parameters
    if request_body is not None:
        content = request_body if "multipart/form-data" in request_body else {"application/json": {
            "schema": request_body}}
        operation["requestBody"] = {"required": True, "content": content}
    if status == 204:
        success = {"description": "Done; no content."}
    elif schema is _CSV_OR_JSON:
        success = {"description": "A page of events, oldest first.", "content": _AUDIT_RESPONSE}
    elif schema is BINARY:
        success = {"description": "The original bytes, as an attachment.",
                   "content": {"application/octet-stream": {"schema": BINARY}}}
    else:
        success = {"description": {200: "OK.", 201: "Created.", 202: "Accepted; indexing runs in the background."}
                   .get(status, "OK."), "content": {"application/json": {"schema": schema}}}
    operation["responses"] = {str(status): success}
    if endpoint != "openapi.serve_document":
        for code in sorted(_AUTH_ERRORS[who] | extra_errors):
            operation["responses"][str(code)] = {"$ref": f"#/components/responses/{_ERRORS[code][0]}"}
    if _SECURITY[who] is not None:
        operation["security"] = _SECURITY[who]
    return operation


def document() -> dict:
    """The OpenAPI 3.1.0 document describing every `/api/v1` route."""
    paths: dict[str, dict] = {}
    for method, path, *rest in _operations():
        paths.setdefault(f"/api/v1{path}", {})[method] = _operation(path, *rest)
    tags = [{"name": module.blueprint.name, "description": module.__doc__.strip()}
            for module in (auth, me, workspaces, knowledge, api_keys, users, audit)]
    tags.append({"name": blueprint.name, "description": __doc__.splitlines()[0]})
    return {
        "openapi": "3.1.0",
        "info": {"title": "ChatSpark Appliance API", "version": __version__,
                 "description": "Errors are JSON {\"error\": code, \"message\": text}. Send a session token or a "
                                "workspace API key as 'Authorization: Bearer ...'; never in the query string."},
        "servers": [{"url": "/"}],
        "security": [{"session": []}, {"apiKey": []}],
        "tags": tags,
        "paths": paths,
        "components": {
            "schemas": copy.deepcopy(SCHEMAS),
            "responses": _error_responses(),
            "securitySchemes": {
                "session": {"type": "http", "scheme": "bearer",
                            "description": "A session token from POST /api/v1/auth/login."},
                "apiKey": {"type": "http", "scheme": "bearer", "bearerFormat": "csk_<id>_<secret>",
                           "description": "A workspace API key; it reaches only its workspace's agents and sources, "
                                          "as far as its scopes allow."},
            },
        },
    }


@blueprint.get("/openapi.json")
def serve_document():
    return jsonify(document())


if __name__ == "__main__":
    print(json.dumps(document(), sort_keys=True, indent=2))
