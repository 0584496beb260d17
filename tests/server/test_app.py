"""The Flask app through its test client: health endpoints, security headers, JSON errors."""

from __future__ import annotations

import pytest

from appliance.services import build_scheduler
from server.app import create_app


@pytest.fixture
def client(services, settings, scheduler):
    app = create_app(services, settings=settings, scheduler=scheduler)

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals x'00112233445566778899aabbccddeeff'")

    return app.test_client()


def test_healthz_answers_without_login(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "alive"}


def test_readyz_reports_databases_disk_and_scheduler(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ready", "checks": {"databases": "ok", "disk": "ok", "scheduler": "ok"}}


def test_readyz_is_not_ready_without_a_running_scheduler(services, settings):
    scheduler = build_scheduler(services)
    client = create_app(services, settings=settings, scheduler=scheduler).test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["scheduler"] == "not running"


def test_readyz_is_not_ready_when_the_control_database_is_closed(appliance, services, settings, scheduler):
    client = create_app(services, settings=settings, scheduler=scheduler).test_client()
    appliance.control_db.close()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert "closed" in response.get_json()["checks"]["databases"]


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/no-such-page", "/ca.crt"])
def test_every_response_carries_security_headers(client, path):
    headers = client.get(path).headers
    max_age = int(headers["Strict-Transport-Security"].split("max-age=")[1].split(";")[0])
    assert max_age >= 31_536_000
    csp = headers["Content-Security-Policy"]
    assert "object-src 'none'" in csp and "base-uri 'none'" in csp and "frame-ancestors 'none'" in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"


def test_api_and_json_responses_are_not_cached(client):
    assert client.get("/api/v1/anything").headers["Cache-Control"] == "no-store"
    assert client.get("/readyz").headers["Cache-Control"] == "no-store"


def test_unknown_route_is_a_json_404(client):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    body = response.get_json()
    assert body["error"] == "not_found"
    assert body["message"]


def test_wrong_method_is_a_json_405_with_allow(client):
    response = client.post("/healthz")
    assert response.status_code == 405
    assert response.get_json()["error"] == "method_not_allowed"
    assert "GET" in response.headers["Allow"]


def test_unexpected_error_is_json_without_traceback_or_secrets(client, caplog):
    response = client.get("/boom")
    assert response.status_code == 500
    assert response.get_json() == {"error": "internal_error",
                                   "message": "the appliance hit an unexpected error; it has been logged"}
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and "secret internals" not in text
    assert any("unhandled error" in r.getMessage() for r in caplog.records)


def test_oversized_body_is_a_json_413(services, settings, scheduler):
    small = settings.replace(max_request_body_bytes=1000)
    client = create_app(services, settings=small, scheduler=scheduler).test_client()

    response = client.post("/healthz", data=b"x" * 5000)
    assert response.status_code == 413
    assert response.get_json()["error"] == "request_entity_too_large"


def test_ca_certificate_is_served_as_pem(client, appliance):
    response = client.get("/ca.crt")
    assert response.status_code == 200
    assert response.data == appliance.layout.ca_cert.read_bytes()
    assert response.data.startswith(b"-----BEGIN CERTIFICATE-----")


def test_landing_page_shows_version_readiness_and_fingerprint(client, appliance):
    from appliance.keys import certificates

    response = client.get("/")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    fingerprint = certificates.fingerprint(certificates.load_certificate(appliance.layout.ca_cert.read_bytes()))
    assert fingerprint in page and "Running and ready" in page and appliance.appliance_id in page
    with client.get("/static/appliance.css") as stylesheet:
        assert stylesheet.status_code == 200 and b"font" in stylesheet.data


def test_api_refuses_credentials_in_the_query_string(client):
    response = client.get("/api/v1/me?access_token=abc")
    assert response.status_code == 400
    assert "query string" in response.get_json()["message"]


def test_api_without_credentials_is_401_with_a_bearer_challenge(client):
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.get_json()["error"] == "authentication_failed"


def test_malformed_json_body_is_a_clear_400(client):
    response = client.post("/api/v1/auth/login", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"
    response = client.post("/api/v1/auth/login", json={"email": 5, "password": "x"})
    message = response.get_json()["message"]
    assert response.status_code == 400 and "email" in message and "string" in message


def test_json_bodies_are_checked_against_the_openapi_schema_before_the_view(client):
    response = client.post("/api/v1/auth/login", json={"email": "a@example.com"})
    assert response.status_code == 400
    assert "password" in response.get_json()["message"] and "required" in response.get_json()["message"]
    response = client.post("/api/v1/auth/login", data="[]", content_type="application/json")
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_request"
