"""The appliance at a glance, for operators: health, certificate, sizes and free disk, jobs, backups, mail and the
audit chain, in one answer (the panel's overview; `chatspark status --json` prints the same facts)."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from appliance.monitoring import facts
from server import health
from server.auth import operator_required, services

blueprint = Blueprint("overview", __name__)


@blueprint.get("/overview")
@operator_required
def overview():
    svc = services()
    settings = current_app.extensions["chatspark.settings"]
    now = svc.appliance.clock.now()
    checks = health.readiness()
    return jsonify(**facts.gathered(svc.appliance, settings, jobs=svc.jobs, now=now),
                   health={"status": "ready" if all(v == "ok" for v in checks.values()) else "not_ready",
                           "checks": checks})
