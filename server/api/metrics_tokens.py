"""Operators' metrics tokens: made (shown once), listed and revoked; a monitoring system scrapes /metrics with one."""

from __future__ import annotations

from flask import Blueprint, g, jsonify

from server.api.pagination import page
from server.api.payload import body, text
from server.auth import client_address, operator_required, services

blueprint = Blueprint("metrics_tokens", __name__)


@blueprint.get("/metrics-tokens")
@operator_required
def list_tokens():
    tokens, next_after = page(services().metrics_tokens.list(), key=lambda t: t.id)
    return jsonify(metrics_tokens=[t.public() for t in tokens], next_after=next_after)


@blueprint.post("/metrics-tokens")
@operator_required
def create_token():
    data = body()
    token, record = services().metrics_tokens.create(name=text(data, "name"),
                                                     expires_in_days=data.get("expires_in_days"),
                                                     actor_id=g.user.id, client_address=client_address())
    return jsonify(metrics_token=record.public(), token=token,
                   message="Copy the token now: it is shown only this once and stored only as a hash. Scrape "
                           "/metrics with it as a bearer token."), 201


@blueprint.delete("/metrics-tokens/<token_id>")
@operator_required
def revoke_token(token_id: str):
    services().metrics_tokens.revoke(token_id, actor_id=g.user.id, client_address=client_address())
    return "", 204
