"""The scheduler of the serving process and the periodic jobs it runs."""

from __future__ import annotations

import logging

from apscheduler.schedulers.background import BackgroundScheduler

from appliance.mail.outbox import send_outbox
from appliance.services import Services

log = logging.getLogger(__name__)


def checkpoint_databases(services: Services) -> None:
    """Fold the write-ahead logs into the database files so they stay small and deleted pages leave them."""
    services.appliance.control_db.checkpoint()


def prune_expired(services: Services) -> None:
    """Forget ended sessions, used or expired link tokens and login failures older than the throttle window."""
    sessions = services.sessions.prune()
    with services.appliance.control_db.transaction() as conn:
        tokens = services.tokens.prune(conn)
    failures = services.throttle.prune()
    log.info("pruned expired records", extra={"sessions": sessions, "tokens": tokens, "login_failures": failures})


def build_scheduler(services: Services, *, outbox_interval_seconds: int) -> BackgroundScheduler:
    """A scheduler with every periodic job of the appliance; each job runs at most once at a time."""
    scheduler = BackgroundScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1})
    scheduler.add_job(send_outbox, "interval", seconds=outbox_interval_seconds, args=[services.outbox],
                      id="send_outbox", name="send queued mail")
    scheduler.add_job(prune_expired, "interval", hours=1, args=[services], id="prune_expired",
                      name="prune expired sessions, tokens and login failures")
    scheduler.add_job(checkpoint_databases, "interval", minutes=15, args=[services], id="checkpoint_databases",
                      name="checkpoint databases")
    return scheduler
