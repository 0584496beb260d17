"""Exports: a whole workspace, or everything about one email address, as an archive encrypted to the caller's
passphrase and downloaded as an attachment."""

from __future__ import annotations

import tempfile
import weakref

from flask import Blueprint, Response, g
from werkzeug.wsgi import FileWrapper

from appliance.accounts import permissions
from appliance.exports.archive import check_passphrase
from appliance.exports.service import Requester
from appliance.exports.subject_export import APPLIANCE, WORKSPACES, subject_email
from server.api.payload import body, text
from server.auth import actor, client_address, login_required, services, workspace_role
from server.downloads import attachment

blueprint = Blueprint("exports", __name__)
READ_SIZE = 1 << 20
# What a workspace export holds, each needing its read permission (and, of an API key, its scope) as an export.
EXPORTED = ("sources.read", "agents.read", "conversations.read", "leads.read", "analytics.read")


def _may_export_workspace(workspace_id: str) -> None:
    """Members need `workspace.export`; API keys every read scope of what is exported and `export`.

    The checks go through read actions marked as exports, which a cancelled workspace still allows."""
    role = workspace_role(workspace_id, EXPORTED[0], export=True)
    if role == "api_key":
        for action in EXPORTED[1:]:
            workspace_role(workspace_id, action, export=True)
    else:
        permissions.check(role, "workspace.export", workspace_id=workspace_id)


@blueprint.post("/workspaces/<workspace_id>/export")
def export_workspace(workspace_id: str):
    _may_export_workspace(workspace_id)
    context = (services().workspaces.get(workspace_id).name, g.user.email if g.get("user") else None)
    passphrase = check_passphrase(body().get("passphrase"), context=context)
    return _download(lambda target: services().exports.export_workspace(
        workspace_id, target, passphrase=passphrase, requester=_requester()))


@blueprint.post("/subject-exports")
@login_required
def export_subject():
    data = body()
    email = subject_email(text(data, "email"))
    passphrase = check_passphrase(data.get("passphrase"), context=(email, g.user.email))
    admin_of = [workspace.id for workspace, role in services().workspaces.list_for_user(g.user.id)
                if permissions.outranks_or_equals(role, permissions.WORKSPACE_PERMISSIONS["workspace.export"])]
    # The whole account only for operators (who may see any account) and for people asking about themselves.
    scope = APPLIANCE if g.user.is_operator or g.user.email.lower() == email else WORKSPACES
    return _download(lambda target: services().exports.export_subject(
        email, target, passphrase=passphrase, workspace_ids=admin_of, account_scope=scope, requester=_requester()))


def _requester() -> Requester:
    actor_type, actor_id = actor()
    return Requester(actor_type, actor_id, client_address(), via="api")


def _download(write) -> Response:
    """Write the encrypted export to an unnamed temporary file and send that, a piece at a time."""
    target = tempfile.TemporaryFile()
    try:
        receipt = write(target)
        target.seek(0)
    except BaseException:
        target.close()
        raise
    content = FileWrapper(target, READ_SIZE)
    # The server closes it once sent; this closes it too if the response is dropped unsent, so none stays open.
    weakref.finalize(content, target.close)
    return Response(content, mimetype="application/octet-stream", direct_passthrough=True,
                    headers={"Content-Disposition": attachment(receipt.filename),
                             "Content-Length": str(receipt.archive_bytes)})
