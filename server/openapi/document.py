"""The OpenAPI 3.1 description of `/api/v1`, served at `/api/v1/openapi.json` and shipped as `docs/openapi.json`.

Regenerate the shipped file with `python -m server.openapi.document > docs/openapi.json`; a test keeps the two equal
and checks that every route of the app is described here and nothing else is.
"""

from __future__ import annotations

import copy
import json
import re

from flask import Blueprint, jsonify

from appliance import __version__
from server.api import AREAS
from server.openapi.operations import W, operations
from server.openapi.parameters import AUDIT_FILTERS, CSV_OR_JSON, QUERY_PARAMETERS, Download
from server.openapi.schemas import BINARY, INTEGER, SCHEMAS, STRING, ref

blueprint = Blueprint("openapi", __name__)

_ERRORS = {400: ("BadRequest", "The request was malformed or a field is invalid."),
           401: ("Unauthorized", "No valid credentials, or a wrong password or code."),
           403: ("Forbidden", "The caller may not do this."),
           404: ("NotFound", "No such thing, or the caller is not a member of its workspace."),
           409: ("Conflict", "The request conflicts with the current state."),
           429: ("TooManyRequests", "Too many attempts, or the API key's per-minute limit is spent."),
           503: ("ServiceUnavailable", "A service the request needs could not be reached (an LDAP directory).")}


def _error_responses() -> dict:
    responses = {name: {"description": description, "content": {"application/json": {"schema": ref("Error")}}}
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

_AUDIT_RESPONSE = {"application/json": {"schema": ref("AuditPage")}, "text/csv": {"schema": STRING}}


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
                   for name, schema, description in AUDIT_FILTERS]
    params += [{"name": name, "in": "query", "schema": schema, "description": description}
               for name, schema, description in QUERY_PARAMETERS.get(endpoint, [])]
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
    elif schema is CSV_OR_JSON:
        success = {"description": "A page of events, oldest first.", "content": _AUDIT_RESPONSE}
    elif isinstance(schema, Download):
        success = {"description": schema.description, "content": schema.content,
                   "headers": {"Content-Disposition": {"schema": STRING, "description": "attachment; filename=..."}}}
    elif schema is BINARY:
        success = {"description": "The original bytes, as an attachment.",
                   "content": {"application/octet-stream": {"schema": BINARY}}}
    else:
        success = {"description": {200: "OK.", 201: "Created.", 202: "Accepted; the work goes on in the background."}
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
    for method, path, *rest in operations():
        if method != "get" and path.startswith(W):
            rest[-1] = rest[-1] | {409}  # a cancelled workspace is read-only (server/auth.py)
        paths.setdefault(f"/api/v1{path}", {})[method] = _operation(path, *rest)
    tags = [{"name": module.blueprint.name, "description": module.__doc__.strip()} for module in AREAS]
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


def callers_by_endpoint() -> dict[str, str]:
    """Who may call each API endpoint (public, optional, session, operator, member, key), by Flask endpoint name."""
    return {endpoint: who for _, _, endpoint, _, who, *_ in operations()}


@blueprint.get("/openapi.json")
def serve_document():
    return jsonify(document())


if __name__ == "__main__":
    print(json.dumps(document(), sort_keys=True, indent=2))
