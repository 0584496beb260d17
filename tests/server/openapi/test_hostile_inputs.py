"""A hostile-input walk over every route of the OpenAPI document: each path parameter, query parameter and JSON field
in turn gets hostile values (lone surrogates, NUL, CR/LF, U+2028, a megabyte of text, numbers past 64 bits, negative
numbers, nesting 1,000 deep, the wrong type). None may reach a 500: each gets a JSON answer, a 4xx names what was
wrong, and no answer echoes the megabyte back."""

from __future__ import annotations

import copy
import json
from urllib.parse import quote

import pytest

from appliance.conversations.chat import Visitor
from appliance.services import build_scheduler, build_services
from server.app import create_app
from server.openapi.document import document
from tests.appliance.accounts.account_steps import PASSWORD

MEGABYTE = "x" * 1_000_000
TEXTS = ["\ud800", "a\x00b", "a\r\nInjected: header", "a\u2028b\u0085c", MEGABYTE, "", " ", "../../../etc/passwd",
         "' OR 1=1 --", "{{7*7}}<script>alert(1)</script>"]
NUMBERS = [10 ** 30, -(10 ** 30), -1, 0, 2 ** 63, 1.5e308]
OTHERS = [None, True, {"nested": "object"}, ["a", "list"]]
DEEP = json.loads("[" * 900 + "]" * 900)
# In a URL: the same, as a client would put them there (a lone surrogate has no UTF-8, so its 3 invalid bytes).
IN_URL = ["%ED%A0%80", "a%00b", "a%0D%0AInjected:%20header", "a%E2%80%A8b", quote(MEGABYTE[:200_000]), "%20",
          "..%2F..%2Fetc%2Fpasswd", "99999999999999999999", "-1", "1e400", "%FF%FE", "%C0%AF"]
SPEC = document()


