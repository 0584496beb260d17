"""The scheduler of the serving process and the jobs it runs (later issues declare their jobs beside their domain)."""

from __future__ import annotations

import logging

from apscheduler.schedulers.background import BackgroundScheduler

from appliance.bootstrap import Appliance

log = logging.getLogger(__name__)


def checkpoint_databases(appliance: Appliance) -> None:
    """Fold the write-ahead logs into the database files so they stay small and deleted pages leave them."""
    appliance.control_db.checkpoint()
    log.debug("control database checkpointed")


def build_scheduler(appliance: Appliance) -> BackgroundScheduler:
    """A scheduler with every periodic job of the appliance; each job runs at most once at a time."""
    scheduler = BackgroundScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1})
    scheduler.add_job(checkpoint_databases, "interval", minutes=15, args=[appliance], id="checkpoint_databases",
                      name="checkpoint databases")
    return scheduler
