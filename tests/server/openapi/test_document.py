"""The OpenAPI document: valid 3.1, describing exactly the /api/v1 routes, served without login, shipped current."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from appliance.conversations.chat import Visitor
from server.app import create_app
from server.openapi import document as openapi

SHIPPED = Path(__file__).resolve().parents[3] / "docs" / "openapi.json"
METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture
def app(services, settings, scheduler):  # `scheduler` comes from tests/server/conftest.py
    return create_app(services, settings=settings, scheduler=scheduler)


def _routes(app) -> dict[tuple[str, str], str]:
    routes = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                routes[(method.lower(), path)] = rule.endpoint
    return routes


def _described(document: dict) -> dict[tuple[str, str], dict]:
    return {(method, path): operation for path, item in document["paths"].items()
            for method, operation in item.items() if method in METHODS}


def test_the_document_is_valid_openapi_3_1():
    document = openapi.document()
    assert document["openapi"] == "3.1.0"
    validate(document, cls=OpenAPIV31SpecValidator)


def test_every_api_route_is_described_and_nothing_else(app):
    routes, described = _routes(app), _described(openapi.document())
    assert sorted(set(routes) - set(described)) == [], "routes without a description"
    assert sorted(set(described) - set(routes)) == [], "descriptions of routes the app does not have"


def test_each_operation_is_named_after_its_flask_endpoint(app):
    routes, described = _routes(app), _described(openapi.document())
    assert {key: op["operationId"] for key, op in described.items()} == routes


def test_public_endpoints_ask_for_no_credentials():
    described = _described(openapi.document())
    for path in ("/auth/login", "/auth/verify-email", "/auth/password-reset", "/auth/password-reset/complete"):
        assert described[("post", f"/api/v1{path}")]["security"] == []
    assert described[("get", "/api/v1/openapi.json")]["security"] == []
    assert described[("post", "/api/v1/invitations/accept")]["security"] == [{}, {"session": []}]
    assert "security" not in described[("post", "/api/v1/workspaces/{workspace_id}/agents/{agent_id}/ask")]


def test_every_error_response_uses_the_shared_error_schema():
    document = openapi.document()
    for (method, path), operation in _described(document).items():
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                name = response["$ref"].rsplit("/", 1)[1]
                schema = document["components"]["responses"][name]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, status)
    assert document["components"]["schemas"]["Error"]["required"] == ["error", "message"]


def test_the_document_is_served_without_login(app):
    response = app.test_client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.get_json() == openapi.document()


def test_the_shipped_document_is_current():
    assert json.loads(SHIPPED.read_text()) == openapi.document(), \
        "regenerate it: python -m server.openapi.document > docs/openapi.json"


def test_real_responses_match_their_documented_schemas(app, services):
    """Walk a signed-in operator through the API; each answer must fit the schema its operation promises."""
    document = openapi.document()
    described = _described(document)
    routes = {(method, re.sub(r"\{\w+\}", "[^/]+", path)): path for method, path in described}
    operator = services.users.create_operator(email="op@example.com", password="a long enough passphrase for tests")
    client = app.test_client()

    def call(method: str, url: str, **kwargs):
        response = client.open(url, method=method.upper(), **kwargs)
        # A literal segment wins over a placeholder, as in Flask: /conversations/export is not a conversation id.
        matching = [p for (m, pattern), p in routes.items() if m == method and re.fullmatch(pattern, url.split("?")[0])]
        path = min(matching, key=lambda p: p.count("{"))
        documented = described[(method, path)]["responses"]
        assert str(response.status_code) in documented, (method, url, response.status_code, response.get_json())
        content = documented[str(response.status_code)].get("content", {}).get("application/json")
        if content is not None:
            Draft202012Validator({**content["schema"], "components": document["components"]}).validate(
                response.get_json())
        return response.get_json()

    login = call("post", "/api/v1/auth/login",
                 json={"email": "op@example.com", "password": "a long enough passphrase for tests"})
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {login['token']}"
    call("get", "/api/v1/me")
    call("get", "/api/v1/me/sessions")
    w = "/api/v1/workspaces/" + call("post", "/api/v1/workspaces", json={"name": "Acme"})["workspace"]["id"]
    call("get", "/api/v1/workspaces")
    call("get", "/api/v1/workspaces?all=1")
    call("patch", w, json={"name": "Acme Ltd"})
    call("get", f"{w}/members")
    call("post", f"{w}/invitations", json={"email": "new@example.com", "role": "editor"})
    call("get", f"{w}/invitations")
    agent = call("post", f"{w}/agents", json={"name": "Helper", "allowed_origins": ["https://example.com"]})["agent"]
    call("patch", f"{w}/agents/{agent['id']}", json={"generator": None})
    call("get", f"{w}/agents")
    call("post", f"{w}/sources", json={"kind": "qa", "title": "FAQ",
                                       "pairs": [{"question": "Opening hours?", "answer": "Nine to five."}]})
    call("get", f"{w}/sources")
    asked = call("post", f"{w}/agents/{agent['id']}/ask", json={"question": "Opening hours?"})
    call("post", f"{w}/agents/{agent['id']}/ask", json={"question": "Who won the 1954 World Cup?",
                                                       "conversation_id": asked["conversation_id"]})
    workspace_id = w.rsplit("/", 1)[1]
    lead = services.conversations.leads(workspace_id).submit(
        services.agents.of(workspace_id).get(agent["id"]), conversation_id="c" * 32,
        visitor=Visitor("visitor", "https://example.com"), fields={"email": "ann@example.com"}, consent=True,
        consent_version=1)
    call("get", f"{w}/conversations?limit=1")
    call("get", f"{w}/conversations/{asked['conversation_id']}")
    call("get", f"{w}/conversations/export?format=json")
    call("get", f"{w}/leads")
    call("get", f"{w}/leads/{lead.id}")
    call("get", f"{w}/analytics")
    call("get", f"{w}/conversations?outcome=sometimes")
    call("delete", f"{w}/conversations/{'c' * 32}")
    call("get", f"{w}/leads/{lead.id}")
    call("delete", f"{w}/leads/{lead.id}")
    call("post", f"{w}/conversations/delete", json={"ids": [asked["conversation_id"], "gone"]})
    key = call("post", f"{w}/api-keys", json={"name": "site", "scopes": ["chat"]})["api_key"]
    call("post", f"{w}/api-keys/{key['id']}/rotate")
    call("get", f"{w}/api-keys")
    call("get", "/api/v1/users")
    call("get", f"/api/v1/users/{operator.id}/sessions")
    call("get", f"{w}/audit?limit=2")
    call("get", "/api/v1/audit")
    call("get", f"{w}/agents/no-such-agent")
    call("post", "/api/v1/auth/logout")
