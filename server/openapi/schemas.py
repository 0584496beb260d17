"""The building blocks of the OpenAPI document (`server/openapi/document.py`) and the component schemas it names."""

from __future__ import annotations

from appliance.accounts.api_keys import SCOPES
from appliance.accounts.permissions import ROLES
from appliance.audit.log import ACTOR_TYPES, OUTCOMES
from appliance.conversations.analytics_report import COUNTS
from appliance.conversations.records import CHANNELS
from appliance.jobs.runs import OUTCOMES as RUN_OUTCOMES
from appliance.jobs.runs import TRIGGERS

STRING = {"type": "string"}
INTEGER = {"type": "integer"}
BOOLEAN = {"type": "boolean"}
TIME = {"type": "string", "format": "date-time"}
MAYBE_STRING = {"type": ["string", "null"]}
MAYBE_TIME = {"type": ["string", "null"], "format": "date-time"}
DAY = {"type": "string", "format": "date"}
MAYBE_NUMBER = {"type": ["number", "null"]}
BINARY = {"type": "string", "contentMediaType": "application/octet-stream"}
GRANTABLE_ROLES = [role for role in ROLES if role != "owner"]


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def array(item: dict, **limits) -> dict:
    return {"type": "array", "items": item, **limits}


def obj(properties: dict, *, optional: tuple[str, ...] = (), closed: bool = True) -> dict:
    """An object whose properties are all required unless named optional; closed ones reject unknown fields."""
    schema = {"type": "object", "properties": properties,
              "required": [name for name in properties if name not in optional]}
    if closed:
        schema["additionalProperties"] = False
    return schema


def json_body(*required: str, optional: tuple[str, ...] = (), **types: dict) -> dict:
    """A JSON request body of string fields (unless typed otherwise); the views ignore fields they do not read."""
    names = required + optional
    return obj({name: types.get(name, STRING) for name in names}, optional=optional, closed=False)


def wrapped(name: str, schema: dict) -> dict:
    return obj({name: schema})


def paged(name: str, item: dict) -> dict:
    """A page of a list: its items and the cursor of the next page (null on the last)."""
    return obj({name: array(item), "next_after": {"type": ["string", "null"]}})


MESSAGE = {"type": "string", "description": "What happened, worded for a person."}
WEB_URL = {"type": ["string", "null"], "description": "The http(s) address of a crawled page (a URL or sitemap "
                                                       "source); null for uploads, pasted text and Q&A pairs."}

_OUTBOX_MAIL = {
    "id": INTEGER, "status": {"enum": ["pending", "failed", "sent"]}, "recipient": STRING, "subject": STRING,
    "attempts": INTEGER, "created_at": TIME, "age_seconds": INTEGER, "next_attempt_at": MAYBE_TIME,
    "sent_at": MAYBE_TIME, "last_error": MAYBE_STRING}
