"""The mail outbox for appliance operators: what waits, and one waiting mail whole (audited), so that without a mail
relay an invitation or password-reset link can still be passed on by hand. The same as `chatspark mail outbox|show`."""

from __future__ import annotations

from flask import Blueprint, g, jsonify, request

from appliance.errors import ValidationError
from appliance.mail.outbox import reveal
from server.auth import client_address, operator_required, services

blueprint = Blueprint("mail", __name__)
MAX_LISTED = 200


@blueprint.get("/mail/outbox")
@operator_required
def list_outbox():
    """Mail not delivered yet, newest first (`all=true`: delivered mail too, without its body)."""
    limit = request.args.get("limit", "50")
    if not limit.isdigit() or not 1 <= int(limit) <= MAX_LISTED:
        raise ValidationError(f"'limit' must be a whole number from 1 to {MAX_LISTED}")
    everything = request.args.get("all", "false")
    if everything not in ("true", "false"):
        raise ValidationError("'all' must be true or false")
    outbox = services().outbox
    now = services().appliance.clock.now()
    entries = outbox.recent(int(limit), unsent=everything == "false")
    return jsonify(mail=[e.public(now=now) for e in entries], relay=outbox.relay is not None)


@blueprint.get("/mail/outbox/<int:mail_id>")
@operator_required
def show_mail(mail_id: int):
    """One mail not delivered yet, with its body and links; audited as `mail.show`."""
    found = reveal(services().outbox, services().audit, mail_id, actor_type="user", actor_id=g.user.id,
                   client_address=client_address())
    return jsonify(mail={**found.entry.public(now=services().appliance.clock.now()), "body": found.body})
