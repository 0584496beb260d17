"""The jobs API: operators see every job and run, and run a job now; everyone else is refused."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator

from appliance.services import build_scheduler
from server.app import create_app
from server.openapi import document as openapi
from tests.waiting import wait_for

PASSWORD = "plum orbit lantern 42"
JOBS = {"send_outbox", "prune_expired", "checkpoint_databases", "verify_audit_log"}



class Api:
    def __init__(self, app, token: str | None):
        self.client, self.token = app.test_client(), token

    def __call__(self, method: str, path: str):
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        response = self.client.open(f"/api/v1{path}", method=method, headers=headers)
        return response.status_code, response.get_json()


def log_in(app, user) -> str:
    response = app.test_client().post("/api/v1/auth/login", json={"email": user.email, "password": PASSWORD})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["token"]


@pytest.fixture
def scheduler(services, settings, clock):
    """The appliance's light jobs on an appliance made a day ago, so each is caught up as the scheduler starts."""
    clock.advance(days=1)
    scheduler = build_scheduler(services, jobs=[j for j in services.jobs if j.id in JOBS])
    scheduler.start()
    yield scheduler
    scheduler.shutdown(wait=True)


@pytest.fixture
def app(services, settings, scheduler):
    app = create_app(services, settings=settings, scheduler=scheduler)
    # Each job ran once as the scheduler started (catch-up); the tests begin after that.
    wait_for(lambda: all(scheduler.runner.runs.latest(job, outcomes=("success",)) for job in JOBS))
    return app


@pytest.fixture
def operator(app, services):
    user = services.users.create_operator(email="op@example.com", password=PASSWORD)
    return user, Api(app, log_in(app, user))


def test_an_operator_sees_every_job_with_its_last_run_and_next_time(operator):
    _, api = operator

    status, body = api("GET", "/jobs")

    assert status == 200
    jobs = {job["id"]: job for job in body["jobs"]}
    assert set(jobs) == JOBS
    checkpoint = jobs["checkpoint_databases"]
    assert checkpoint["every_seconds"] == 900 and checkpoint["description"]
    assert checkpoint["last_run"]["trigger"] == "catch_up" and checkpoint["last_run"]["outcome"] == "success"
    assert checkpoint["last_run"]["summary"] == {"checkpointed": ["control"]}
    assert checkpoint["running"] is None and checkpoint["last_failure"] is None
    assert checkpoint["next_run_at"].endswith("Z")


def test_an_operator_runs_a_job_now_and_sees_the_run(operator, services, scheduler):
    user, api = operator

    status, body = api("POST", "/jobs/verify_audit_log/run")

    assert status == 202
    run = body["run"]
    assert (run["job_id"], run["trigger"], run["requested_by"]) == ("verify_audit_log", "manual", user.id)
    wait_for(lambda: scheduler.runner.runs.get(run["id"]).outcome == "success")
    status, page = api("GET", "/jobs/runs?job=verify_audit_log")
    assert status == 200 and page["runs"][0]["id"] == run["id"]
    assert page["runs"][0]["summary"]["rows_checked"] >= 1
    [event] = services.audit.events(action="job.run")
    assert (event.actor_id, event.target_id, event.details) == (user.id, "verify_audit_log", {"run_id": run["id"]})


def test_running_a_job_that_is_running_is_a_conflict(operator, scheduler):
    _, api = operator
    holder = scheduler.runner.runs.claim("prune_expired", "manual", requested_by="someone else")

    status, body = api("POST", "/jobs/prune_expired/run")

    assert status == 409 and body["error"] == "job_running"
    assert f"run {holder.id}" in body["message"]


def test_an_unknown_job_is_not_found(operator):
    _, api = operator

    assert api("POST", "/jobs/nope/run")[0] == 404
    status, body = api("GET", "/jobs/runs?job=nope")
    assert status == 404 and "the jobs are checkpoint_databases" in body["message"]


def test_runs_come_newest_first_a_page_at_a_time(operator):
    _, api = operator
    pages, query = [], "/jobs/runs?limit=3"
    while query:
        status, page = api("GET", query)
        assert status == 200 and len(page["runs"]) <= 3
        pages.append(page["runs"])
        query = f"/jobs/runs?limit=3&after={page['next_after']}" if page["next_after"] else None

    ids = [run["id"] for page in pages for run in page]
    assert len(pages) >= 2 and ids == list(range(ids[0], 0, -1))


@pytest.mark.parametrize("query", ["limit=0", "limit=501", "limit=x", "after=0", "after=-1", "after=²",
                                   "after=99999999999999999999999"])
def test_a_bad_page_is_a_400(operator, query):
    _, api = operator

    status, body = api("GET", f"/jobs/runs?{query}")

    assert status == 400 and body["error"] == "invalid_request"


@pytest.mark.parametrize(("method", "path"), [("GET", "/jobs"), ("GET", "/jobs/runs"),
                                              ("POST", "/jobs/checkpoint_databases/run")])
def test_only_operators_may_see_or_run_jobs(app, services, method, path):
    services.users.create_operator(email="op@example.com", password=PASSWORD)
    with services.appliance.control_db.transaction() as conn:
        user_id = services.users.create_pending(conn, email="member@example.com", password=PASSWORD)
        conn.execute("UPDATE users SET status = 'active', email_verified_at = '2026-11-29T12:00:00Z' WHERE id = ?",
                     (user_id,))
    member = Api(app, log_in(app, services.users.get(user_id)))

    assert member(method, path)[0] == 403
    assert Api(app, None)(method, path)[0] == 401


def test_without_a_scheduler_the_jobs_api_says_so(services, settings):
    app = create_app(services, settings=settings)
    user = services.users.create_operator(email="op@example.com", password=PASSWORD)

    status, body = Api(app, log_in(app, user))("GET", "/jobs")

    assert status == 503 and "chatspark serve" in body["message"]


def test_answers_match_their_documented_schemas(operator, scheduler):
    _, api = operator
    document = openapi.document()

    def check(method: str, path: str, status: int, body: dict) -> None:
        operation = document["paths"][f"/api/v1{path}"][method.lower()]
        schema = operation["responses"][str(status)]["content"]["application/json"]["schema"]
        Draft202012Validator({**schema, "components": document["components"]}).validate(body)

    check("GET", "/jobs", *api("GET", "/jobs"))
    check("GET", "/jobs/runs", *api("GET", "/jobs/runs?limit=2"))
    status, body = api("POST", "/jobs/prune_expired/run")
    check("POST", "/jobs/{job_id}/run", status, body)
    wait_for(lambda: scheduler.runner.runs.running("prune_expired") is None)
    scheduler.runner.runs.claim("prune_expired", "manual")
    check("GET", "/jobs", *api("GET", "/jobs"))  # with a run going on
