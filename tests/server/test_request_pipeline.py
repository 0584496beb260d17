"""What a request costs before the caller is known, and what a hostile body gets back: credentials are checked before
a body is read, each JSON route has its size limit, bodies are parsed strictly, and no error echoes its input."""

from __future__ import annotations

import json

import pytest

from server import json_bodies
from server.app import create_app
from tests.appliance.accounts.account_steps import PASSWORD


@pytest.fixture
def app(services, settings, scheduler):
    return create_app(services, settings=settings.replace(max_json_body_bytes=64 * 1024), scheduler=scheduler)


@pytest.fixture
def world(app, services):
    operator = services.users.create_operator(email="op@example.com", password=PASSWORD)
    workspace = services.workspaces.create(name="Acme", owner_id=operator.id, actor_id=operator.id,
                                           client_address=None)
    client = app.test_client()
    login = client.post("/api/v1/auth/login", json={"email": "op@example.com", "password": PASSWORD})
    assert login.status_code == 200, login.get_json()
    return client, {"Authorization": f"Bearer {login.get_json()['token']}"}, workspace.id


def _parses(monkeypatch) -> list[int]:
    """The sizes of the large JSON texts (request bodies, not the small error answers) parsed from now on."""
    calls = []
    real = json_bodies.parse

    def counting(raw):
        if len(raw) > 10_000:
            calls.append(len(raw))
        return real(raw)

    monkeypatch.setattr(json_bodies, "parse", counting)
    return calls


@pytest.mark.parametrize("credentials", [{}, {"Authorization": "Bearer not-a-real-session-token"},
                                         {"Authorization": "Bearer csk_abcdefabcdefabcd_madeupsecretmadeupsecret"}],
                         ids=["none", "bad-session", "made-up-key"])
def test_a_body_is_never_parsed_for_a_caller_without_valid_credentials(app, world, monkeypatch, credentials):
    client, _, workspace_id = world
    parsed = _parses(monkeypatch)
    big = json.dumps({"kind": "text", "title": "T", "text": "x" * 200_000})

    response = client.post(f"/api/v1/workspaces/{workspace_id}/sources", data=big, headers=credentials,
                           content_type="application/json")

    assert response.status_code == 401
    assert parsed == []
    assert len(response.data) < 500 and b"xxxx" not in response.data


def test_a_json_body_past_its_routes_limit_is_refused_by_its_length_before_it_is_parsed(world, monkeypatch):
    client, auth, workspace_id = world
    parsed = _parses(monkeypatch)
    body = json.dumps({"name": "Helper", "instructions": "x" * 70_000})

    response = client.post(f"/api/v1/workspaces/{workspace_id}/agents", data=body, headers=auth,
                           content_type="application/json")

    assert response.status_code == 413
    assert "65536 bytes" in response.get_json()["message"]
    assert parsed == []


def test_training_text_may_be_as_large_as_an_upload(world):
    client, auth, workspace_id = world
    text = "# Handbook\n\n" + "Parking is in the north garage. " * 4000  # about 128 KB, past the JSON limit

    response = client.post(f"/api/v1/workspaces/{workspace_id}/sources", headers=auth,
                           json={"kind": "text", "title": "Handbook", "text": text})

    assert response.status_code == 202, response.get_json()


@pytest.mark.parametrize(("body", "field"), [
    ({"name": "x" * 60_000}, "name: must be at most 100 characters"),
    ({"name": "Helper", "lead_capture": "y" * 60_000}, "lead_capture: must be one of"),
    ({"name": "Helper", "confidence_threshold": "z" * 60_000}, "confidence_threshold: must be a number"),
    ({"name": "Helper", "q" * 60_000: 1}, "is not a field here"),
], ids=["too-long", "not-in-enum", "wrong-type", "unknown-field"])
def test_a_validation_error_names_the_field_and_rule_and_never_echoes_the_value(world, body, field):
    client, auth, workspace_id = world

    response = client.post(f"/api/v1/workspaces/{workspace_id}/agents", headers=auth, json=body)

    assert response.status_code == 400
    assert field in response.get_json()["message"]
    assert len(response.data) < 1000


