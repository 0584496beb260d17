"""The agent preview page in the real Flask app: only for the workspace's signed-in people, back there after logging
in, with the agent's widget embedded from the appliance itself."""

from __future__ import annotations

import re

import pytest

from server.app import create_app

PASSWORD = "a long enough passphrase for tests"
BASE = "https://appliance.test"


@pytest.fixture
def preview(services, settings):
    """An operator-owned workspace with one agent, and the path of that agent's preview page."""
    owner = services.users.create_operator(email="owner@example.com", password=PASSWORD)
    workspace = services.workspaces.create(name="Acme", owner_id=owner.id, actor_id=owner.id, client_address=None)
    agent = services.agents.of(workspace.id).create({"name": "Acme helper", "allowed_origins": [
        "https://intranet.example.com"]})
    client = create_app(services, settings=settings).test_client()
    client.agent, client.workspace_id = agent, workspace.id
    client.path = f"/workspaces/{workspace.id}/agents/{agent.id}/preview"
    yield client
    services.knowledge.close()


def log_in(client, email: str, *, next_path: str | None) -> object:
    page = client.get("/login" + (f"?next={next_path}" if next_path else ""), base_url=BASE).get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    fields = {"csrf_token": csrf, "email": email, "password": PASSWORD, "totp_code": ""}
    hidden_next = re.search(r'name="next" type="hidden" value="([^"]*)"', page)
    if hidden_next:
        fields["next"] = hidden_next.group(1)
    return client.post("/login", data=fields, base_url=BASE)


def test_signed_out_the_preview_asks_for_a_login_and_comes_back_to_it(preview):
    first = preview.get(preview.path, base_url=BASE)
    assert first.status_code == 303 and first.headers["Location"] == f"/login?next={preview.path}"
    logged_in = log_in(preview, "owner@example.com", next_path=preview.path)
    assert logged_in.status_code == 303 and logged_in.headers["Location"] == preview.path

    page = preview.get(preview.path, base_url=BASE)
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "Preview of Acme helper" in text
    assert f'<script src="/widget.js" data-agent="{preview.agent.public_id}" defer></script>' in text
    assert 'id="chatspark-preview-status"' in text and "<code>https://intranet.example.com</code>" in text
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]


def test_the_preview_is_for_the_workspaces_people_only(preview, services):
    services.users.create_operator(email="other@example.com", password=PASSWORD)
    log_in(preview, "other@example.com", next_path=None)
    page = preview.get(preview.path, base_url=BASE)
    assert page.status_code == 404 and preview.agent.public_id not in page.get_data(as_text=True)


@pytest.mark.parametrize("target", ["//evil.example/x", "/\\evil.example", "https://evil.example/",
                                    "/%2F%2Fevil.example", "/\t/evil.example"])
def test_logging_in_never_leads_to_another_site(preview, target):
    page = preview.get("/login", query_string={"next": target}, base_url=BASE).get_data(as_text=True)
    assert 'name="next"' not in page
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = preview.post("/login", data={"csrf_token": csrf, "email": "owner@example.com", "password": PASSWORD,
                                            "totp_code": "", "next": target}, base_url=BASE)
    assert response.status_code == 303 and response.headers["Location"] == "/account"
