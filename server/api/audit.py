"""The audit log over the API: filtered, paginated by cursor, exported as JSON or CSV."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, Response, g, jsonify, request

from appliance.errors import ValidationError
from appliance.exports.audit_events import to_csv
from server.auth import client_address, operator_required, services
from server.downloads import attachment

blueprint = Blueprint("audit", __name__)
MAX_PAGE = 1000


def _instant(name: str) -> dt.datetime | None:
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        moment = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise ValidationError(f"'{name}' must be an ISO 8601 time, like 2026-11-29T12:00:00Z") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def _int(name: str, default: int | None) -> int | None:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 18):
        raise ValidationError(f"'{name}' must be a whole number of at most 18 digits")
    return int(raw)


def audit_response(*, workspace_id: str | None = None):
    limit = min(_int("limit", 100), MAX_PAGE)
    order = request.args.get("order", "oldest")
    if order not in ("oldest", "newest"):
        raise ValidationError("'order' is oldest or newest")
    events = services().audit.events(
        workspace_id=workspace_id or request.args.get("workspace_id"), actor_id=request.args.get("actor_id"),
        action=request.args.get("action"), outcome=request.args.get("outcome"), since=_instant("since"),
        until=_instant("until"), after_seq=_int("after", None), limit=limit, newest_first=order == "newest",
    )
    if request.args.get("format") == "csv":
        return Response(to_csv(events), mimetype="text/csv",
                        headers={"Content-Disposition": attachment("audit.csv")})
    rows = [{"seq": e.seq, "at": e.at, "actor_type": e.actor_type, "actor_id": e.actor_id, "action": e.action,
             "target_type": e.target_type, "target_id": e.target_id, "workspace_id": e.workspace_id,
             "client_address": e.client_address, "outcome": e.outcome, "details": e.details} for e in events]
    next_cursor = rows[-1]["seq"] if len(rows) == limit else None
    return jsonify(events=rows, next_after=next_cursor)


@blueprint.post("/audit/verify")
@operator_required
def verify_audit():
    """Walk the whole chain now; the answer names the first row that was altered, removed or inserted."""
    svc = services()
    result = svc.audit.verify()
    svc.audit.record("audit.verify", actor_type="user", actor_id=g.user.id, client_address=client_address(),
                     outcome="success" if result.ok else "failure",
                     details={"rows_checked": result.rows_checked, "first_bad_seq": result.first_bad_seq})
    return jsonify(ok=result.ok, rows_checked=result.rows_checked, first_bad_seq=result.first_bad_seq,
                   problem=result.problem)


@blueprint.get("/audit")
@operator_required
def appliance_audit():
    return audit_response()
