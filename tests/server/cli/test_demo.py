"""`chatspark demo create`: the demo workspace `make run` sets up, with an agent that answers from the demo content."""

from __future__ import annotations

from appliance.bootstrap import open_appliance
from appliance.clock import SystemClock
from appliance.services import build_services
from appliance.settings import load
from appliance.storage.layout import Layout
from tests.running import chatspark, free_port
from tests.server.conftest import init_appliance


def test_demo_workspace_is_created_once_with_an_agent_that_answers(tmp_path):
    (tmp_path / "pw.txt").write_text("correct horse battery staple demo")
    data_dir, key_dir = init_appliance(tmp_path, "--operator-email", "admin@demo.test",
                                       "--password-file", str(tmp_path / "pw.txt"))
    dirs = ("--data-dir", str(data_dir), "--key-dir", str(key_dir))

    first = chatspark("demo", "create", *dirs, "--owner-email", "admin@demo.test")
    assert first.returncode == 0, first.stderr
    assert "trained on 1 demo document" in first.stdout
    again = chatspark("demo", "create", *dirs, "--owner-email", "admin@demo.test")
    assert again.returncode == 0 and "exists" in again.stdout

    appliance = open_appliance(Layout.of(data_dir, key_dir), clock=SystemClock())
    services = build_services(appliance, load(environ={}))
    try:
        [workspace] = services.workspaces.list_all()
        [agent] = services.agents.of(workspace.id).list()
        reply = services.conversations.chat(workspace.id).ask(agent, "How many days of paid leave do I get?").reply
        assert reply.answered and "28 days" in reply.text
    finally:
        services.knowledge.close()
        appliance.close()


def test_demo_needs_an_existing_owner(tmp_path):
    data_dir, key_dir = init_appliance(tmp_path)
    result = chatspark("demo", "create", "--data-dir", str(data_dir), "--key-dir", str(key_dir),
                       "--owner-email", "nobody@demo.test")
    assert result.returncode == 1 and "no account uses nobody@demo.test" in result.stderr


def test_demo_site_embeds_the_agent_and_its_origins_are_allowed(tmp_path):
    (tmp_path / "pw.txt").write_text("correct horse battery staple demo")
    data_dir, key_dir = init_appliance(tmp_path, "--operator-email", "admin@demo.test",
                                       "--password-file", str(tmp_path / "pw.txt"))
    dirs = ("--data-dir", str(data_dir), "--key-dir", str(key_dir))
    assert chatspark("demo", "create", *dirs, "--owner-email", "admin@demo.test").returncode == 0
    assert not (data_dir / "demo-site").exists()  # no page unless asked for

    result = chatspark("demo", "create", *dirs, "--owner-email", "admin@demo.test", "--site-port", "9444",
                       "--appliance-url", "https://appliance.test:8443")
    assert result.returncode == 0, result.stderr
    page = (data_dir / "demo-site" / "index.html").read_text()
    appliance = open_appliance(Layout.of(data_dir, key_dir), clock=SystemClock())
    services = build_services(appliance, load(environ={}))
    try:
        [workspace] = services.workspaces.list_all()
        [agent] = services.agents.of(workspace.id).list()
        assert agent.allowed_origins == ["https://localhost:9444", "https://127.0.0.1:9444"]
    finally:
        services.knowledge.close()
        appliance.close()
    assert f'<script src="https://appliance.test:8443/widget.js" data-agent="{agent.public_id}" defer></script>' in page
    assert "{{" not in page and (data_dir / "demo-site" / "it.html").exists()


def test_serve_refuses_a_demo_site_port_without_a_demo_page(tmp_path):
    data_dir, key_dir = init_appliance(tmp_path)
    site_port = free_port()
    result = chatspark("serve", "--data-dir", str(data_dir), "--key-dir", str(key_dir), "--port", str(free_port()),
                       "--demo-site-port", str(site_port))
    assert result.returncode == 1 and f"demo create --site-port {site_port}" in result.stderr
