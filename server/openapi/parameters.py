"""The query parameters, request bodies and downloads that `/api/v1`'s routes share, for the OpenAPI document
(server/openapi/operations.py names the routes that use them)."""

from __future__ import annotations

from dataclasses import dataclass

from appliance.accounts.api_keys import SCOPES
from appliance.audit.log import OUTCOMES
from appliance.conversations import records as conversation_records
from appliance.conversations.analytics_report import TABLES
from appliance.conversations.listing import DEFAULT_LIMIT, MAX_LIMIT
from appliance.conversations.records import CHANNELS, FEEDBACK, FORMATS
from server.openapi.schemas import BINARY, DAY, STRING, TIME, array, json_body, obj, ref

AUDIT_FILTERS = [("actor_id", STRING, "Only events by this actor."),
                  ("action", STRING, "Only events of this action, like workspace.create."),
                  ("outcome", {"enum": list(OUTCOMES)}, "Only events with this outcome."),
                  ("since", TIME, "Only events at or after this ISO 8601 time (UTC if no zone)."),
                  ("until", TIME, "Only events before this ISO 8601 time (UTC if no zone)."),
                  ("order", {"enum": ["oldest", "newest"], "default": "oldest"},
                   "oldest: the chain's order (for exports and audits); newest: the latest events first."),
                  ("after", {"type": "integer", "minimum": 0},
                   "The next_after of the previous page (it continues in the order asked for)."),
                  ("limit", {"type": "integer", "minimum": 0, "maximum": 1000, "default": 100}, "Events per page."),
                  ("format", {"enum": ["json", "csv"], "default": "json"}, "csv downloads the page as CSV.")]

SOURCE_BODY = {"oneOf": [
    json_body("kind", "title", "text", kind={"const": "text"}),
    json_body("kind", "title", "pairs", kind={"const": "qa"}, pairs=array(ref("QAPair"))),
    json_body("kind", "url", kind={"enum": ["url", "sitemap"]}, url={"type": "string", "format": "uri"}),
]}
EDIT_SOURCE_BODY = {"oneOf": [json_body("text", optional=("title",)),
                               json_body("pairs", optional=("title",), pairs=array(ref("QAPair")))]}
KEY_BODY = json_body(
    "name", "scopes", optional=("expires_in_days", "allowed_addresses", "rate_limit_per_minute"),
    scopes=array({"enum": list(SCOPES)}, minItems=1),
    expires_in_days={"oneOf": [{"type": "integer", "minimum": 1, "maximum": 3650}, {"const": "never"},
                               {"type": "null"}], "description": "Defaults to 90; \"never\" must be explicit."},
    allowed_addresses=array({"type": "string", "description": "An IP address or CIDR network."}),
    rate_limit_per_minute={"type": "integer", "minimum": 1, "maximum": 10000, "default": 120},
)
UPLOAD_BODY = {"multipart/form-data": {"schema": obj({"file": BINARY})}}
CSV_OR_JSON = object()  # marks the audit endpoints, whose 200 is JSON or CSV


@dataclass(frozen=True)
class Download:
    """A 200 that is a file to save (Content-Disposition: attachment) rather than a JSON answer."""

    description: str
    content: dict


_CSV = {"text/csv": {"schema": STRING}}
CONVERSATIONS_EXPORT = Download("Every matching conversation: CSV with one row per message, or JSON transcripts.",
                                  {**_CSV, "application/json": {"schema": array(ref("Transcript"))}})
LEADS_EXPORT = Download("Every matching lead as CSV, a column per custom field.", _CSV)
COMPLIANCE_REPORT = Download(
    "A self-contained HTML page, failed controls first (format=json: generated_at, appliance_id, version and each "
    "control's id, promise, control, status pass/warn/fail and evidence).",
    {"text/html": {"schema": STRING}, "application/json": {"schema": {"type": "object"}}})
