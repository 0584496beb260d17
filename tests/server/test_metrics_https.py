"""/metrics through the real stack (Caddy, TLS 1.3, waitress): refused without a metrics token, or with a wrong,
revoked or expired one; scraped with one, its counters and gauges move as a chat, a scheduled job and a backup
happen, and no label names a workspace, an agent or a path with an id in it."""

from __future__ import annotations

import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.server.conftest import serve_with_operator

OPERATOR = ("operator@example.com", "correct horse battery staple for metrics")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    running = serve_with_operator(tmp_path_factory.mktemp("metrics"), OPERATOR)
    yield running
    running.stop()


def _token(served, **body) -> str:
    status, made = served.api("POST", "/api/v1/metrics-tokens", {"name": "Prometheus", **body}, token=served.token)
    assert status == 201, made
    assert made["token"].startswith(made["metrics_token"]["prefix"])
    return made["token"]


def scrape(served, token: str) -> dict[tuple[str, tuple], float]:
    status, headers, body = served.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert status == 200, body
    assert headers["content-type"].startswith("text/plain; version=0.0.4")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body.decode()) for s in family.samples}


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_are_refused_without_a_valid_token_and_each_refusal_is_audited(served):
    assert served.get("/metrics")[0] == 401
    assert served.get("/metrics", headers={"Authorization": "Bearer csm_000000000000_" + "x" * 43})[0] == 401
    # A session token is no metrics token, nor is an operator's password.
    assert served.get("/metrics", headers={"Authorization": f"Bearer {served.token}"})[0] == 401
    token = _token(served)
    assert served.get("/metrics", headers={"Authorization": f"Bearer {token}"})[0] == 200
    status, listed = served.api("GET", "/api/v1/metrics-tokens", token=served.token)
    [record] = [t for t in listed["metrics_tokens"] if token.startswith(t["prefix"])]
    assert record["last_used_at"] and "token" not in record and "secret_hash" not in record
    assert served.api("DELETE", f"/api/v1/metrics-tokens/{record['id']}", token=served.token)[0] == 204
    status, headers, body = served.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert status == 401 and b"not valid" in body and headers["www-authenticate"].startswith("Bearer")
    assert served.api("DELETE", f"/api/v1/metrics-tokens/{record['id']}", token=served.token)[0] == 409

    status, audit = served.api("GET", "/api/v1/audit?action=metrics_token&limit=1000", token=served.token)
    actions = [e["action"] for e in audit["events"]]
    assert {"metrics_token.create", "metrics_token.revoke"} <= set(actions)
    assert actions.count("metrics_token.refused") >= 3


def test_a_chat_a_job_and_a_backup_move_the_figures(served):
    token = _token(served, expires_in_days=30)
    before = scrape(served, token)
    assert value(before, "chatspark_backup_verified_age_seconds") == float("inf")
    assert value(before, "chatspark_certificate_expiry_seconds") > 86_400 * 30
    assert value(before, "chatspark_database_bytes", database="control") > 0

    status, made = served.api("POST", "/api/v1/workspaces", {"name": "Metrics"}, token=served.token)
    workspace = made["workspace"]["id"]
    base = f"/api/v1/workspaces/{workspace}"
    agent = served.api("POST", f"{base}/agents", {"name": "Help"}, token=served.token)[1]["agent"]
    source = served.api("POST", f"{base}/sources", {"kind": "text", "title": "Parking", "text":
                        "# Parking\n\nStaff park in the north car park behind building B."}, token=served.token)
    assert source[0] == 202, source
    deadline = time.monotonic() + 30
    while served.api("GET", f"{base}/sources/{source[1]['source']['id']}", token=served.token)[1]["source"][
            "status"] != "ready":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    for question in ("Where do staff park?", "What is the capital of Peru?"):
        status, reply = served.api("POST", f"{base}/agents/{agent['id']}/ask", {"question": question},
                                   token=served.token)
        assert status == 200, reply
    status, run = served.api("POST", "/api/v1/jobs/prune_expired/run", token=served.token)
    assert status == 202, run
    status, backup = served.api("POST", "/api/v1/backups", token=served.token)
    assert status == 201, backup
    assert served.api("POST", f"/api/v1/backups/{backup['backup']['id']}/verify", token=served.token,
                      timeout=60)[0] == 200

    def moved() -> dict:
        deadline = time.monotonic() + 30
        while True:
            after = scrape(served, token)
            if value(after, "chatspark_job_runs_total", job="prune_expired", outcome="success") >= 1 \
                    or time.monotonic() > deadline:
                return after
            time.sleep(0.2)

    after = moved()
    assert value(after, "chatspark_job_runs_total", job="prune_expired", outcome="success") >= 1
    assert value(after, "chatspark_job_duration_seconds_count", job="prune_expired") >= 1
    replies = {labels: v for (name, labels), v in after.items() if name == "chatspark_chat_replies_total"}
    answered = sum(v for labels, v in replies.items() if ("outcome", "answered") in labels)
    fell_back = sum(v for labels, v in replies.items() if ("outcome", "fell_back") in labels)
    assert answered >= 1 and fell_back >= 1
    assert all(("channel", "api") in labels for labels in replies)
    assert value(after, "chatspark_indexing_jobs_total", outcome="ready") >= 1
    assert value(after, "chatspark_backup_verified_age_seconds") < 600  # verified now
    assert value(after, "chatspark_backups") == value(before, "chatspark_backups") + 1
    assert value(after, "chatspark_workspaces") == value(before, "chatspark_workspaces") + 1
    route = "/api/v1/workspaces/<workspace_id>/agents/<agent_id>/ask"
    assert value(after, "chatspark_http_requests_total", route=route, method="POST", status="200") == 2
    assert value(after, "chatspark_http_request_duration_seconds_count", route=route) == 2

    # Low cardinality: no label value carries an id of a workspace, an agent or a source.
    for (name, labels) in after:
        for _, label_value in labels:
            assert workspace not in label_value and agent["id"] not in label_value, (name, labels)
