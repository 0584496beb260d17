"""A child process that runs one job slowly through the real runner, holding its lease until released or killed.

`python -m tests.server.cli.slow_job --data-dir D --key-dir K --job ID --started FILE --release FILE [--at ISO]`
writes FILE `--started` once the job runs (its lease taken, its run recorded), then waits for FILE `--release`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path

from appliance import settings as settings_module
from appliance.bootstrap import open_appliance
from appliance.clock import FixedClock, SystemClock
from appliance.jobs.declared import JobSpec
from appliance.jobs.runner import JobRunner
from appliance.services import build_services
from appliance.storage.layout import Layout


def main() -> None:
    parser = argparse.ArgumentParser()
    for name in ("--data-dir", "--key-dir", "--started", "--release"):
        parser.add_argument(name, type=Path, required=True)
    parser.add_argument("--job", required=True)
    parser.add_argument("--at", help="run on a fixed clock at this ISO time, like the test's own")
    args = parser.parse_args()
    clock = FixedClock(dt.datetime.fromisoformat(args.at)) if args.at else SystemClock()
    appliance = open_appliance(Layout.of(args.data_dir, args.key_dir), clock=clock)
    services = build_services(appliance, settings_module.load(environ={}))

    def slow() -> dict:
        args.started.write_text("running")
        deadline = time.monotonic() + 60
        while not args.release.exists():
            if time.monotonic() > deadline:
                raise TimeoutError("nobody released the job within a minute")
            time.sleep(0.02)
        return {"held_for": "a while"}

    runner = JobRunner(appliance.control_db, clock=clock, outbox=services.outbox)
    try:
        run = runner.run(JobSpec(args.job, "a slow stand-in", dt.timedelta(hours=1), slow), "manual",
                         requested_by="slow_job")
        print(run.outcome if run else "skipped", flush=True)
    finally:
        runner.close()
        services.knowledge.close()
        appliance.close()


if __name__ == "__main__":
    main()
