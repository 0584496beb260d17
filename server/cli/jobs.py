"""`chatspark jobs list|runs|run`: the scheduled jobs, how they went, and running one now from a shell."""

from __future__ import annotations

import argparse
import json

from appliance import logs
from appliance.errors import NotFound
from appliance.jobs.declared import JobSpec, JobState, job_states
from appliance.jobs.runner import JobRunner, every_text
from appliance.jobs.runs import MAX_PAGE, JobRun, JobRuns
from appliance.services import build_services
from server.cli.options import EXIT_FAILURE, open_from


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    jobs = commands.add_parser("jobs", help="see the scheduled jobs and their runs, or run one now",
                               description="The periodic jobs the server runs (mail, cleanup, checkpoints, audit "
                                           "verification, ...): how each last ran, every run, and running one now.")
    actions = jobs.add_subparsers(dest="jobs_command", required=True, metavar="ACTION")

    listing = actions.add_parser("list", parents=[common], help="each job: how often, its last run and last failure",
                                 description="Each declared job with its interval, its last run (when, outcome, "
                                             "duration, what it did) and its last failure.")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=_list)

    runs = actions.add_parser("runs", parents=[common], help="the runs of the jobs, newest first",
                              description="Runs of every job, or of one, newest first.")
    runs.add_argument("--job", metavar="ID", help="only the runs of job ID")
    runs.add_argument("--limit", type=int, default=20, metavar="N",
                      help=f"at most N runs (1 to {MAX_PAGE}, default 20)")
    runs.add_argument("--after", type=int, metavar="RUN", help="only runs older than run RUN (for the next page)")
    runs.add_argument("--json", action="store_true", help="print a JSON array")
    runs.set_defaults(handler=_runs)

    run = actions.add_parser("run", parents=[common], help="run one job now and wait for it",
                             description="Run a job now, here, and wait for it. Refused while a run of the job is "
                                         "going on (in the server or another shell): a job runs once at a time. "
                                         "Exit 0 if it succeeded, 1 if it failed or was refused.")
    run.add_argument("job", metavar="ID", help="the job's id, as `chatspark jobs list` shows it")
    run.set_defaults(handler=_run)


def _list(args: argparse.Namespace) -> int:
    appliance, settings = open_from(args)
    try:
        states = job_states(_runs_of(appliance), build_services(appliance, settings).jobs)
    finally:
        appliance.close()
    if args.json:
        print(json.dumps([_state_json(state) for state in states], indent=2, ensure_ascii=False))
        return 0
    for state in states:
        print(f"{state.spec.id}: {state.spec.description} (every {every_text(state.spec.every)})")
        if state.running is not None:
            print(f"  running now:   {_when(state.running)} ({_how(state.running)})")
        print(f"  last run:      {_run_text(state.last_run)}")
        failure = state.last_failure
        print(f"  last failure:  {_run_text(failure) if failure else 'none'}")
    return 0


def _runs(args: argparse.Namespace) -> int:
    appliance, settings = open_from(args)
    try:
        if args.job is not None:
            _spec(build_services(appliance, settings).jobs, args.job)
        runs = _runs_of(appliance)
        runs.recover()
        found = runs.runs(job_id=args.job, limit=args.limit, after=args.after)
    finally:
        appliance.close()
    if args.json:
        print(json.dumps([run.public() for run in found], indent=2, ensure_ascii=False))
        return 0
    for run in found:
        detail = run.error if run.error else _summary_text(run.summary)
        print(f"{run.id:>7}  {_when(run)}  {run.job_id:<22} {run.outcome:<11} {_took(run):>8}  "
              f"{run.trigger:<8}  {detail}".rstrip())
    if not found:
        print("no runs yet")
    return 0


def _run(args: argparse.Namespace) -> int:
    appliance, settings = open_from(args)
    # Like the server's runs, this one logs to the appliance's log file (a failure's traceback goes there).
    logs.configure(level=settings.log_level, stderr=False)
    logs.add_file(appliance.layout.logs_dir, max_bytes=settings.log_max_bytes, backups=settings.log_backups)
    services = build_services(appliance, settings)
    runner = JobRunner(appliance.control_db, clock=appliance.clock, outbox=services.outbox)
    try:
        spec = _spec(services.jobs, args.job)
        started = runner.runs.claim(spec.id, "manual", requested_by="cli")
        services.audit.record("job.run", actor_type="system", target_type="job", target_id=spec.id,
                              details={"run_id": started.id, "via": "cli"})
        print(f"running {spec.id} (run {started.id}) ...", flush=True)
        run = runner.execute(spec, started)
    finally:
        runner.close()
        services.knowledge.close()
        appliance.close()
    print(f"{spec.id}: {_run_text(run)}")
    return 0 if run.outcome == "success" else EXIT_FAILURE


def _runs_of(appliance) -> JobRuns:
    return JobRuns(appliance.control_db, clock=appliance.clock)


def _spec(declared: list[JobSpec], job_id: str) -> JobSpec:
    jobs = {spec.id: spec for spec in declared}
    if job_id not in jobs:
        raise NotFound(f"no job {job_id!r}; the jobs are {', '.join(sorted(jobs))} (see `chatspark jobs list`)")
    return jobs[job_id]


def _state_json(state: JobState) -> dict:
    return {"id": state.spec.id, "description": state.spec.description,
            "every_seconds": int(state.spec.every.total_seconds()),
            "running": state.running.public() if state.running else None,
            "last_run": state.last_run.public() if state.last_run else None,
            "last_failure": state.last_failure.public() if state.last_failure else None}


def _run_text(run: JobRun | None) -> str:
    if run is None:
        return "never"
    text = f"{_when(run)}, {run.outcome}"
    if run.duration_ms is not None:
        text += f" in {_took(run)}"
    text += f" ({_how(run)})"
    if run.error:
        return f"{text}: {run.error}"
    summary = _summary_text(run.summary)
    return f"{text}: {summary}" if summary else text


def _when(run: JobRun) -> str:
    return f"{run.started_at:%Y-%m-%d %H:%M:%S} UTC"


def _how(run: JobRun) -> str:
    how = run.trigger.replace("_", "-")
    return f"{how} by {run.requested_by}" if run.requested_by else how


def _took(run: JobRun) -> str:
    if run.duration_ms is None:
        return "-"
    return f"{run.duration_ms} ms" if run.duration_ms < 1000 else f"{run.duration_ms / 1000:.1f} s"


def _summary_text(summary: dict) -> str:
    """`sent=2 retried=0`: numbers and words as they are, anything else as JSON."""
    return " ".join(f"{name}={value if isinstance(value, (int, float, str)) else json.dumps(value, ensure_ascii=False)}"
                    for name, value in summary.items())
