"""What `/api/v1` offers, route by route, for the OpenAPI document (`server.openapi.document` builds it from this):
each route's method, path, endpoint, summary, who may call it, request body, success status and schema, and the
errors beyond those of its kind of caller; and the query parameters and bodies they share."""

from __future__ import annotations

from dataclasses import dataclass

from appliance.accounts.api_keys import SCOPES
from appliance.accounts.permissions import ROLES
from appliance.audit.log import OUTCOMES
from appliance.conversations import records as conversation_records
from appliance.conversations.analytics_report import TABLES
from appliance.conversations.listing import DEFAULT_LIMIT, MAX_LIMIT
from appliance.conversations.records import CHANNELS, FEEDBACK, FORMATS, MAX_DELETE
from server.openapi.schemas import (
    BINARY,
    BOOLEAN,
    DAY,
    GRANTABLE_ROLES,
    INTEGER,
    MAYBE_STRING,
    MESSAGE,
    STRING,
    TIME,
    array,
    json_body,
    obj,
    paged,
    ref,
    wrapped,
)

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

W = "/workspaces/{workspace_id}"
_SOURCE_BODY = {"oneOf": [
    json_body("kind", "title", "text", kind={"const": "text"}),
    json_body("kind", "title", "pairs", kind={"const": "qa"}, pairs=array(ref("QAPair"))),
    json_body("kind", "url", kind={"enum": ["url", "sitemap"]}, url={"type": "string", "format": "uri"}),
]}
_EDIT_SOURCE_BODY = {"oneOf": [json_body("text", optional=("title",)),
                               json_body("pairs", optional=("title",), pairs=array(ref("QAPair")))]}
_KEY_BODY = json_body(
    "name", "scopes", optional=("expires_in_days", "allowed_addresses", "rate_limit_per_minute"),
    scopes=array({"enum": list(SCOPES)}, minItems=1),
    expires_in_days={"oneOf": [{"type": "integer", "minimum": 1, "maximum": 3650}, {"const": "never"},
                               {"type": "null"}], "description": "Defaults to 90; \"never\" must be explicit."},
    allowed_addresses=array({"type": "string", "description": "An IP address or CIDR network."}),
    rate_limit_per_minute={"type": "integer", "minimum": 1, "maximum": 10000, "default": 120},
)
_UPLOAD_BODY = {"multipart/form-data": {"schema": obj({"file": BINARY})}}
CSV_OR_JSON = object()  # marks the audit endpoints, whose 200 is JSON or CSV


@dataclass(frozen=True)
class Download:
    """A 200 that is a file to save (Content-Disposition: attachment) rather than a JSON answer."""

    description: str
    content: dict


_CSV = {"text/csv": {"schema": STRING}}
_CONVERSATIONS_EXPORT = Download("Every matching conversation: CSV with one row per message, or JSON transcripts.",
                                  {**_CSV, "application/json": {"schema": array(ref("Transcript"))}})
_LEADS_EXPORT = Download("Every matching lead as CSV, a column per custom field.", _CSV)
_COMPLIANCE_REPORT = Download(
    "A self-contained HTML page, failed controls first (format=json: generated_at, appliance_id, version and each "
    "control's id, promise, control, status pass/warn/fail and evidence).",
    {"text/html": {"schema": STRING}, "application/json": {"schema": {"type": "object"}}})
_ANALYTICS_EXPORT = Download("The daily table or the fell-back questions as CSV.", _CSV)
_ENCRYPTED_EXPORT = Download("The export: a zip with a manifest of hashes, encrypted to the passphrase (AES-256-GCM, "
                              "scrypt); open it with `chatspark export decrypt FILE --out DIR`.",
                              {"application/octet-stream": {"schema": BINARY}})
_EXPORT_PASSPHRASE = {"type": "string", "description": "What the export is encrypted to; 12 to 1024 characters."}
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
_HAND_OVER = {"type": "string", "description": "The user id of a member who may manage keys, to hand the API keys "
                                            "over to instead of revoking them."}
