"""Liveness, readiness, the public CA certificate and the landing page: the endpoints that need no login."""

from __future__ import annotations

import shutil

from flask import Blueprint, Response, current_app, jsonify, render_template

from appliance import __version__, errors
from appliance.keys import certificates

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz():
    return jsonify(status="alive")


def readiness() -> dict[str, str]:
    """Each readiness check and 'ok' or what is wrong (databases, disk, scheduler)."""
    appliance = current_app.extensions["chatspark.appliance"]
    scheduler = current_app.extensions.get("chatspark.scheduler")
    checks = {"databases": "ok", "disk": _disk(appliance), "scheduler": "ok"}
    try:
        appliance.control_db.query_one("SELECT count(*) FROM sqlite_master")
    except errors.StorageError as exc:
        checks["databases"] = str(exc)
    if scheduler is None or not scheduler.running:
        checks["scheduler"] = "not running"
    return checks


def _disk(appliance) -> str:
    """'ok' while the data disk has room and takes writes; else why not. A database whose last write failed is
    written to once more here, so readiness returns by itself when space is freed."""
    free = shutil.disk_usage(appliance.layout.data_dir).free
    needed = current_app.config["CHATSPARK_MIN_FREE_DISK_BYTES"]
    if free < needed:
        return f"the data disk has {free // 1048576} MiB free, less than the {needed // 1048576} MiB it needs"
    for db in (appliance.control_db, *appliance.workspaces.opened()):
        if db.unwritable is not None:
            try:
                db.probe_write()
            except errors.StorageError as exc:
                return str(exc)
    return "ok"


@blueprint.get("/readyz")
def readyz():
    checks = readiness()
    ready = all(value == "ok" for value in checks.values())
    response = jsonify(status="ready" if ready else "not_ready", checks=checks)
    response.status_code = 200 if ready else 503
    return response


@blueprint.get("/ca.crt")
def ca_certificate():
    """The appliance CA (public), so pinned clients can fetch it and compare its fingerprint."""
    appliance = current_app.extensions["chatspark.appliance"]
    return Response(appliance.layout.ca_cert.read_bytes(), mimetype="application/x-pem-file")


@blueprint.get("/")
def index():
    appliance = current_app.extensions["chatspark.appliance"]
    ca = certificates.load_certificate(appliance.layout.ca_cert.read_bytes())
    return render_template(
        "index.html", version=__version__, appliance_id=appliance.appliance_id,
        fingerprint=certificates.fingerprint(ca), ready=all(v == "ok" for v in readiness().values()),
        own_certificate=current_app.config["CHATSPARK_OWN_CERTIFICATE"],
    )