SCHEMAS: dict[str, dict] = {
    "Error": obj({"error": {"type": "string", "description": "A stable machine-readable code."},
                  "message": MESSAGE,
                  "role": {"enum": list(ROLES), "description": "On a 403 that a workspace role caused: the caller's "
                                                               "role there."}},
                 optional=("role",)),
    "User": obj({"id": STRING, "email": STRING, "display_name": STRING, "is_operator": BOOLEAN,
                     "status": STRING, "email_verified": BOOLEAN, "second_factor": BOOLEAN, "created_at": TIME}),
    "Session": obj({"id": STRING, "created_at": TIME, "last_seen_at": TIME, "expires_at": TIME,
                        "client_address": MAYBE_STRING, "user_agent": MAYBE_STRING,
                        "current": {"type": "boolean", "description": "Whether this is the caller's own session."}}),
    "Membership": obj({"id": STRING, "name": STRING, "status": STRING, "role": {"enum": list(ROLES)},
                       "permissions": {**array(STRING), "description": "The workspace actions the caller's role "
                                                                       "allows (docs/permissions.md)."}}),
    "Overview": obj({
        "version": STRING, "data_dir": STRING, "data_dir_exists": BOOLEAN, "key_dir": STRING,
        "key_dir_exists": BOOLEAN,
        "databases": obj({"control_bytes": INTEGER, "workspaces": INTEGER, "workspaces_bytes": INTEGER,
                          "keystore_bytes": {"type": ["integer", "null"]}}),
        "disk": obj({"free_bytes": INTEGER, "total_bytes": INTEGER, "min_free_bytes": INTEGER}),
        "certificate": obj({"names": array(STRING), "expires_at": TIME, "days_left": INTEGER, "own": BOOLEAN,
                            "renewed_at_next_start": BOOLEAN}),
        "ca_fingerprint": STRING,
        "mail": obj({"relay_configured": BOOLEAN, "relay": MAYBE_STRING, "queued": INTEGER, "failed": INTEGER,
                     "oldest_queued_at": MAYBE_TIME, "last_error": MAYBE_STRING}),
        "jobs": array(obj({"id": STRING, "description": STRING, "every_seconds": INTEGER, "failing": BOOLEAN,
                           "running": BOOLEAN, "last_run": {"oneOf": [ref("JobRun"), {"type": "null"}]}})),
        "backups": obj({"count": INTEGER, "newest_verified": {"oneOf": [{"type": "null"}, obj({
            "id": STRING, "created_at": TIME, "size": {"type": ["integer", "null"]}, "verified_at": MAYBE_TIME})]}}),
        "audit": obj({"last_verification": {"oneOf": [{"type": "null"}, obj({
            "at": TIME, "ok": BOOLEAN, "rows_checked": {"type": ["integer", "null"]}, "problem": MAYBE_STRING})]}}),
        "alerts": {**array(obj({"id": INTEGER, "kind": STRING, "summary": STRING, "opened_at": TIME,
                                "mailed": BOOLEAN})),
                   "description": "Open security alerts, oldest first: each was mailed to the operators once when it "
                                  "opened (unless over the hourly limit) and closes by itself when its cause is gone."},
        "health": obj({"status": {"enum": ["ready", "not_ready"]},
                       "checks": {"type": "object", "additionalProperties": STRING}}),
    }, optional=("databases", "disk", "certificate", "ca_fingerprint")),
    "Workspace": obj({"id": STRING, "name": STRING, "status": STRING, "created_at": TIME,
                          "owner": obj({"id": MAYBE_STRING, "email": MAYBE_STRING}),
                          "role": {"enum": list(ROLES), "description": "The caller's role; absent in ?all=1 lists."},
                          "purge_after": {**MAYBE_TIME, "description": "When a cancelled workspace is purged."},
                          "purge_started_at": {**MAYBE_TIME, "description": "Set once the purge has begun."},
                          "legal_hold": {"oneOf": [{"type": "null"}, obj({"since": TIME, "reason": MAYBE_STRING})],
                                         "description": "Shown to operators and roles that may read retention "
                                                        "settings; null when there is no hold."}},
                         optional=("role", "legal_hold")),
    "Member": obj({"user_id": STRING, "email": STRING, "display_name": STRING, "role": {"enum": list(ROLES)},
                       "joined_at": TIME}),
    "Invitation": obj({"id": STRING, "workspace_id": STRING, "email": STRING, "role": {"enum": GRANTABLE_ROLES},
                           "invited_by": MAYBE_STRING, "created_at": TIME, "expires_at": TIME,
                           "accepted_at": MAYBE_TIME, "revoked_at": MAYBE_TIME}),
    "Generator": obj({"url": {"type": "string", "format": "uri"}, "model": {"type": "string", "maxLength": 200},
                          "timeout_seconds": {"type": "number", "minimum": 1, "maximum": 120}},
                         optional=("model", "timeout_seconds")),
    "AgentSettings": obj({
        "name": {"type": "string", "minLength": 1, "maxLength": 100},
        "instructions": {"type": "string", "maxLength": 4000},
        "welcome_message": {"type": "string", "maxLength": 1000},
        "fallback_text": {"type": "string", "minLength": 1, "maxLength": 1000},
        "suggested_questions": array({"type": "string", "maxLength": 200}, maxItems=10),
        "confidence_threshold": {"type": "number", "minimum": 0, "maximum": 1},
        "answer_length": {"enum": ["short", "medium", "long"]},
        "lead_capture": {"enum": ["off", "on_fallback", "always"]},
        "allowed_origins": array({"type": "string", "description": "scheme://host[:port]"}, maxItems=50),
        "generator": {"oneOf": [ref("Generator"), {"type": "null"}],
                      "description": "An OpenAI-compatible endpoint, or null for extractive answers only."},
        "color": {"type": "string", "pattern": "^#[0-9a-fA-F]{6}$", "description": "The widget's colour."},
        "lead_fields": array(ref("LeadField"), minItems=1, maxItems=12),
        "consent_text": {"type": "string", "minLength": 1, "maxLength": 2000,
                         "description": "Shown beside the lead form's consent box; changing it raises the version."},
        "notify_on_lead": {"type": "boolean", "description": "Mail the workspace's owners and admins per lead."},
    }, optional=("name", "instructions", "welcome_message", "fallback_text", "suggested_questions",
                 "confidence_threshold", "answer_length", "lead_capture", "allowed_origins", "generator", "color",
                 "lead_fields", "consent_text", "notify_on_lead")),
    "LeadField": obj({"name": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,39}$",
                                   "description": "name, email, phone, company, or a field of your own."},
                          "label": {"type": "string", "minLength": 1, "maxLength": 100},
                          "type": {"enum": ["text", "textarea", "email", "tel"]},
                          "required": BOOLEAN}, optional=("type", "required")),
    "Agent": obj({"id": STRING, "public_id": STRING, "name": STRING, "instructions": STRING,
                      "welcome_message": STRING, "suggested_questions": array(STRING), "fallback_text": STRING,
                      "confidence_threshold": {"type": "number"}, "answer_length": STRING, "lead_capture": STRING,
                      "allowed_origins": array(STRING),
                      "generator": {"oneOf": [ref("Generator"), {"type": "null"}]},
                      "created_at": TIME, "updated_at": TIME, "color": STRING,
                      "lead_fields": array(ref("LeadField")), "consent_text": STRING,
                      "consent_version": INTEGER, "notify_on_lead": BOOLEAN,
                      "embed_snippet": {"type": "string", "description": "The <script> tag that puts this agent's "
                                        "chat widget on a page of one of its allowed origins."},
                      "preview_url": {"type": "string", "format": "uri", "description": "A page of the appliance, "
                                      "for the workspace's signed-in people, that shows the agent's widget as "
                                      "visitors see it (or why this origin is refused)."}}),
    "Citation": obj({"source_id": STRING, "title": STRING, "url": WEB_URL, "heading_path": STRING,
                         "passage": STRING}),
    "Answer": obj({"conversation_id": STRING, "message_id": INTEGER, "reply": STRING, "answered": BOOLEAN,
                       "confidence": {"type": "number"},
                       "method": {"enum": ["qa", "extractive", "generated", "fallback", "handoff"]},
                       "offer_lead_form": BOOLEAN, "sources": array(ref("Citation"))}),
    "QAPair": obj({"question": STRING, "answer": STRING}, closed=False),
    "Source": obj({"id": STRING, "kind": STRING, "title": STRING, "url": WEB_URL, "filename": MAYBE_STRING,
                       "media_type": MAYBE_STRING,
                       "status": {"type": "string", "description": "queued, indexing, ready or failed."},
                       "error": MAYBE_STRING, "size_bytes": INTEGER, "chunk_count": INTEGER, "created_at": TIME,
                       "updated_at": TIME, "refreshed_at": MAYBE_TIME,
                       "progress": {"type": ["object", "null"], "required": ["done", "total"],
                                    "additionalProperties": False,
                                    "properties": {"done": INTEGER, "total": INTEGER},
                                    "description": "While the embedding model works through an indexing source: "
                                                   "texts embedded so far of all its texts. Null otherwise."}}),
    "ApiKey": obj({"id": STRING, "workspace_id": STRING, "name": STRING, "scopes": array({"enum": list(SCOPES)}),
                       "allowed_addresses": array(STRING), "rate_limit_per_minute": INTEGER,
                       "created_by": {"type": ["string", "null"],
                                      "description": "The member the key answers to: its creator, or whom it was "
                                                     "handed over to. It works only while they may manage keys."},
                       "created_at": TIME, "expires_at": MAYBE_TIME,
                       "rotated_at": MAYBE_TIME, "revoked_at": MAYBE_TIME, "last_used_at": MAYBE_TIME,
                       "previous_valid_until": MAYBE_TIME,
                       "prefix": {"type": "string", "description": "csk_<id>_, to recognise the key."}}),
    "KeySettlement": obj({"id": STRING, "name": STRING,
                          "outcome": {"enum": ["revoked", "handed_over"]},
                          "to": {"type": ["string", "null"], "description": "Whom it answers to now, if handed "
                                                                           "over."}}),
    "NewApiKey": obj({"api_key": ref("ApiKey"),
                          "key": {"type": "string", "description": "The whole key, shown only this once."},
                          "message": MESSAGE}),
    "SsoProvider": {"oneOf": [
        obj({"id": STRING, "kind": {"const": "oidc"}, "name": STRING, "issuer": STRING, "client_id": STRING,
             "ca_file": MAYBE_STRING, "allowed_domains": array(STRING), "allowed_groups": array(STRING),
             "groups_claim": STRING, "password_login": BOOLEAN, "created_at": TIME}),
        obj({"id": STRING, "kind": {"const": "ldap"}, "name": STRING, "url": STRING, "start_tls": BOOLEAN,
             "bind_dn": MAYBE_STRING, "ca_file": MAYBE_STRING, "user_base": STRING, "user_filter": STRING,
             "group_base": MAYBE_STRING, "group_filter": STRING, "email_attribute": STRING,
             "name_attribute": STRING, "allowed_domains": array(STRING), "allowed_groups": array(STRING),
             "created_at": TIME})]},
    "SsoGroupRole": obj({"group": STRING, "workspace_id": STRING, "role": {"enum": ["admin", "editor", "viewer"]}}),
    "MetricsToken": obj({"id": STRING, "name": STRING, "created_by": MAYBE_STRING, "created_at": TIME,
                         "expires_at": MAYBE_TIME, "revoked_at": MAYBE_TIME, "last_used_at": MAYBE_TIME,
                         "last_used_address": MAYBE_STRING,
                         "prefix": {"type": "string", "description": "csm_<id>_, to recognise the token."}}),
    "NewMetricsToken": obj({"metrics_token": ref("MetricsToken"),
                            "token": {"type": "string", "description": "The whole token, shown only this once: "
                                                                        "scrape GET /metrics with it as a bearer "
                                                                        "token."},
                            "message": MESSAGE}),
    "AuditEvent": obj({"seq": INTEGER, "at": TIME, "actor_type": {"enum": list(ACTOR_TYPES)},
                           "actor_id": MAYBE_STRING, "action": STRING, "target_type": MAYBE_STRING,
                           "target_id": MAYBE_STRING, "workspace_id": MAYBE_STRING, "client_address": MAYBE_STRING,
                           "outcome": {"enum": list(OUTCOMES)},
                           "details": {"type": "object", "additionalProperties": True}}),
    "ConversationSummary": obj({
        "id": STRING, "agent_id": STRING, "channel": {"enum": list(CHANNELS)}, "started_at": TIME,
        "updated_at": TIME, "origin": MAYBE_STRING, "page_url": MAYBE_STRING, "message_count": INTEGER,
        "answered_count": {"type": "integer", "description": "Replies that answered."},
        "fell_back_count": {"type": "integer", "description": "Replies that gave the fallback text."},
        "has_lead": BOOLEAN, "thumbs_up": INTEGER, "thumbs_down": INTEGER,
        "first_question": {"type": ["string", "null"], "description": "The first question, cut at 200 characters."}}),
    "CitedSource": obj({
        "source_id": MAYBE_STRING, "title": {"type": ["string", "null"], "description": "Null once deleted."},
        "url": WEB_URL, "heading_path": STRING, "content_hash": STRING,
        "current": {"type": "boolean", "description": "Whether the cited passage still has the text it had then."}}),
    "TranscriptMessage": obj({
        "id": INTEGER, "role": {"enum": ["visitor", "agent"]}, "text": STRING,
        "answered": {"type": ["boolean", "null"]}, "confidence": MAYBE_NUMBER,
        "method": {"enum": ["qa", "extractive", "generated", "fallback", "handoff", None]},
        "feedback": {"enum": ["up", "down", None]}, "offer_lead_form": BOOLEAN, "created_at": TIME,
        "sources": array(ref("CitedSource"))}),
    "Lead": obj({
        "id": STRING, "agent_id": STRING, "conversation_id": MAYBE_STRING, "name": MAYBE_STRING,
        "email": MAYBE_STRING, "phone": MAYBE_STRING, "company": MAYBE_STRING,
        "custom_fields": {"type": "object", "additionalProperties": STRING,
                          "description": "The agent's own form fields."},
        "consent": obj({"text": {"type": "string", "description": "Exactly what the visitor agreed to."},
                            "version": INTEGER, "at": TIME}),
        "page_url": MAYBE_STRING, "origin": MAYBE_STRING, "client_address": MAYBE_STRING, "created_at": TIME}),
    "Transcript": obj({
        "id": STRING, "agent_id": STRING, "channel": {"enum": list(CHANNELS)}, "started_at": TIME,
        "updated_at": TIME, "origin": MAYBE_STRING, "page_url": MAYBE_STRING, "has_lead": BOOLEAN,
        "messages": array(ref("TranscriptMessage")),
        "leads": {**array(ref("Lead")), "description": "Present only for callers who may read leads."}},
        optional=("leads",)),
    "Receipt": obj({
        "deleted": {"type": "object", "additionalProperties": INTEGER,
                    "description": "What went, by kind: conversations, messages, leads_unlinked; or leads."},
        "at": TIME, "by": {"type": "string", "description": "The user or API key id that deleted it."},
        "not_found": {**array(STRING), "description": "Asked-for ids that did not exist (bulk deletion only)."}},
        optional=("not_found",)),
    "DayCounts": obj({"day": DAY, **{name: INTEGER for name in COUNTS}}),
    "QuestionCount": obj({"question": STRING, "count": INTEGER,
                              "answered_share": {"type": "number", "minimum": 0, "maximum": 1},
                              "last_asked": TIME}),
    "FellBackQuestion": obj({"question": STRING, "count": INTEGER, "last_asked": TIME}),
    "Analytics": obj({"since": DAY, "until": DAY, "days": array(ref("DayCounts")),
                          "totals": obj({name: INTEGER for name in COUNTS}),
                          "top_questions": array(ref("QuestionCount")),
                          "fell_back_questions": array(ref("FellBackQuestion")),
                          "question_text": {"enum": ["full", "redacted"],
                                            "description": "full for callers who may read conversations; redacted "
                                                           "(links, email addresses, phone numbers and runs of five "
                                                           "digits or more masked) for the others."}}),
    "AuditPage": obj({"events": array(ref("AuditEvent")),
                          "next_after": {"type": ["integer", "null"],
                                         "description": "Pass as ?after= for the next page; null on the last."}}),
    "JobRun": obj({
        "id": INTEGER, "job_id": STRING, "trigger": {"enum": list(TRIGGERS)},
        "requested_by": {"type": ["string", "null"], "description": "Who ran it by hand: a user id, or cli."},
        "started_at": TIME, "finished_at": MAYBE_TIME,
        "duration_ms": {"type": ["integer", "null"], "description": "Null while running, skipped or interrupted."},
        "outcome": {"enum": list(RUN_OUTCOMES)},
        "summary": {"type": "object", "additionalProperties": True, "description": "What the run did."},
        "error": {"type": ["string", "null"], "description": "Why it failed, was skipped or was interrupted."},
        "host": STRING, "pid": INTEGER}),
    "Job": obj({
        "id": STRING, "description": STRING, "every_seconds": INTEGER,
        "next_run_at": {"type": ["string", "null"], "format": "date-time",
                        "description": "When the scheduler runs it next; null if no scheduler runs here."},
        "running": {"oneOf": [ref("JobRun"), {"type": "null"}], "description": "The run going on now, if any."},
        "last_run": {"oneOf": [ref("JobRun"), {"type": "null"}],
                     "description": "The last run that finished (succeeded, failed or was interrupted)."},
        "last_failure": {"oneOf": [ref("JobRun"), {"type": "null"}]}}),
    "JobRunPage": obj({"runs": array(ref("JobRun")),
                       "next_after": {"type": ["integer", "null"],
                                      "description": "Pass as ?after= for the next page; null on the last."}}),
    "RetentionPolicy": obj({
        **{name: {"type": ["integer", "null"], "minimum": 1, "maximum": 3650, "description": what}
           for name, what in (
               ("conversations_days", "Days after a conversation's last message that it goes, with its messages."),
               ("leads_days", "Days after a lead was left that it goes."),
               ("analytics_events_days", "Days after an analytics event that it goes."),
               ("visitor_addresses_days", "Days after a conversation started or a lead was left that the visitor's "
                                          "address is truncated or dropped."),
               ("uploaded_originals_days", "Days after an upload that the file goes; its source stays indexed."))},
        "visitor_addresses_action": {"enum": ["truncate", "drop"], "default": "truncate",
                                     "description": "truncate: IPv4 to its /24, IPv6 to its /48; drop: remove."},
    }, optional=("conversations_days", "leads_days", "analytics_events_days", "visitor_addresses_days",
                 "visitor_addresses_action", "uploaded_originals_days")),
    "LegalHold": obj({"since": TIME, "reason": MAYBE_STRING}),
    "Retention": obj({"policy": ref("RetentionPolicy"),
                      "legal_hold": {"oneOf": [ref("LegalHold"), {"type": "null"}],
                                     "description": "While set, no purge touches the workspace."}}),
    "RetentionPreview": obj({
        "policy": ref("RetentionPolicy"),
        "would_delete": obj({name: INTEGER for name in ("conversations", "messages", "leads", "analytics_events",
                                                        "visitor_addresses", "uploaded_originals")}),
        "summary": MESSAGE, "legal_hold": BOOLEAN}),
    "Cancellation": obj({"workspace_id": STRING, "status": {"enum": ["active", "cancelled"]},
                         "cancelled_at": MAYBE_TIME,
                         "purge_after": {"type": ["string", "null"], "format": "date-time",
                                         "description": "When the purge is due; at most 30 days after cancelling."},
                         "purge_started_at": MAYBE_TIME, "legal_hold": BOOLEAN}),
    "ErasureReceipt": obj({
        "erasure_id": STRING,
        "subject_sha256": {"type": "string", "description": "SHA-256 of the address trimmed and lower-cased, as "
                                                            "the audit log names the data subject."},
        "at": TIME, "by": MAYBE_STRING, "dry_run": BOOLEAN, "deleted": ref("ErasureCounts"),
        "workspaces": array(obj({"workspace_id": STRING, "workspace_name": STRING,
                                 "legal_hold": {"type": "boolean", "description": "Held: nothing was erased there."},
                                 "deleted": ref("ErasureCounts"),
                                 "matches": array(ref("ErasureMatch"))}))}),
    "ErasureMatch": obj({
        "record": {"enum": ["lead", "conversation"]}, "id": STRING,
        "field": {"type": "string", "description": "Where the address was found: email, name, phone, company, "
                                                   "custom_fields.<name> or messages.<id>; or why the record "
                                                   "follows from another match: lead (the conversation of a "
                                                   "matched lead) or visitor (the same widget visitor's)."},
        "matched": {"type": "string", "description": "The address as written there; in a preview (dry run) only."},
        "matched_sha256": {"type": "string", "description": "SHA-256 of the text that matched; in the receipt of "
                                                            "an erasure, which keeps no address."},
        "via": {"type": "string", "description": "The matched lead or conversation this record follows from."}},
        optional=("matched", "matched_sha256", "via")),
    "ErasureCounts": obj({name: INTEGER for name in ("leads", "conversations", "messages", "analytics_questions")}),
    "BackupFileCheck": obj({
        "name": STRING, "kind": {"enum": ["control", "workspace"]}, "workspace_id": MAYBE_STRING,
        "status": {"enum": ["ok", "purged", "failed"],
                   "description": "purged: the workspace's key was destroyed since, so this copy cannot be opened."},
        "problem": MAYBE_STRING, "counts": {"type": "object", "additionalProperties": INTEGER},
        "under_retired_key": {"type": "boolean", "description": "Made before a key rotation: opened with the key's "
                                                                "retired material."}}),
    "BackupVerification": obj({"passed": BOOLEAN, "checked_at": TIME, "problem": MAYBE_STRING,
                               "files": array(ref("BackupFileCheck")), "purged_workspaces": array(STRING)}),
    "Backup": obj({
        "id": STRING, "created_at": TIME, "file_name": STRING,
        "key_id": {"type": "string", "description": "The backup key it is encrypted under, backup:<n>."},
        "status": {"enum": ["running", "complete", "failed"]}, "size": {"type": ["integer", "null"]},
        "sha256": {"type": ["string", "null"], "description": "SHA-256 of the encrypted file."},
        "finished_at": MAYBE_TIME, "error": MAYBE_STRING,
        "file_present": {"type": "boolean", "description": "Whether the file is still in the backup directory."},
        "workspace_ids": array(STRING), "verified_at": MAYBE_TIME,
        "verification_status": {"enum": ["passed", "failed", None]},
        "verification": {"oneOf": [ref("BackupVerification"), {"type": "null"}]}}),
    "OutboxMail": obj(_OUTBOX_MAIL),
    "OutboxMailWithBody": obj({**_OUTBOX_MAIL, "body": {
        "type": "string", "description": "The whole text, links and all: they act for the recipient alone."}}),
}