QUERY_PARAMETERS = {
    "workspaces.remove_member": [("hand_api_keys_to", STRING, _HAND_OVER["description"])],
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


def operations() -> list[tuple]:
    """(method, path, endpoint, summary, who, request body, status, response schema, extra errors) per route."""
    sessions = paged("sessions", ref("Session"))
    user = wrapped("user", ref("User"))
    workspace = wrapped("workspace", ref("Workspace"))
    invited = obj({"invitation": ref("Invitation"), "accept_url": {**STRING, "description": "The invitation's link "
                                                                    "(single use, bound to the address)."}})
    agent = wrapped("agent", ref("Agent"))
    source = wrapped("source", ref("Source"))
    settled = {**array(ref("KeySettlement")), "description": "The API keys that answered to the member and what "
                                                             "became of each."}
    return [
        ("get", "/openapi.json", "openapi.serve_document", "This OpenAPI document", "public", None, 200,
         {"type": "object", "description": "An OpenAPI 3.1 document."}, set()),
        ("post", "/auth/login", "auth.login", "Log in with email, password and second factor", "public",
         json_body("email", "password", optional=("totp_code", "recovery_code", "device_token"),
                   device_token={"type": "string", "description": "The device_token of an earlier login on this "
                                                                  "client: it still gets in while strangers' guesses "
                                                                  "have the account locked."}), 200,
         obj({"token": {"type": "string", "description": "The bearer session token."},
                  "session": ref("Session"), "user": ref("User"), "second_factor_enrolment_required": BOOLEAN,
                  "device_token": {"type": "string", "description": "Keep it and send it at the next login "
                                                                    "(valid 90 days, until the password changes)."}}),
         {401, 403, 429}),
        ("post", "/auth/logout", "auth.logout", "End the caller's session", "session", None, 204, None, set()),
        ("post", "/auth/verify-email", "auth.verify_email", "Verify an email address with the mailed token", "public",
         json_body("token"), 200, user, set()),
        ("post", "/auth/password-reset", "auth.request_password_reset", "Mail a password-reset link", "public",
         json_body("email"), 202, obj({"message": MESSAGE}), set()),
        ("post", "/auth/password-reset/complete", "auth.complete_password_reset",
         "Set a new password with the mailed token", "public",
         json_body("token", "password", optional=("totp_code", "recovery_code")), 200, user, {401, 429}),
        ("post", "/invitations/accept", "auth.accept_invitation",
         "Accept an invitation, creating an account or joining as the signed-in user", "optional",
         json_body("token", optional=("password", "display_name")), 200,
         obj({"invitation": ref("Invitation"), "user_id": STRING, "new_account": BOOLEAN,
                  "email_verification_sent": BOOLEAN}), {404, 409}),
        ("get", "/me", "me.me", "The caller's account, session and workspaces", "session", None, 200,
         obj({"user": ref("User"), "session": ref("Session"), "workspaces": array(ref("Membership")),
              "operator_permissions": {**array(STRING), "description": "An operator's appliance actions."},
              "appliance": obj({"version": STRING, "mail_relay_configured": BOOLEAN,
                                "cancellation_purge_days": INTEGER, "api_key_grace_hours": INTEGER,
                                "max_upload_bytes": {**INTEGER, "description": "The largest training file accepted."},
                                "crawl_allowed_hosts": {**array(STRING), "description": "The hosts URL and sitemap "
                                                        "sources may be crawled from; none: crawling is off."}})}),
         set()),
        ("post", "/me/password", "me.change_password", "Change password, ending the caller's other sessions",
         "session", json_body("current_password", "new_password"), 200,
         obj({"message": MESSAGE, "sessions_ended": INTEGER}), {401, 429}),
        ("get", "/me/sessions", "me.list_sessions", "The caller's sessions", "session", None, 200, sessions, set()),
        ("delete", "/me/sessions/{session_id}", "me.end_session", "End one of the caller's sessions", "session",
         None, 204, None, {404}),
        ("post", "/me/second-factor", "me.start_second_factor",
         "Start enrolling a TOTP second factor (needs the current password)", "session", json_body("password"), 200,
         obj({"secret": STRING, "otpauth_uri": STRING, "next": STRING}), {401, 409, 429}),
        ("post", "/me/second-factor/confirm", "me.confirm_second_factor",
         "Confirm the second factor with a code and the current password; returns recovery codes", "session",
         json_body("code", "password"), 200, obj({"recovery_codes": array(STRING), "message": MESSAGE}),
         {401, 409, 429}),
        ("post", "/me/second-factor/disable", "me.disable_second_factor",
         "Turn the second factor off (needs the current password)", "session", json_body("password"), 204, None,
         {401, 429}),
        ("get", "/workspaces", "workspaces.list_workspaces", "The caller's workspaces, or every one for operators",
         "session", None, 200, paged("workspaces", ref("Workspace")), set()),
        ("post", "/workspaces", "workspaces.create_workspace", "Create a workspace", "operator",
         json_body("name", optional=("owner_email",)), 201, workspace, {409}),
        ("get", W, "workspaces.get_workspace", "One workspace", "member", None, 200, workspace, set()),
        ("patch", W, "workspaces.update_workspace", "Rename a workspace", "member", json_body("name"), 200,
         workspace, {409}),
        ("post", f"{W}/transfer", "workspaces.transfer_workspace", "Transfer ownership to a member", "member",
         json_body("user_id"), 200, obj({"workspace": ref("Workspace"), "api_keys": settled}), {409}),
        ("get", f"{W}/members", "workspaces.list_members", "The workspace's members", "member", None, 200,
         paged("members", ref("Member")), set()),
        ("patch", f"{W}/members/{{user_id}}", "workspaces.change_member_role",
         "Change a member's role; a role that may not manage keys revokes (or hands over) their API keys", "member",
         json_body("role", optional=("hand_api_keys_to",), role={"enum": GRANTABLE_ROLES},
                   hand_api_keys_to=_HAND_OVER), 200,
         obj({"user_id": STRING, "role": {"enum": list(ROLES)}, "api_keys": settled}), {409}),
        ("delete", f"{W}/members/{{user_id}}", "workspaces.remove_member",
         "Remove a member, or leave; their API keys are revoked (or handed over)", "member", None, 200,
         obj({"user_id": STRING, "api_keys": settled, "message": MESSAGE}), {409}),
        ("get", f"{W}/invitations", "workspaces.list_invitations", "The workspace's invitations", "member", None,
         200, paged("invitations", ref("Invitation")), set()),
        ("post", f"{W}/invitations", "workspaces.invite",
         "Invite someone by email; the answer holds the link too, for passing on where mail cannot leave (audited)",
         "member", json_body("email", "role", role={"enum": GRANTABLE_ROLES}), 201, invited, {409}),
        ("post", f"{W}/invitations/{{invitation_id}}/resend", "workspaces.resend_invitation",
         "Resend an invitation with a fresh link (in the answer too, audited)", "member", None, 201, invited, {409}),
        ("delete", f"{W}/invitations/{{invitation_id}}", "workspaces.revoke_invitation", "Revoke an invitation",
         "member", None, 204, None, {409}),
        ("get", f"{W}/audit", "workspaces.workspace_audit", "The workspace's audit trail", "member", None, 200,
         CSV_OR_JSON, set()),
        ("get", f"{W}/agents", "knowledge.list_agents", "The workspace's agents", "key", None, 200,
         paged("agents", ref("Agent")), set()),
        ("post", f"{W}/agents", "knowledge.create_agent", "Create an agent", "key",
         {"allOf": [ref("AgentSettings"), {"required": ["name"]}]}, 201, agent, set()),
        ("get", f"{W}/agents/{{agent_id}}", "knowledge.get_agent", "One agent", "key", None, 200, agent, set()),
        ("patch", f"{W}/agents/{{agent_id}}", "knowledge.update_agent", "Change an agent's settings", "key",
         ref("AgentSettings"), 200, agent, set()),
        ("delete", f"{W}/agents/{{agent_id}}", "knowledge.delete_agent", "Delete an agent", "key", None, 204, None,
         set()),
        ("post", f"{W}/agents/{{agent_id}}/ask", "knowledge.ask", "Ask an agent a question", "key",
         json_body("question", optional=("conversation_id",), conversation_id={
             "type": "string", "description": "Continue a conversation this same caller (API key or user) started "
                                              "here; any other conversation's id answers 404."}),
         200, ref("Answer"), set()),
        ("get", f"{W}/sources", "knowledge.list_sources", "The workspace's training sources", "key", None, 200,
         paged("sources", ref("Source")), set()),
        ("post", f"{W}/sources", "knowledge.add_source", "Add pasted text, Q&A pairs, a URL or a sitemap", "key",
         _SOURCE_BODY, 202, source, set()),
        ("post", f"{W}/sources/upload", "knowledge.upload_source", "Upload a file as a source", "key",
         _UPLOAD_BODY, 202, source, set()),
        ("get", f"{W}/sources/{{source_id}}", "knowledge.get_source", "One source", "key", None, 200, source, set()),
        ("get", f"{W}/sources/{{source_id}}/original", "knowledge.source_original",
         "Download what the source was made from", "key", None, 200, BINARY, set()),
        ("patch", f"{W}/sources/{{source_id}}", "knowledge.edit_source", "Edit a text or Q&A source", "key",
         _EDIT_SOURCE_BODY, 202, source, set()),
        ("post", f"{W}/sources/{{source_id}}/pairs", "knowledge.put_pair",
         "Add one question and answer to a Q&A source, or answer a question it holds anew (atomically)", "key",
         json_body("question", "answer"), 202, obj({"source": ref("Source"), "pairs": INTEGER}), {404}),
        ("post", f"{W}/sources/{{source_id}}/refresh", "knowledge.refresh_source", "Fetch and index a source again",
         "key", None, 202, source, set()),
        ("delete", f"{W}/sources/{{source_id}}", "knowledge.delete_source", "Delete a source", "key", None, 204,
         None, set()),
        ("get", f"{W}/conversations", "conversations.list_conversations",
         "The workspace's conversations, newest first, filtered", "key", None, 200,
         paged("conversations", ref("ConversationSummary")), set()),
        ("get", f"{W}/conversations/{{conversation_id}}", "conversations.get_conversation",
         "One conversation's transcript, with the sources its replies cited", "key", None, 200,
         wrapped("conversation", ref("Transcript")), set()),
        ("delete", f"{W}/conversations/{{conversation_id}}", "conversations.delete_conversation",
         "Delete a conversation and its text everywhere; answers with a receipt", "key", None, 200,
         ref("Receipt"), set()),
        ("post", f"{W}/conversations/delete", "conversations.delete_conversations",
         f"Delete up to {MAX_DELETE} conversations at once; answers with a receipt", "key",
         json_body("ids", ids=array(STRING, minItems=1, maxItems=MAX_DELETE)), 200, ref("Receipt"), set()),
        ("get", f"{W}/conversations/export", "conversations.export_conversations",
         "Download the matching conversations (needs the export scope for API keys)", "key", None, 200,
         _CONVERSATIONS_EXPORT, set()),
        ("get", f"{W}/leads", "conversations.list_leads", "The workspace's leads, newest first, filtered", "key",
         None, 200, paged("leads", ref("Lead")), set()),
        ("get", f"{W}/leads/{{lead_id}}", "conversations.get_lead", "One lead, with its conversation", "key", None,
         200, obj({"lead": ref("Lead"),
                       "conversation": {"oneOf": [ref("Transcript"), {"type": "null"}],
                                        "description": "Null once deleted; absent for callers who may not read "
                                                       "conversations."}}, optional=("conversation",)),
         set()),
        ("delete", f"{W}/leads/{{lead_id}}", "conversations.delete_lead", "Delete a lead; answers with a receipt",
         "key", None, 200, ref("Receipt"), set()),
        ("get", f"{W}/leads/export", "conversations.export_leads",
         "Download the matching leads as CSV (needs the export scope for API keys)", "key", None, 200,
         _LEADS_EXPORT, set()),
        ("get", f"{W}/analytics", "conversations.get_analytics",
         "Counts per day, top questions and the questions that fell back", "key", None, 200, ref("Analytics"),
         set()),
        ("get", f"{W}/analytics/export", "conversations.export_analytics",
         "Download a table of the analytics as CSV (needs the export scope for API keys)", "key", None, 200,
         _ANALYTICS_EXPORT, set()),
        ("post", f"{W}/export", "exports.export_workspace",
         "Export the whole workspace, encrypted to a passphrase (API keys need every read scope and export)", "key",
         json_body("passphrase", passphrase=_EXPORT_PASSPHRASE), 200, _ENCRYPTED_EXPORT, set()),
        ("post", "/subject-exports", "exports.export_subject",
         "Export everything about one email address from the workspaces the caller administers, encrypted",
         "session", json_body("email", "passphrase", passphrase=_EXPORT_PASSPHRASE), 200, _ENCRYPTED_EXPORT, set()),
        ("get", f"{W}/api-keys", "api_keys.list_keys", "The workspace's API keys", "member", None, 200,
         paged("api_keys", ref("ApiKey")), set()),
        ("post", f"{W}/api-keys", "api_keys.create_key", "Create an API key (shown once)", "member", _KEY_BODY, 201,
         ref("NewApiKey"), set()),
        ("post", f"{W}/api-keys/{{key_id}}/rotate", "api_keys.rotate_key",
         "Rotate an API key; the old secret works for a grace period", "member", None, 201, ref("NewApiKey"),
         set()),
        ("delete", f"{W}/api-keys/{{key_id}}", "api_keys.revoke_key", "Revoke an API key", "member", None, 204, None,
         set()),
        ("get", "/users", "users.list_users", "Every user account", "operator", None, 200,
         paged("users", ref("User")), set()),
        ("post", "/users", "users.create_operator",
         "Create another appliance operator (with a password, or one generated and shown once)", "operator",
         {"oneOf": [json_body("email", "password", optional=("display_name",)),
                    json_body("email", "generate_password", optional=("display_name",),
                              generate_password={"const": True})]},
         201, obj({"user": ref("User"), "password": STRING}, optional=("password",)), {409}),
        ("post", "/users/{user_id}/disable", "users.disable_user",
         "Disable an account, ending its sessions and revoking (or handing over) its API keys", "operator", None,
         200, obj({"user": ref("User"), "api_keys": settled}), {404, 409}),
        ("post", "/users/{user_id}/enable", "users.enable_user", "Enable a disabled account", "operator", None, 200,
         user, {404}),
        ("get", "/users/{user_id}/sessions", "users.user_sessions", "An account's sessions", "operator", None, 200,
         sessions, {404}),
        ("delete", "/users/{user_id}/sessions/{session_id}", "users.end_user_session", "End an account's session",
         "operator", None, 204, None, {404}),
        ("get", "/audit", "audit.appliance_audit", "The whole audit log", "operator", None, 200, CSV_OR_JSON,
         set()),
        ("post", "/audit/verify", "audit.verify_audit",
         "Verify the audit log's HMAC chain now; names the first altered, removed or inserted row", "operator",
         None, 200, obj({"ok": BOOLEAN, "rows_checked": INTEGER, "first_bad_seq": {"type": ["integer", "null"]},
                         "problem": MAYBE_STRING}), set()),
        ("get", "/overview", "overview.overview",
         "The appliance at a glance: health, certificate, sizes, free disk, jobs, backups, mail, the audit chain",
         "operator", None, 200, ref("Overview"), set()),
        ("get", "/sso/buttons", "sso.sign_in_buttons", "The single sign-on providers a sign-in screen offers",
         "public", None, 200, obj({"providers": array(obj({"id": STRING, "name": STRING, "start": STRING}))}), set()),
        ("post", "/sso/panel-token", "sso.panel_token",
         "A desktop panel's session, for the one-time code its loopback port received and the verifier it kept",
         "public", json_body("code", "verifier"), 200, obj({"token": STRING}), {401}),
        ("get", "/sso/providers", "sso.list_providers", "The OpenID Connect providers (never their secrets)",
         "operator", None, 200, obj({"providers": array(ref("SsoProvider"))}), set()),
        ("post", "/sso/providers", "sso.create_provider",
         "Add an OpenID Connect provider; register the answer's callback_url with it", "operator",
         json_body("name", "issuer", "client_id", "client_secret",
                   optional=("ca_file", "allowed_domains", "allowed_groups", "groups_claim", "password_login"),
                   issuer={"type": "string", "format": "uri", "description": "https:// (http:// on loopback only)"},
                   allowed_domains=array(STRING), allowed_groups=array(STRING), password_login=BOOLEAN,
                   ca_file={"type": ["string", "null"]}),
         201, obj({"provider": ref("SsoProvider"), "callback_url": STRING}), set()),
        ("get", "/sso/providers/{provider_id}", "sso.get_provider", "One provider with its group-to-role mapping",
         "operator", None, 200, obj({"provider": ref("SsoProvider"), "callback_url": STRING,
                                     "group_roles": array(ref("SsoGroupRole"))}), {404}),
        ("patch", "/sso/providers/{provider_id}", "sso.update_provider", "Change a provider's settings", "operator",
         {"type": "object"}, 200, obj({"provider": ref("SsoProvider"), "callback_url": STRING}), {404}),
        ("delete", "/sso/providers/{provider_id}", "sso.delete_provider",
         "Remove a provider: its users keep their accounts, and sign in as the operators allow", "operator", None,
         204, None, {404}),
        ("put", "/sso/providers/{provider_id}/group-roles", "sso.set_group_roles",
         "Replace the mapping of the provider's groups to workspace roles (applied at each member's next sign-in)",
         "operator", json_body("group_roles", group_roles=array(ref("SsoGroupRole"))), 200,
         obj({"group_roles": array(ref("SsoGroupRole"))}), {404}),
        ("get", "/reports/compliance", "reports.compliance_report",
         "The compliance evidence: each promise, its control and evidence measured now (HTML, or format=json)",
         "operator", None, 200, _COMPLIANCE_REPORT, {400}),
        ("get", "/metrics-tokens", "metrics_tokens.list_tokens",
         "The tokens monitoring systems scrape /metrics with (hashes only; never the secrets)", "operator", None, 200,
         paged("metrics_tokens", ref("MetricsToken")), set()),
        ("post", "/metrics-tokens", "metrics_tokens.create_token",
         "Create a token for scraping /metrics (shown once; a year's life unless expires_in_days says otherwise)",
         "operator", json_body("name", optional=("expires_in_days",), expires_in_days={
             "oneOf": [{"type": "integer", "minimum": 1, "maximum": 3650}, {"const": "never"}, {"type": "null"}],
             "description": "Defaults to 365; \"never\" must be explicit."}), 201, ref("NewMetricsToken"), set()),
        ("delete", "/metrics-tokens/{token_id}", "metrics_tokens.revoke_token",
         "Revoke a metrics token: scrapes with it are refused at once", "operator", None, 204, None, {404, 409}),
        ("get", "/jobs", "jobs.list_jobs", "The scheduled jobs: how each last ran, and when it runs next",
         "operator", None, 200, obj({"jobs": array(ref("Job"))}), set()),
        ("get", "/jobs/runs", "jobs.list_runs", "Runs of the scheduled jobs, newest first", "operator", None, 200,
         ref("JobRunPage"), {404}),
        ("post", "/jobs/{job_id}/run", "jobs.run_job", "Run a scheduled job now, in the background", "operator",
         None, 202, wrapped("run", ref("JobRun")), {404, 409}),
        ("get", f"{W}/retention", "retention.get_retention",
         "The workspace's retention policy, legal hold and cancellation", "member", None, 200,
         obj({"policy": ref("RetentionPolicy"), "legal_hold": {"oneOf": [ref("LegalHold"), {"type": "null"}]},
              "cancellation": ref("Cancellation")}), set()),
        ("post", f"{W}/retention/preview", "retention.preview_retention",
         "What a proposed retention policy would delete now (nothing changes)", "member",
         json_body("policy", policy=ref("RetentionPolicy")), 200, ref("RetentionPreview"), set()),
        ("put", f"{W}/retention", "retention.apply_retention",
         "Set the retention policy; the hourly sweep deletes what it makes due", "member",
         json_body("policy", policy=ref("RetentionPolicy")), 200, ref("Retention"), set()),
        ("put", f"{W}/legal-hold", "retention.set_legal_hold", "Put the workspace on legal hold, or lift it",
         "member", json_body("on", optional=("reason",), on=BOOLEAN,
                             reason={"type": ["string", "null"], "maxLength": 500}), 200, ref("Retention"), set()),
        ("post", f"{W}/cancel", "retention.cancel_workspace",
         "Cancel the workspace: read-only now, purged within 30 days unless undone", "member", None, 200,
         wrapped("cancellation", ref("Cancellation")), set()),
        ("post", f"{W}/cancel/undo", "retention.undo_cancellation", "Undo the cancellation before the purge",
         "member", None, 200, wrapped("cancellation", ref("Cancellation")), set()),
        ("get", "/cancellations", "retention.list_cancellations", "Cancelled workspaces and their purge dates",
         "operator", None, 200, obj({"cancellations": array(ref("Cancellation"))}), set()),
        ("put", "/cancellations/{workspace_id}/purge-date", "retention.set_purge_date",
         "Bring a cancelled workspace's purge earlier (never later)", "operator",
         json_body("purge_after", purge_after={"type": "string", "description": "An ISO 8601 time or date; a past "
                                                                               "one means at the next purge run."}),
         200, wrapped("cancellation", ref("Cancellation")), {404, 409}),
        ("put", "/legal-holds/{workspace_id}", "retention.operator_legal_hold",
         "Put any workspace on legal hold, or lift it", "operator",
         json_body("on", optional=("reason",), on=BOOLEAN, reason={"type": ["string", "null"], "maxLength": 500}),
         200, obj({"legal_hold": {"oneOf": [ref("LegalHold"), {"type": "null"}]}}), {404}),
        ("post", "/erasure", "retention.erase_subject",
         "Erase everything about one visitor email from the workspaces the caller administers; a receipt",
         "session", json_body("email", optional=("dry_run",), dry_run=BOOLEAN), 200, ref("ErasureReceipt"),
         set()),
        ("post", "/backups", "backups.create_backup",
         "Back up every database now, encrypted (restoring is CLI-only: see the backups tag)", "operator", None, 201,
         wrapped("backup", ref("Backup")), {409}),
        ("get", "/backups", "backups.list_backups", "Every backup, newest first, with its latest verification",
         "operator", None, 200, obj({"backups": array(ref("Backup")),
                                     "keep": {"type": "integer", "description": "How many prune keeps."}}),
         set()),
        ("get", "/backups/{backup_id}", "backups.get_backup", "One backup", "operator", None, 200,
         wrapped("backup", ref("Backup")), {404}),
        ("post", "/backups/prune", "backups.prune_backups",
         "Delete the backups beyond backup_keep (never the newest verified one)", "operator", None, 200,
         obj({"deleted": array(STRING), "kept": INTEGER}), {409}),
        ("post", "/backups/{backup_id}/verify", "backups.verify_backup",
         "Verify a backup by restoring it into a scratch directory; the result is recorded", "operator", None, 200,
         wrapped("backup", ref("Backup")), {404, 409}),
        ("get", "/mail/outbox", "mail.list_outbox",
         "Mail not delivered yet, newest first (all=true: delivered mail too), and whether a relay is set",
         "operator", None, 200, obj({"mail": array(ref("OutboxMail")), "relay": BOOLEAN}), set()),
        ("get", "/mail/outbox/{mail_id}", "mail.show_mail",
         "One mail not delivered yet with its body, to pass its link on by hand (audited as mail.show)", "operator",
         None, 200, wrapped("mail", ref("OutboxMailWithBody")),
         {404, 409}),
    ]
