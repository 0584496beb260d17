"""Backups for appliance operators: make one now, list them, read one, verify one.

Restoring is offered only by the command line (`chatspark backup restore FILE --kit KIT --data-dir NEW --key-dir NEW`):
its target must be a stopped, fresh appliance (new, empty data and key directories), and a running service cannot
replace its own databases and keys under itself.
"""

from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify

from appliance.backups.service import Actor
from server.auth import client_address, operator_required, services

blueprint = Blueprint("backups", __name__)


def _actor() -> Actor:
    return Actor(type="user", id=g.user.id, client_address=client_address())


@blueprint.post("/backups")
@operator_required
def create_backup():
    backups = services().backups
    return jsonify(backup=backups.describe(backups.create(actor=_actor()))), 201


@blueprint.get("/backups")
@operator_required
def list_backups():
    backups = services().backups
    settings = current_app.extensions["chatspark.settings"]
    return jsonify(backups=[backups.describe(b) for b in backups.list()], keep=settings.backup_keep)


@blueprint.get("/backups/<backup_id>")
@operator_required
def get_backup(backup_id: str):
    backups = services().backups
    return jsonify(backup=backups.describe(backups.get(backup_id)))


@blueprint.post("/backups/prune")
@operator_required
def prune_backups():
    result = services().backups.prune(actor=_actor())
    return jsonify(deleted=result.deleted, kept=len(result.kept))


@blueprint.post("/backups/<backup_id>/verify")
@operator_required
def verify_backup(backup_id: str):
    backups = services().backups
    return jsonify(backup=backups.describe(backups.verify(backup_id, actor=_actor())))
