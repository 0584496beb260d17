"""Sign-in providers (operators): OpenID Connect providers and LDAP / Active Directory directories, and each one's
group-to-role mapping. The OpenID Connect providers' names (for the sign-in buttons) are public."""

from __future__ import annotations

from flask import Blueprint, g, jsonify

from appliance.errors import ValidationError
from server.api.payload import body, text
from server.auth import client_address, operator_required, services

blueprint = Blueprint("sso", __name__)


@blueprint.get("/sso/providers")
@operator_required
def list_providers():
    return jsonify(providers=[p.public() for p in services().sso_providers.list()])


@blueprint.get("/sso/buttons")
def sign_in_buttons():
    """What a sign-in screen shows: each provider's name and where its sign-in starts (no settings), and whether a
    directory signs people in by their user name too (so that the screen asks for an email or a user name)."""
    return jsonify(providers=[{"id": p.id, "name": p.name, "start": f"/sso/{p.id}/start"}
                              for p in services().sso_providers.list(kind="oidc")],
                   directory_sign_in=bool(services().sso_providers.list(kind="ldap")))


@blueprint.post("/sso/providers")
@operator_required
def create_provider():
    provider = services().sso_providers.create(body(), actor_id=g.user.id, client_address=client_address())
    return jsonify(provider=provider.public(), callback_url=_callback(provider)), 201


@blueprint.get("/sso/providers/<provider_id>")
@operator_required
def get_provider(provider_id: str):
    provider = services().sso_providers.get(provider_id)
    return jsonify(provider=provider.public(), callback_url=_callback(provider),
                   group_roles=[m.public() for m in services().sso_providers.group_roles(provider_id)])


@blueprint.patch("/sso/providers/<provider_id>")
@operator_required
def update_provider(provider_id: str):
    provider = services().sso_providers.update(provider_id, body(), actor_id=g.user.id,
                                               client_address=client_address())
    return jsonify(provider=provider.public(), callback_url=_callback(provider))


@blueprint.delete("/sso/providers/<provider_id>")
@operator_required
def delete_provider(provider_id: str):
    services().sso_providers.delete(provider_id, actor_id=g.user.id, client_address=client_address())
    return "", 204


@blueprint.post("/sso/providers/<provider_id>/check")
@operator_required
def check_provider(provider_id: str):
    """Test a directory's connection: a failure is an answer here (ok false and why), not an error."""
    ok, detail = services().sso_providers.check_connection(provider_id)
    return jsonify(ok=ok, detail=detail)


@blueprint.put("/sso/providers/<provider_id>/group-roles")
@operator_required
def set_group_roles(provider_id: str):
    data = body()
    if "group_roles" not in data:
        raise ValidationError("'group_roles' is required: a list of {group, workspace_id, role}")
    mapped = services().sso_providers.set_group_roles(provider_id, data["group_roles"], actor_id=g.user.id,
                                                      client_address=client_address())
    return jsonify(group_roles=[m.public() for m in mapped])


@blueprint.post("/sso/panel-token")
def panel_token():
    """A desktop panel's session: the one-time code its loopback port received, with the verifier it kept."""
    data = body()
    token = services().sso.redeem(text(data, "code"), text(data, "verifier"), client_address=client_address())
    return jsonify(token=token)


def _callback(provider) -> str | None:
    """The redirect URI to register with an OpenID Connect provider (a directory has none)."""
    if provider.kind != "oidc":
        return None
    return f"{services().links.public_url}/sso/{provider.id}/callback"