ANALYTICS_EXPORT = Download("The daily table or the fell-back questions as CSV.", _CSV)
ENCRYPTED_EXPORT = Download("The export: a zip with a manifest of hashes, encrypted to the passphrase (AES-256-GCM, "
                              "scrypt); open it with `chatspark export decrypt FILE --out DIR`.",
                              {"application/octet-stream": {"schema": BINARY}})
EXPORT_PASSPHRASE = {"type": "string", "description": "What the export is encrypted to; 12 to 1024 characters."}
_WHEN = ("An ISO 8601 time or date (UTC if no zone); {what}.")
_CONVERSATION_FILTERS = [
    ("agent_id", STRING, "Only conversations with this agent."),
    ("since", STRING, _WHEN.format(what="only conversations started at or after it")),
    ("until", STRING, _WHEN.format(what="only conversations started before it")),
    ("outcome", {"enum": list(conversation_records.OUTCOMES)},
     "answered: every reply answered; fell_back: at least one fallback reply."),
    ("has_lead", {"enum": ["true", "false"]}, "Only conversations with (or without) a lead."),
    ("feedback", {"enum": list(FEEDBACK)}, "Only conversations with at least one reply rated so."),
    ("channel", {"enum": list(CHANNELS)}, "Only conversations held through the API or the widget."),
    ("q", STRING, "Words that must all appear in the conversation; search syntax is not interpreted."),
]
_LEAD_FILTERS = [
    ("agent_id", STRING, "Only leads left with this agent."),
    ("since", STRING, _WHEN.format(what="only leads left at or after it")),
    ("until", STRING, _WHEN.format(what="only leads left before it")),
    ("q", STRING, "Text in the name, email, phone, company or a custom field, in any case."),
]
_RECORD_PAGE = [("limit", {"type": "string", "pattern": "^[0-9]+$"},
                 f"Items per page, 1 to {MAX_LIMIT} (default {DEFAULT_LIMIT})."),
                ("after", STRING, "The next_after of the previous page.")]
_ANALYTICS_RANGE = [("since", DAY, "The first day (UTC) of the report; 30 days before until by default."),
                    ("until", DAY, "The last day (UTC) of the report, included; today by default. At most 366 days."),
                    ("agent_id", STRING, "Only this agent's events.")]
HAND_OVER = {"type": "string", "description": "The user id of a member who may manage keys, to hand the API keys "
                                            "over to instead of revoking them."}
QUERY_PARAMETERS = {
    "workspaces.remove_member": [("hand_api_keys_to", STRING, HAND_OVER["description"])],
    "users.disable_user": [("hand_api_keys_to", STRING, "The user id of a member who may manage keys in every "
                                                        "workspace where the account holds keys, to hand them to "
                                                        "instead of revoking them.")],
    "mail.list_outbox": [("limit", {"type": "string", "pattern": "^[0-9]+$"}, "At most this many, 1 to 200 "
                                                                               "(default 50)."),
                         ("all", {"enum": ["true", "false"], "default": "false"}, "Delivered mail too.")],
    "jobs.list_runs": [("job", STRING, "Only the runs of this job."),
                       ("limit", {"type": "string", "pattern": "^[0-9]+$"}, "Runs per page, 1 to 500 (default 100)."),
                       ("after", {"type": "string", "pattern": "^[0-9]+$"}, "The next_after of the previous page.")],
    "conversations.list_conversations": _CONVERSATION_FILTERS + _RECORD_PAGE,
    "conversations.export_conversations": _CONVERSATION_FILTERS + [
        ("format", {"enum": list(FORMATS), "default": "csv"}, "csv: a row per message; json: transcripts.")],
    "conversations.list_leads": _LEAD_FILTERS + _RECORD_PAGE,
    "conversations.export_leads": _LEAD_FILTERS,
    "conversations.get_analytics": _ANALYTICS_RANGE,
    "conversations.export_analytics": _ANALYTICS_RANGE + [
        ("table", {"enum": list(TABLES), "default": "daily"}, "Which table to download.")],
}
