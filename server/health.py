"""Liveness, readiness and the public CA certificate: the endpoints that need no login."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from appliance import errors

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz():
    return jsonify(status="alive")


@blueprint.get("/readyz")
def readyz():
    appliance = current_app.extensions["chatspark.appliance"]
    scheduler = current_app.extensions.get("chatspark.scheduler")
    checks = {"databases": "ok", "scheduler": "ok"}
    try:
        appliance.control_db.query_one("SELECT count(*) FROM sqlite_master")
    except errors.StorageError as exc:
        checks["databases"] = str(exc)
    if scheduler is None or not scheduler.running:
        checks["scheduler"] = "not running"
    ready = all(value == "ok" for value in checks.values())
    response = jsonify(status="ready" if ready else "not_ready", checks=checks)
    response.status_code = 200 if ready else 503
    return response


@blueprint.get("/ca.crt")
def ca_certificate():
    """The appliance CA (public), so pinned clients can fetch it and compare its fingerprint."""
    appliance = current_app.extensions["chatspark.appliance"]
    return Response(appliance.layout.ca_cert.read_bytes(), mimetype="application/x-pem-file")