@pytest.mark.parametrize(("raw", "message"), [
    ('{"email": "\\ud800@example.com", "password": "x"}', "email: is not valid Unicode text"),
    ('{"email": "a@example.com", "password": "\\udfff"}', "password: is not valid Unicode text"),
    ('{"\\ud800": 1}', "has a key that is not valid Unicode text"),
    ('{"email": "a@example.com", "password": "x", "totp_code": 100000000000000000000000000000}',
     "totp_code: the number is out of range"),
    ('{"email": "a@example.com", "password": "x", "totp_code": 1' + "0" * 5000 + "}", "the number is out of range"),
    ('{"email": "a@example.com", "password": "x", "totp_code": 1e400}', "totp_code: the number is out of range"),
    ('{"email": "a@example.com", "password": NaN}', "NaN, which is not a number JSON allows"),
    ('{"email": ' + "[" * 1000 + "]" * 1000 + "}", "nested deeper than 32 levels"),
    ('{"email": ' + "[" * 40 + "]" * 40 + "}", "nested deeper than 32 levels"),
    ('{"email": ' + "{\"a\": " * 40 + "1" + "}" * 40 + "}", "nested deeper than 32 levels"),
    ('{"email": "a@example.com",', "not valid JSON"),
], ids=["surrogate-value", "surrogate-password", "surrogate-key", "int-past-64-bits", "five-thousand-digits",
        "infinity", "nan", "nested-1000", "nested-40-lists", "nested-40-objects", "truncated"])
def test_a_hostile_json_body_is_a_400_saying_where_never_a_500(app, raw, message):
    response = app.test_client().post("/api/v1/auth/login", data=raw.encode(), content_type="application/json")

    assert response.status_code == 400, response.get_json()
    assert response.get_json()["error"] == "invalid_request"
    assert message in response.get_json()["message"]


def test_a_body_that_is_not_utf8_is_a_400(app):
    response = app.test_client().post("/api/v1/auth/login", data=b'{"email": "\xff\xfe"}',
                                      content_type="application/json")

    assert response.status_code == 400 and "not UTF-8" in response.get_json()["message"]


@pytest.mark.parametrize("number", ["99999999999999999999", "9223372036854775808"])
def test_a_number_in_the_path_past_64_bits_is_a_400_naming_the_parameter(app, number):
    response = app.test_client().post(f"/widget/v1/agents/ag_x/messages/{number}/feedback", json={"rating": "up"})

    assert response.status_code == 400
    assert response.get_json()["message"].startswith("message_id: must be a whole number")


@pytest.mark.parametrize("value", ["²", "1" * 5000, "99999999999999999999", "-1", "１２"])
def test_a_strange_number_in_the_query_is_a_400(world, value):
    client, auth, workspace_id = world

    for path in (f"/api/v1/workspaces?limit={value}", f"/api/v1/audit?after={value}",
                 f"/api/v1/audit?limit={value}", f"/api/v1/jobs/runs?after={value}",
                 f"/api/v1/workspaces/{workspace_id}/conversations?limit={value}"):
        response = client.get(path, headers=auth)
        assert response.status_code == 400, (path, response.get_json())


@pytest.mark.parametrize("name", ["日本語.txt", "Ünïcödé notes.md", "emoji 🚀.txt", "plain-name.txt"])
def test_a_file_of_any_name_uploads_and_downloads_under_that_name(world, name):
    client, auth, workspace_id = world
    from io import BytesIO
    from urllib.parse import unquote

    uploaded = client.post(f"/api/v1/workspaces/{workspace_id}/sources/upload", headers=auth,
                           data={"file": (BytesIO(b"Parking is in the north garage.\n"), name)},
                           content_type="multipart/form-data")
    assert uploaded.status_code == 202, uploaded.get_json()

    response = client.get(f"/api/v1/workspaces/{workspace_id}/sources/{uploaded.get_json()['source']['id']}"
                          "/original", headers=auth)

    assert response.status_code == 200 and response.data == b"Parking is in the north garage.\n"
    disposition = response.headers["Content-Disposition"]
    assert disposition.isascii() and "\r" not in disposition and "\n" not in disposition
    if name.isascii():
        assert disposition == f'attachment; filename="{name}"'
    else:
        assert unquote(disposition.split("filename*=UTF-8''")[1]) == uploaded.get_json()["source"]["filename"]


@pytest.mark.parametrize(("name", "fallback"), [
    ('quote" and; semi%colon.txt', 'quote_ and_ semi_colon.txt'), ("line\r\nInjected: x.txt", "lineInjected: x.txt"),
    ("a\u2028b.txt", "ab.txt"), ("../../etc/passwd", ".._.._etc_passwd"), ("", "download"), ("x" * 500, "x" * 200),
])
def test_a_download_header_holds_any_name_safely(name, fallback):
    from server.downloads import attachment

    header = attachment(name)

    assert header.isascii() and not {"\r", "\n"} & set(header)
    assert header.startswith(f'attachment; filename="{fallback}"')
