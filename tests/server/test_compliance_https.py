"""The compliance report on a live appliance: `chatspark report compliance` while the service runs measures its
listener (TLS 1.3 accepted, TLS 1.2 refused), and a broken control (the key directory opened to others, no verified
backup) shows as failed in the page and in the exit status; operators get the same page from the API, audited."""

from __future__ import annotations

import json

import pytest

from tests.running import chatspark
from tests.server.conftest import serve_with_operator

OPERATOR = ("operator@example.com", "correct horse battery staple for compliance")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    running = serve_with_operator(tmp_path_factory.mktemp("compliance"), OPERATOR)
    yield running
    running.stop()


def _report(served, out, *extra):
    return chatspark("report", "compliance", "--data-dir", str(served.data_dir), "--key-dir", str(served.key_dir),
                     "--out", str(out), *extra)


def test_the_cli_measures_the_running_listener_and_shows_broken_controls_as_failed(served, tmp_path):
    served.key_dir.chmod(0o755)
    try:
        result = _report(served, tmp_path / "report.json", "--json")
    finally:
        served.key_dir.chmod(0o700)
    assert result.returncode == 5, result.stderr
    controls = {c["id"]: c for c in json.loads((tmp_path / "report.json").read_text())["controls"]}
    assert controls["tls13_only"]["status"] == "pass", controls["tls13_only"]
    assert any("TLS 1.2" in line and "refused" in line for line in controls["tls13_only"]["evidence"])
    assert controls["keys_apart"]["status"] == "fail" and controls["tested_backups"]["status"] == "fail"
    assert "keys_apart" in result.stdout and "tested_backups" in result.stdout
    assert (tmp_path / "report.json").stat().st_mode & 0o777 == 0o600

    page = _report(served, tmp_path / "report.html")
    html = (tmp_path / "report.html").read_text()
    assert page.returncode == 5 and "FAILED" in html and "keys_apart" not in html  # promises, not ids
    assert "Keys are kept apart from the data they protect" in html


def test_operators_get_the_page_from_the_api_and_it_is_audited(served):
    status, body = served.api("POST", "/api/v1/auth/login", {"email": OPERATOR[0], "password": OPERATOR[1]})
    token = body["token"]
    status, headers, page = served.get("/api/v1/reports/compliance", headers={"Authorization": f"Bearer {token}"})
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert "attachment" in headers["content-disposition"] and b"compliance evidence" in page
    assert served.get("/api/v1/reports/compliance")[0] == 401
    status, audit = served.api("GET", "/api/v1/audit?action=report.compliance", token=token)
    assert any(e["actor_type"] == "user" for e in audit["events"])
