"""Retention policies with their preview, legal holds, cancelling a workspace (and undoing it), operators' purge
dates, and data-subject erasure with its receipt."""

from __future__ import annotations

from flask import Blueprint, g, jsonify

from appliance.retention.service import Actor
from server.api.payload import body
from server.auth import actor, client_address, login_required, operator_required, services, workspace_role

blueprint = Blueprint("retention", __name__)
W = "/workspaces/<workspace_id>"


def _actor() -> Actor:
    actor_type, actor_id = actor()
    return Actor(actor_type, actor_id, client_address())


@blueprint.get(f"{W}/retention")
def get_retention(workspace_id: str):
    workspace_role(workspace_id, "retention.read")
    return jsonify({**services().retention.get(workspace_id).public(),
                    "cancellation": services().cancellation.get(workspace_id).public()})


@blueprint.post(f"{W}/retention/preview")
def preview_retention(workspace_id: str):
    workspace_role(workspace_id, "retention.manage")
    return jsonify(services().retention.preview(workspace_id, body().get("policy")).public())


@blueprint.put(f"{W}/retention")
def apply_retention(workspace_id: str):
    workspace_role(workspace_id, "retention.manage")
    return jsonify(services().retention.apply(workspace_id, body().get("policy"), actor=_actor()).public())


@blueprint.put(f"{W}/legal-hold")
def set_legal_hold(workspace_id: str):
    workspace_role(workspace_id, "retention.hold")
    data = body()
    retention = services().retention.set_legal_hold(workspace_id, on=data.get("on"), reason=data.get("reason"),
                                                    actor=_actor())
    return jsonify(retention.public())


@blueprint.post(f"{W}/cancel")
def cancel_workspace(workspace_id: str):
    workspace_role(workspace_id, "workspace.cancel")
    return jsonify(cancellation=services().cancellation.cancel(workspace_id, actor=_actor()).public())


@blueprint.post(f"{W}/cancel/undo")
def undo_cancellation(workspace_id: str):
    workspace_role(workspace_id, "workspace.cancel")
    return jsonify(cancellation=services().cancellation.undo(workspace_id, actor=_actor()).public())


@blueprint.get("/cancellations")
@operator_required
def list_cancellations():
    return jsonify(cancellations=[c.public() for c in services().cancellation.list_cancelled()])


@blueprint.put("/cancellations/<workspace_id>/purge-date")
@operator_required
def set_purge_date(workspace_id: str):
    cancellation = services().cancellation.set_purge_date(workspace_id, body().get("purge_after"),
                                                          actor=Actor("user", g.user.id, client_address()))
    return jsonify(cancellation=cancellation.public())


@blueprint.put("/legal-holds/<workspace_id>")
@operator_required
def operator_legal_hold(workspace_id: str):
    data = body()
    retention = services().retention.set_legal_hold(workspace_id, on=data.get("on"), reason=data.get("reason"),
                                                    actor=Actor("user", g.user.id, client_address()))
    return jsonify(legal_hold=retention.public()["legal_hold"])


@blueprint.post("/erasure")
@login_required
def erase_subject():
    data = body()
    receipt = services().erasure.erase(data.get("email"), dry_run=data.get("dry_run", False),
                                       actor=Actor("user", g.user.id, client_address()))
    return jsonify(receipt.public())