def _resolve(schema: dict) -> dict:
    while "$ref" in schema:
        schema = SPEC["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def example(schema: dict, name: str = ""):
    """A small instance the schema accepts: every required field, the first choice of each enum or union."""
    schema = _resolve(schema)
    if "const" in schema:
        return schema["const"]
    if "examples" in schema:
        return schema["examples"][0]
    if "enum" in schema:
        return schema["enum"][0]
    for union in ("oneOf", "anyOf"):
        if union in schema:
            options = [o for o in schema[union] if _resolve(o).get("type") != "null"]
            return example(options[0])
    kind = schema.get("type", "object")
    kind = next((k for k in kind if k != "null"), "null") if isinstance(kind, list) else kind
    if kind == "object":
        properties = schema.get("properties", {})
        return {key: example(properties.get(key, {"type": "string"}), key) for key in schema.get("required", [])}
    if kind == "array":
        return [example(schema.get("items", {"type": "string"})) for _ in range(schema.get("minItems", 0))]
    if kind == "string":
        if schema.get("format") == "uri":
            return "https://intranet.example.com/page"
        if "email" in name:
            return "someone@example.com"
        if "passphrase" in name or "password" in name:
            return "quartz meadow lantern 93 violet"
        return "x" * max(1, schema.get("minLength", 1))
    if kind == "integer":
        return schema.get("minimum", 1)
    if kind == "number":
        return schema.get("minimum", 0.5)
    if kind == "boolean":
        return False
    return None


def leaves(schema: dict, path: tuple = (), depth: int = 0) -> list[tuple]:
    """The places in a body (as key paths) where a value goes, three levels deep at most."""
    schema = _resolve(schema)
    for union in ("oneOf", "anyOf"):
        if union in schema:
            return [leaf for option in schema[union] for leaf in leaves(option, path, depth)]
    found = [path] if path else []
    if depth < 3 and schema.get("type") == "object" or "properties" in schema:
        for name, child in schema.get("properties", {}).items():
            found += leaves(child, (*path, name), depth + 1)
    if depth < 3 and schema.get("type") == "array" and "items" in schema:
        found += leaves(schema["items"], (*path, 0), depth + 1)
    return list(dict.fromkeys(found))


def _child_schema(schema: dict, part) -> dict:
    """The schema of `part` (a property name or a list index) inside `schema`, through unions."""
    schema = _resolve(schema)
    for union in ("oneOf", "anyOf"):
        for option in schema.get(union, []):
            found = _child_schema(option, part)
            if found:
                return found
    if isinstance(part, int):
        return schema.get("items", {})
    return schema.get("properties", {}).get(part, {})


def with_value(body, path: tuple, value, schema: dict):
    """A copy of `body` with `value` at `path`, the containers on the way made as the schema wants them."""
    body = copy.deepcopy(body)
    if not path:
        return value
    target, here = body, schema
    for part in path[:-1]:
        here = _child_schema(here, part)
        if isinstance(part, int):
            while len(target) <= part:
                target.append(example(here))
        elif not isinstance(target.get(part), (dict, list)):
            target[part] = example(here)
        target = target[part]
    last = path[-1]
    if isinstance(last, int):
        while len(target) <= last:
            target.append(None)
    target[last] = value
    return body


def base_for(schema: dict, leaf: tuple):
    """A valid body of the form (of a union's forms) that has a place for `leaf`."""
    schema = _resolve(schema)
    for union in ("oneOf", "anyOf"):
        for option in schema.get(union, []):
            if _child_schema(option, leaf[0]):
                return example(option)
    return example(schema)


def _operations() -> list[tuple[str, str, dict]]:
    return [(method, path, operation) for path, methods in SPEC["paths"].items()
            for method, operation in methods.items()]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """An appliance with one of everything the routes name, and who may call them all."""
    from appliance import settings as settings_module
    from appliance.bootstrap import initialise, open_appliance
    from appliance.clock import SystemClock
    from appliance.storage.layout import Layout

    base = tmp_path_factory.mktemp("hostile")
    layout = Layout.of(base / "data", base / "keys")
    initialise(layout, clock=SystemClock())
    appliance = open_appliance(layout, clock=SystemClock())
    settings = settings_module.load(environ={}).replace(
        argon2_time_cost=1, argon2_memory_kib=1024, argon2_parallelism=1, public_requests_per_minute=10 ** 6,
        failed_credentials_per_minute=10 ** 6, widget_requests_per_minute=10 ** 6,
        login_max_failures_per_account=10 ** 6, login_max_failures_per_address=10 ** 6)
    services = build_services(appliance, settings)
    scheduler = build_scheduler(services, jobs=[])
    app = create_app(services, settings=settings, scheduler=scheduler)
    client = app.test_client()
    operator = services.users.create_operator(email="op@example.com", password=PASSWORD)
    workspace = services.workspaces.create(name="Acme", owner_id=operator.id, actor_id=operator.id,
                                           client_address=None)
    sources = services.knowledge.sources(workspace.id)
    source = sources.add_text(title="Handbook", text="# Parking\n\nStaff park in the north garage.\n")
    agent = services.agents.of(workspace.id).create({"name": "Helper", "allowed_origins": ["https://intra.example"]})
    assert services.knowledge.wait_idle(30)
    visitor = Visitor("visitor-1", "https://intra.example", "https://intra.example/", "192.0.2.5")
    exchange = services.conversations.chat(workspace.id).ask(agent, "Where do staff park?", visitor=visitor,
                                                            conversation_id="c" * 32)
    lead = services.conversations.leads(workspace.id).submit(
        agent, conversation_id=exchange.conversation_id, visitor=visitor, fields={"email": "lead@example.com"},
        consent=True, consent_version=agent.consent_version)

    def login() -> dict:
        response = client.post("/api/v1/auth/login", json={"email": "op@example.com", "password": PASSWORD})
        assert response.status_code == 200, response.get_json()
        return {"Authorization": f"Bearer {response.get_json()['token']}"}

    auth = login()
    key = client.post(f"/api/v1/workspaces/{workspace.id}/api-keys", headers=auth,
                      json={"name": "Integration", "scopes": ["chat"], "expires_in_days": 30}).get_json()
    invitation = client.post(f"/api/v1/workspaces/{workspace.id}/invitations", headers=auth,
                             json={"email": "new@example.com", "role": "viewer"}).get_json()
    session_id = client.get("/api/v1/me", headers=auth).get_json()["session"]["id"]
    provider = services.sso_providers.create({"name": "Corp", "issuer": "https://idp.example.com",
                                              "client_id": "chatspark", "client_secret": "s3cret"},
                                             actor_id=operator.id, client_address=None)
    metrics_token = services.metrics_tokens.create(name="Prometheus", actor_id=operator.id, client_address=None)[1]
    known = {"workspace_id": workspace.id, "agent_id": agent.id, "source_id": source.id,
             "conversation_id": exchange.conversation_id, "lead_id": lead.id, "user_id": operator.id,
             "session_id": session_id, "key_id": key["api_key"]["id"],
             "invitation_id": invitation["invitation"]["id"], "backup_id": "0" * 16, "job_id": "prune_expired",
             "provider_id": provider.id, "token_id": metrics_token.id}
    yield client, login, known
    services.knowledge.close()
    appliance.close()


def _check(response, what: str, problems: list[str], *, field: str | None = None) -> None:
    status = response.status_code
    if status >= 500:
        problems.append(f"{what}: {status} {response.get_data(as_text=True)[:200]}")
        return
    if status >= 400:
        answer = response.get_json(silent=True)
        if not isinstance(answer, dict) or not {"error", "message"} <= set(answer):
            problems.append(f"{what}: {status} is not a JSON error: {response.get_data()[:200]!r}")
            return
        if len(response.data) > 4000:
            problems.append(f"{what}: a {len(response.data)}-byte error answer echoes its input")
        if field is not None and status == 400 and answer["error"] == "invalid_request" \
                and field.lower() not in answer["message"].lower():
            problems.append(f"{what}: the 400 does not name '{field}': {answer['message'][:200]}")


@pytest.mark.parametrize(("method", "path", "operation"), _operations(),
                         ids=[op["operationId"] for _, _, op in _operations()])
def test_hostile_values_in_every_parameter_and_field_never_reach_a_500(world, method, path, operation):
    client, login, known = world
    auth = login()
    names = [p["name"] for p in operation.get("parameters", []) if p["in"] == "path"]
    queries = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
    content = operation.get("requestBody", {}).get("content", {})
    schema = content.get("application/json", {}).get("schema")
    body = example(schema) if schema is not None else None
    problems: list[str] = []

    def url(**hostile: str) -> str:
        filled = path
        for name in names:
            filled = filled.replace("{" + name + "}", hostile.get(name) or quote(known[name], safe=""))
        return filled

    def send(target: str, payload=None, raw: bytes | None = None):
        if "multipart/form-data" in content:
            return client.open(target, method=method.upper(), headers=auth, data={})
        if raw is not None:
            return client.open(target, method=method.upper(), headers=auth, data=raw,
                               content_type="application/json")
        return client.open(target, method=method.upper(), headers=auth, json=payload)

    for name in names:
        for value in IN_URL:
            _check(send(url(**{name: value}), body), f"path {name}={value[:20]!r}", problems)
    for name in queries:
        for value in IN_URL:
            _check(send(f"{url()}?{name}={value}", body), f"query {name}={value[:20]!r}", problems)
    if schema is not None:
        for leaf in leaves(schema):
            field = str(leaf[-1]) if isinstance(leaf[-1], str) else None
            for value in [*TEXTS, *NUMBERS, *OTHERS, DEEP]:
                hostile = with_value(base_for(schema, leaf), leaf, value, schema)
                raw = json.dumps(hostile, allow_nan=True).encode()
                _check(send(url(), raw=raw), f"body {'/'.join(map(str, leaf))}={str(value)[:20]!r}", problems,
                       field=field)
        _check(send(url(), raw=b"[" * 1000 + b"]" * 1000), "body nested 1000 deep", problems)

    assert problems == [], "\n".join(problems)


WIDGET_ROUTES = [("session", {"token": "x", "restart": False}), ("messages", {"text": "Where do staff park?"}),
                 ("messages/1/feedback", {"rating": "up"}),
                 ("leads", {"fields": {"email": "a@example.com"}, "consent": True, "consent_version": 1})]


@pytest.mark.parametrize(("route", "body"), WIDGET_ROUTES, ids=[route for route, _ in WIDGET_ROUTES])
def test_hostile_values_in_every_widget_field_never_reach_a_500(world, route, body):
    client, _, known = world
    agent = client.application.extensions["chatspark.services"].agents.of(known["workspace_id"]).get(
        known["agent_id"])
    origin = {"Origin": "https://intra.example"}
    session = client.post(f"/widget/v1/agents/{agent.public_id}/session", json={}, headers=origin).get_json()
    headers = {**origin, "Authorization": f"Bearer {session['token']}"}
    problems: list[str] = []
    for name in body:
        for value in [*TEXTS, *NUMBERS, *OTHERS, DEEP]:
            raw = json.dumps({**body, name: value}, allow_nan=True).encode()
            response = client.post(f"/widget/v1/agents/{agent.public_id}/{route}", data=raw, headers=headers,
                                   content_type="application/json")
            _check(response, f"widget {route} {name}={str(value)[:20]!r}", problems)
    for value in IN_URL:
        _check(client.post(f"/widget/v1/agents/{value}/{route}", json=body, headers=headers),
               f"widget agent id {value[:20]!r}", problems)
    assert problems == [], "\n".join(problems)
