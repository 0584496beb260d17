"""A workspace's API keys: created (shown once), listed, rotated with a grace period, revoked."""

from __future__ import annotations

from flask import Blueprint, g, jsonify

from server.api.pagination import page
from server.api.payload import body, text
from server.auth import client_address, services, workspace_role

blueprint = Blueprint("api_keys", __name__)
W = "/workspaces/<workspace_id>"


def _for_people_only(workspace_id: str, action: str = "api_keys.manage") -> None:
    workspace_role(workspace_id, action)


@blueprint.get(f"{W}/api-keys")
def list_keys(workspace_id: str):
    _for_people_only(workspace_id, "api_keys.read")
    keys, next_after = page(services().api_keys.list(workspace_id), key=lambda k: k.id)
    return jsonify(api_keys=[k.public() for k in keys], next_after=next_after)


@blueprint.post(f"{W}/api-keys")
def create_key(workspace_id: str):
    _for_people_only(workspace_id)
    data = body()
    key, record = services().api_keys.create(
        workspace_id, name=text(data, "name"), scopes=data.get("scopes"), expires_in_days=data.get("expires_in_days"),
        allowed_addresses=data.get("allowed_addresses"), rate_limit_per_minute=data.get("rate_limit_per_minute", 120),
        actor_id=g.user.id, client_address=client_address())
    return jsonify(api_key=record.public(), key=key,
                   message="Copy the key now: it is shown only this once and stored only as a hash."), 201


@blueprint.post(f"{W}/api-keys/<key_id>/rotate")
def rotate_key(workspace_id: str, key_id: str):
    _for_people_only(workspace_id)
    key, record = services().api_keys.rotate(workspace_id, key_id, actor_id=g.user.id,
                                             client_address=client_address())
    return jsonify(api_key=record.public(), key=key,
                   message=f"The old secret works until {record.previous_valid_until}."), 201


@blueprint.delete(f"{W}/api-keys/<key_id>")
def revoke_key(workspace_id: str, key_id: str):
    _for_people_only(workspace_id)
    services().api_keys.revoke(workspace_id, key_id, actor_id=g.user.id, client_address=client_address())
    return "", 204
