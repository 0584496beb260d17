"""Scheduled jobs for operators: what is declared, how each last ran, every run, and running one now."""

from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, request

from appliance.clock import isoformat
from appliance.errors import ServiceError, ValidationError
from appliance.jobs.declared import JobState, job_states
from appliance.jobs.runs import MAX_PAGE, JobRun
from appliance.jobs.scheduler import JobScheduler
from server.auth import client_address, operator_required, services

blueprint = Blueprint("jobs", __name__)
DEFAULT_LIMIT = 100


def _scheduler() -> JobScheduler:
    scheduler = current_app.extensions.get("chatspark.scheduler")
    if scheduler is None:
        raise ServiceError("this process runs no job scheduler; jobs are run by `chatspark serve`")
    return scheduler


def _run_json(run: JobRun | None) -> dict | None:
    return None if run is None else run.public()


def _job_json(scheduler: JobScheduler, state: JobState) -> dict:
    next_run = scheduler.next_run_time(state.spec.id)
    return {"id": state.spec.id, "description": state.spec.description,
            "every_seconds": int(state.spec.every.total_seconds()),
            "next_run_at": isoformat(next_run) if next_run else None, "running": _run_json(state.running),
            "last_run": _run_json(state.last_run), "last_failure": _run_json(state.last_failure)}


def _whole_number(name: str, default: int | None, *, low: int, high: int) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 19) or int(raw) < low or int(raw) > high:
        raise ValidationError(f"'{name}' is a whole number from {low} to {high}")
    return int(raw)


@blueprint.get("/jobs")
@operator_required
def list_jobs():
    scheduler = _scheduler()
    states = job_states(scheduler.runner.runs, list(scheduler.jobs.values()))
    return jsonify(jobs=[_job_json(scheduler, state) for state in states])


@blueprint.get("/jobs/runs")
@operator_required
def list_runs():
    scheduler = _scheduler()
    job_id = request.args.get("job") or None
    if job_id is not None:
        scheduler.job(job_id)
    limit = _whole_number("limit", DEFAULT_LIMIT, low=1, high=MAX_PAGE)
    after = _whole_number("after", None, low=1, high=2**63 - 1)
    runs = scheduler.runner.runs.runs(job_id=job_id, limit=limit, after=after)
    return jsonify(runs=[run.public() for run in runs], next_after=runs[-1].id if len(runs) == limit else None)


@blueprint.post("/jobs/<job_id>/run")
@operator_required
def run_job(job_id: str):
    scheduler = _scheduler()
    spec = scheduler.job(job_id)
    run = scheduler.run_now(spec.id, requested_by=g.user.id)
    services().audit.record("job.run", actor_type="user", actor_id=g.user.id, target_type="job", target_id=spec.id,
                            client_address=client_address(), details={"run_id": run.id})
    response = jsonify(run=run.public())
    response.status_code = 202
    return response
