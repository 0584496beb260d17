"""Conversations, leads and analytics of a workspace: lists, transcripts, exports, and deletions with receipts."""

from __future__ import annotations

from typing import Iterator

from flask import Blueprint, Response, jsonify, request

from appliance.conversations import listing
from appliance.conversations.lead_records import LeadFilters
from appliance.conversations.records import ConversationFilters
from appliance.exports.streamed import StreamedExport
from server.api.auditing import audit
from server.api.payload import body
from server.auth import actor, allows, services, workspace_role
from server.downloads import attachment

blueprint = Blueprint("conversations", __name__)
W = "/workspaces/<workspace_id>"
AUDIT_IDS_CHARS = 3000  # ids per audit row, within the log's limit on a row's details


@blueprint.get(f"{W}/conversations")
def list_conversations(workspace_id: str):
    workspace_role(workspace_id, "conversations.read")
    page = services().conversations.records(workspace_id).list(
        ConversationFilters.from_params(request.args), limit=listing.limit(request.args),
        after=request.args.get("after"))
    return jsonify(conversations=[c.public() for c in page.items], next_after=page.next_after)


@blueprint.get(f"{W}/conversations/<conversation_id>")
def get_conversation(workspace_id: str, conversation_id: str):
    workspace_role(workspace_id, "conversations.read")
    transcript = services().conversations.records(workspace_id).get(conversation_id)
    return jsonify(conversation=transcript.public(with_leads=allows(workspace_id, "leads.read")))


@blueprint.delete(f"{W}/conversations/<conversation_id>")
def delete_conversation(workspace_id: str, conversation_id: str):
    workspace_role(workspace_id, "conversations.delete")
    deletion = services().conversations.records(workspace_id).delete(conversation_id)
    return _receipt(workspace_id, "conversation.delete", "conversation", deletion.ids, deletion.counts(), deletion.at)


@blueprint.post(f"{W}/conversations/delete")
def delete_conversations(workspace_id: str):
    workspace_role(workspace_id, "conversations.delete")
    requested = body().get("ids")
    deletion = services().conversations.records(workspace_id).delete_many(requested)
    not_found = sorted(set(requested) - set(deletion.ids))
    return _receipt(workspace_id, "conversations.delete", "conversation", deletion.ids, deletion.counts(),
                    deletion.at, not_found=not_found)


@blueprint.get(f"{W}/conversations/export")
def export_conversations(workspace_id: str):
    workspace_role(workspace_id, "conversations.read", export=True)
    filters, format = ConversationFilters.from_params(request.args), request.args.get("format") or "csv"
    records = services().conversations.records(workspace_id)
    export = records.stream(filters, format)
    audit(workspace_id, "conversations.export", {"format": format, "filters": filters.summary(),
                                                  "count": records.count(filters)})
    return _streamed(export)


@blueprint.get(f"{W}/leads")
def list_leads(workspace_id: str):
    workspace_role(workspace_id, "leads.read")
    page = services().conversations.lead_records(workspace_id).list(
        LeadFilters.from_params(request.args), limit=listing.limit(request.args), after=request.args.get("after"))
    return jsonify(leads=[lead.public() for lead in page.items], next_after=page.next_after)


@blueprint.get(f"{W}/leads/<lead_id>")
def get_lead(workspace_id: str, lead_id: str):
    workspace_role(workspace_id, "leads.read")
    record = services().conversations.lead_records(workspace_id).get(lead_id)
    data = {"lead": record.lead.public()}
    if allows(workspace_id, "conversations.read"):
        data["conversation"] = record.conversation.public() if record.conversation else None
    return jsonify(data)


@blueprint.delete(f"{W}/leads/<lead_id>")
def delete_lead(workspace_id: str, lead_id: str):
    workspace_role(workspace_id, "leads.delete")
    deletion = services().conversations.lead_records(workspace_id).delete(lead_id)
    return _receipt(workspace_id, "lead.delete", "lead", deletion.ids, deletion.counts(), deletion.at)


@blueprint.get(f"{W}/leads/export")
def export_leads(workspace_id: str):
    workspace_role(workspace_id, "leads.read", export=True)
    filters = LeadFilters.from_params(request.args)
    records = services().conversations.lead_records(workspace_id)
    audit(workspace_id, "leads.export", {"format": "csv", "filters": filters.summary(),
                                          "count": records.count(filters)})
    return _streamed(records.stream_csv(filters))


@blueprint.get(f"{W}/analytics")
def get_analytics(workspace_id: str):
    workspace_role(workspace_id, "analytics.read")
    args = request.args
    report = _analytics(workspace_id).report(args.get("since"), args.get("until"), args.get("agent_id") or None)
    return jsonify(report.public())


@blueprint.get(f"{W}/analytics/export")
def export_analytics(workspace_id: str):
    workspace_role(workspace_id, "analytics.read", export=True)
    args = request.args
    analytics = _analytics(workspace_id)
    since, until = analytics.period(args.get("since"), args.get("until"))
    table, agent_id = args.get("table") or "daily", args.get("agent_id") or None
    content = analytics.csv(table, since, until, agent_id)
    audit(workspace_id, "analytics.export", {"table": table, "since": since, "until": until, "agent_id": agent_id,
                                              "question_text": analytics.question_text})
    return _attachment(content, "text/csv", f"analytics-{table}-{since}-to-{until}.csv")


def _analytics(workspace_id: str):
    """The analytics report as the caller may read it: the questions are visitors' own words (emails, numbers), so
    only those who may read conversations get them in full; the others get them redacted."""
    return services().conversations.analytics(workspace_id,
                                              redacted=not allows(workspace_id, "conversations.read"))


def _attachment(content: str | Iterator[bytes], media_type: str, filename: str) -> Response:
    return Response(content, mimetype=media_type, headers={"Content-Disposition": attachment(filename)})


def _streamed(export: StreamedExport) -> Response:
    """An export sent a page at a time as it is made (the audit row, written first, counts what it holds)."""
    return _attachment(export.encoded(), export.media_type, export.filename)


def _receipt(workspace_id: str, action: str, target_type: str, ids: list[str], counts: dict[str, int], at: str,
             **extra):
    """Answer a deletion with its receipt, recorded in the audit log by id and count, never by content."""
    receipt = {"deleted": counts, "at": at, "by": actor()[1], **extra}
    if len(ids) == 1:
        audit(workspace_id, action, {"deleted": counts}, target_type=target_type, target_id=ids[0])
        return jsonify(receipt)
    parts = _batches(ids)
    with services().appliance.control_db.transaction() as conn:
        for number, part in enumerate(parts, start=1):
            audit(workspace_id, action, {"deleted": counts, "ids": part, "part": number, "parts": len(parts)},
                   target_type=target_type, conn=conn)
    return jsonify(receipt)


def _batches(ids: list[str]) -> list[list[str]]:
    """The ids split so each audit row's details stay within the log's size limit."""
    batches: list[list[str]] = [[]]
    size = 0
    for item in ids:
        if batches[-1] and size + len(item) + 3 > AUDIT_IDS_CHARS:
            batches.append([])
            size = 0
        batches[-1].append(item)
        size += len(item) + 3
    return batches
