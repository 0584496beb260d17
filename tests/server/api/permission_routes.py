"""The permission tables of tests/server/api/test_permissions.py: every /api/v1 route, one realistic request each, with
the action that guards it (a workspace action, an operator action, a login or nothing) and what an allowed caller
gets."""

from __future__ import annotations

import re
from dataclasses import dataclass

PASSWORD = "plum orbit lantern 42"
PANEL_VERIFIER = "a-panel-verifier-of-at-least-forty-three-characters-1234"
NEW_PASSWORD = "quartz meadow ferry 17"
MEMBER_ROLES = ("owner", "admin", "editor", "viewer")
CALLERS = (*MEMBER_ROLES, "outsider", "operator", "anonymous")
PUBLIC, LOGIN = "public", "login"  # the access of non-workspace routes; any other value names an operator action
PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Route:
    """One realistic request; `{name}` placeholders are filled with fresh ids (see MAKERS) when it is sent."""

    access: str  # a WORKSPACE_PERMISSIONS action, an OPERATOR_PERMISSIONS action, PUBLIC or LOGIN
    method: str
    path: str
    body: dict[str, object] | None = None
    status: int = 200  # what a caller who may do it gets
    endpoint: str = ""  # for OTHER_ROUTES; the key names it in WORKSPACE_ROUTES


WORKSPACE_ROUTES = {
    "workspaces.get_workspace": Route("workspace.read", "GET", "/api/v1/workspaces/{w}"),
    "workspaces.update_workspace": Route("workspace.update", "PATCH", "/api/v1/workspaces/{w}", {"name": "Renamed"}),
    "workspaces.transfer_workspace": Route("workspace.transfer", "POST", "/api/v1/workspaces/{w}/transfer",
                                           {"user_id": "{member}"}),
    "workspaces.list_members": Route("members.read", "GET", "/api/v1/workspaces/{w}/members"),
    "workspaces.change_member_role": Route("members.manage", "PATCH", "/api/v1/workspaces/{w}/members/{member}",
                                           {"role": "editor"}),
    "workspaces.remove_member": Route("members.manage", "DELETE", "/api/v1/workspaces/{w}/members/{member}"),
    "workspaces.list_invitations": Route("invitations.read", "GET", "/api/v1/workspaces/{w}/invitations"),
    "workspaces.invite": Route("invitations.manage", "POST", "/api/v1/workspaces/{w}/invitations",
                               {"email": "newcomer@example.com", "role": "viewer"}, 201),
    "workspaces.resend_invitation": Route("invitations.manage", "POST",
                                          "/api/v1/workspaces/{w}/invitations/{invitation}/resend", status=201),
    "workspaces.revoke_invitation": Route("invitations.manage", "DELETE",
                                          "/api/v1/workspaces/{w}/invitations/{invitation}", status=204),
    "workspaces.workspace_audit": Route("audit.read", "GET", "/api/v1/workspaces/{w}/audit"),
    "api_keys.list_keys": Route("api_keys.read", "GET", "/api/v1/workspaces/{w}/api-keys"),
    "api_keys.create_key": Route("api_keys.manage", "POST", "/api/v1/workspaces/{w}/api-keys",
                                 {"name": "CRM sync", "scopes": ["chat"]}, 201),
    "api_keys.rotate_key": Route("api_keys.manage", "POST", "/api/v1/workspaces/{w}/api-keys/{api_key}/rotate",
                                 status=201),
    "api_keys.revoke_key": Route("api_keys.manage", "DELETE", "/api/v1/workspaces/{w}/api-keys/{api_key}",
                                 status=204),
    "knowledge.list_agents": Route("agents.read", "GET", "/api/v1/workspaces/{w}/agents"),
    "knowledge.create_agent": Route("agents.write", "POST", "/api/v1/workspaces/{w}/agents", {"name": "Bot"}, 201),
    "knowledge.get_agent": Route("agents.read", "GET", "/api/v1/workspaces/{w}/agents/{agent}"),
    "knowledge.update_agent": Route("agents.write", "PATCH", "/api/v1/workspaces/{w}/agents/{agent}",
                                    {"name": "Renamed"}),
    "knowledge.delete_agent": Route("agents.write", "DELETE", "/api/v1/workspaces/{w}/agents/{agent}", status=204),
    "knowledge.ask": Route("agents.ask", "POST", "/api/v1/workspaces/{w}/agents/{agent}/ask",
                           {"question": "When is lunch?"}),
    "knowledge.list_sources": Route("sources.read", "GET", "/api/v1/workspaces/{w}/sources"),
    "knowledge.add_source": Route("sources.write", "POST", "/api/v1/workspaces/{w}/sources",
                                  {"kind": "text", "title": "Lunch", "text": "Lunch is at noon."}, 202),
    # A JSON body is refused for its shape (400) once the role allows the upload at all.
    "knowledge.upload_source": Route("sources.write", "POST", "/api/v1/workspaces/{w}/sources/upload",
                                     {"file": "not a file"}, 400),
    "knowledge.get_source": Route("sources.read", "GET", "/api/v1/workspaces/{w}/sources/{source}"),
    "knowledge.source_original": Route("sources.read", "GET", "/api/v1/workspaces/{w}/sources/{source}/original"),
    "knowledge.edit_source": Route("sources.write", "PATCH", "/api/v1/workspaces/{w}/sources/{source}",
                                   {"text": "Lunch is at one."}, 202),
    "knowledge.put_pair": Route("sources.write", "POST", "/api/v1/workspaces/{w}/sources/{qa_source}/pairs",
                                {"question": "Is there a canteen?", "answer": "Yes, on the ground floor."}, 202),
    "knowledge.refresh_source": Route("sources.write", "POST", "/api/v1/workspaces/{w}/sources/{source}/refresh",
                                      status=202),
    "knowledge.delete_source": Route("sources.write", "DELETE", "/api/v1/workspaces/{w}/sources/{source}",
                                     status=204),
    "conversations.list_conversations": Route("conversations.read", "GET",
                                              "/api/v1/workspaces/{w}/conversations?outcome=answered&limit=10"),
    "conversations.get_conversation": Route("conversations.read", "GET",
                                            "/api/v1/workspaces/{w}/conversations/{conversation}"),
    "conversations.delete_conversation": Route("conversations.delete", "DELETE",
                                               "/api/v1/workspaces/{w}/conversations/{conversation}"),
    "conversations.delete_conversations": Route("conversations.delete", "POST",
                                                "/api/v1/workspaces/{w}/conversations/delete",
                                                {"ids": ["{conversation}"]}),
    "conversations.export_conversations": Route("conversations.read", "GET",
                                                "/api/v1/workspaces/{w}/conversations/export?format=json"),
    "conversations.list_leads": Route("leads.read", "GET", "/api/v1/workspaces/{w}/leads?q=example"),
    "conversations.get_lead": Route("leads.read", "GET", "/api/v1/workspaces/{w}/leads/{lead}"),
    "conversations.delete_lead": Route("leads.delete", "DELETE", "/api/v1/workspaces/{w}/leads/{lead}"),
    "conversations.export_leads": Route("leads.read", "GET", "/api/v1/workspaces/{w}/leads/export"),
    "conversations.get_analytics": Route("analytics.read", "GET",
                                         "/api/v1/workspaces/{w}/analytics?since=2026-11-01&until=2026-11-29"),
    "conversations.export_analytics": Route("analytics.read", "GET",
                                            "/api/v1/workspaces/{w}/analytics/export?table=fell_back_questions"),
    "exports.export_workspace": Route("workspace.export", "POST", "/api/v1/workspaces/{w}/export",
                                      {"passphrase": "an export passphrase"}),
    "retention.get_retention": Route("retention.read", "GET", "/api/v1/workspaces/{w}/retention"),
    "retention.preview_retention": Route("retention.manage", "POST", "/api/v1/workspaces/{w}/retention/preview",
                                         {"policy": {"conversations_days": 30}}),
    "retention.apply_retention": Route("retention.manage", "PUT", "/api/v1/workspaces/{w}/retention",
                                       {"policy": {"conversations_days": 30}}),
    "retention.set_legal_hold": Route("retention.hold", "PUT", "/api/v1/workspaces/{w}/legal-hold", {"on": True}),
    "retention.cancel_workspace": Route("workspace.cancel", "POST", "/api/v1/workspaces/{w}/cancel"),
    # The workspace is active, so there is nothing to undo: whoever may undo gets that conflict.
    "retention.undo_cancellation": Route("workspace.cancel", "POST", "/api/v1/workspaces/{w}/cancel/undo",
                                         status=409),
}
ENDPOINT_ACTION = {endpoint: route.access for endpoint, route in WORKSPACE_ROUTES.items()}

OTHER_ROUTES = [
    Route("users.list", "GET", "/api/v1/users", endpoint="users.list_users"),
    Route("users.disable", "POST", "/api/v1/users/{user}/disable", endpoint="users.disable_user"),
    Route("users.disable", "POST", "/api/v1/users/{user}/enable", endpoint="users.enable_user"),
    # The tests' directory cannot be reached (ldaps://127.0.0.1:1): an allowed caller gets that answer, 503.
    Route("sso.manage", "POST", "/api/v1/users/{user}/directory", {"provider_id": "{ldap_directory}"}, status=503,
          endpoint="users.hand_to_directory"),
    # Seeing and ending anyone's sessions is an operator power of its own, so the permissions table must name it.
    Route("users.sessions", "GET", "/api/v1/users/{user}/sessions", endpoint="users.user_sessions"),
    Route("users.sessions", "DELETE", "/api/v1/users/{user}/sessions/{user_session}", status=204,
          endpoint="users.end_user_session"),
    Route("audit.read_all", "GET", "/api/v1/audit", endpoint="audit.appliance_audit"),
    Route("audit.verify", "POST", "/api/v1/audit/verify", endpoint="audit.verify_audit"),
    Route("appliance.overview", "GET", "/api/v1/overview", endpoint="overview.overview"),
    Route("users.create", "POST", "/api/v1/users", {"email": "second-operator@example.com", "generate_password": True},
          201, endpoint="users.create_operator"),
    Route("backups.prune", "POST", "/api/v1/backups/prune", endpoint="backups.prune_backups"),
    Route("mail.read", "GET", "/api/v1/mail/outbox?all=true", endpoint="mail.list_outbox"),
    # No such mail: an operator passes the permission check and learns so (tests/server/api/test_mail.py shows one).
    Route("mail.read", "GET", "/api/v1/mail/outbox/999999", status=404, endpoint="mail.show_mail"),
    Route("sso.manage", "GET", "/api/v1/sso/providers", endpoint="sso.list_providers"),
    Route("sso.manage", "POST", "/api/v1/sso/providers", {"name": "Corp", "issuer": "https://idp.example.com",
                                                          "client_id": "chatspark", "client_secret": "s3cret"}, 201,
          endpoint="sso.create_provider"),
    Route("sso.manage", "GET", "/api/v1/sso/providers/{sso_provider}", endpoint="sso.get_provider"),
    Route("sso.manage", "PATCH", "/api/v1/sso/providers/{sso_provider}", {"name": "Corporate"},
          endpoint="sso.update_provider"),
    Route("sso.manage", "DELETE", "/api/v1/sso/providers/{sso_provider}", status=204, endpoint="sso.delete_provider"),
    Route("sso.manage", "POST", "/api/v1/sso/providers/{ldap_directory}/check", endpoint="sso.check_provider"),
    Route("sso.manage", "PUT", "/api/v1/sso/providers/{sso_provider}/group-roles", {"group_roles": []},
          endpoint="sso.set_group_roles"),
    Route(PUBLIC, "GET", "/api/v1/sso/buttons", endpoint="sso.sign_in_buttons"),
    Route(PUBLIC, "POST", "/api/v1/sso/panel-token", {"code": "{panel_code}", "verifier": PANEL_VERIFIER},
          endpoint="sso.panel_token"),
    Route("reports.compliance", "GET", "/api/v1/reports/compliance?format=json", endpoint="reports.compliance_report"),
    Route("metrics.manage", "GET", "/api/v1/metrics-tokens", endpoint="metrics_tokens.list_tokens"),
    Route("metrics.manage", "POST", "/api/v1/metrics-tokens", {"name": "Prometheus"}, 201,
          endpoint="metrics_tokens.create_token"),
    Route("metrics.manage", "DELETE", "/api/v1/metrics-tokens/{metrics_token}", status=204,
          endpoint="metrics_tokens.revoke_token"),
    Route("jobs.read", "GET", "/api/v1/jobs", endpoint="jobs.list_jobs"),
    Route("jobs.read", "GET", "/api/v1/jobs/runs?job=checkpoint_databases&limit=5", endpoint="jobs.list_runs"),
    Route("jobs.run", "POST", "/api/v1/jobs/prune_expired/run", status=202, endpoint="jobs.run_job"),
    Route("backups.create", "POST", "/api/v1/backups", status=201, endpoint="backups.create_backup"),
    Route("backups.read", "GET", "/api/v1/backups", endpoint="backups.list_backups"),
    Route("backups.read", "GET", "/api/v1/backups/{backup}", endpoint="backups.get_backup"),
    Route("backups.verify", "POST", "/api/v1/backups/{backup}/verify", endpoint="backups.verify_backup"),
    Route("workspaces.create", "POST", "/api/v1/workspaces", {"name": "Another"}, 201,
          endpoint="workspaces.create_workspace"),
    Route("workspaces.list_all", "GET", "/api/v1/workspaces?all=1", endpoint="workspaces.list_workspaces"),
    Route("workspaces.purge_date", "GET", "/api/v1/cancellations", endpoint="retention.list_cancellations"),
    Route("workspaces.purge_date", "PUT", "/api/v1/cancellations/{cancelled}/purge-date",
          {"purge_after": "2026-12-01"}, endpoint="retention.set_purge_date"),
    Route("workspaces.legal_hold", "PUT", "/api/v1/legal-holds/{cancelled}", {"on": True, "reason": "Case 17"},
          endpoint="retention.operator_legal_hold"),
    Route(LOGIN, "GET", "/api/v1/workspaces", endpoint="workspaces.list_workspaces"),
    Route(LOGIN, "GET", "/api/v1/me", endpoint="me.me"),
    Route(LOGIN, "POST", "/api/v1/me/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
          endpoint="me.change_password"),
    Route(LOGIN, "GET", "/api/v1/me/sessions", endpoint="me.list_sessions"),
    Route(LOGIN, "DELETE", "/api/v1/me/sessions/{own_session}", status=204, endpoint="me.end_session"),
    Route(LOGIN, "POST", "/api/v1/me/second-factor", {"password": PASSWORD}, endpoint="me.start_second_factor"),
    Route(LOGIN, "POST", "/api/v1/me/second-factor/confirm", {"code": "{totp_code}", "password": PASSWORD},
          endpoint="me.confirm_second_factor"),
    Route(LOGIN, "POST", "/api/v1/me/second-factor/disable", {"password": PASSWORD}, 204,
          endpoint="me.disable_second_factor"),
    # Anyone signed in; it searches only the workspaces the caller administers (none here).
    Route(LOGIN, "POST", "/api/v1/subject-exports", {"email": "{email}", "passphrase": "an export passphrase"},
          endpoint="exports.export_subject"),
    # Anyone signed in may ask; it covers the workspaces the caller administers, and refuses one who has none.
    Route(LOGIN, "POST", "/api/v1/erasure", {"email": "{email}", "dry_run": True}, status=403,
          endpoint="retention.erase_subject"),
    Route(LOGIN, "POST", "/api/v1/auth/logout", status=204, endpoint="auth.logout"),  # /auth/*, but ends a session
    Route(PUBLIC, "GET", "/api/v1/openapi.json", endpoint="openapi.serve_document"),
    Route(PUBLIC, "POST", "/api/v1/auth/login", {"email": "{email}", "password": PASSWORD}, endpoint="auth.login"),
    Route(PUBLIC, "POST", "/api/v1/auth/verify-email", {"token": "{verify_token}"}, endpoint="auth.verify_email"),
    Route(PUBLIC, "POST", "/api/v1/auth/password-reset", {"email": "{email}"}, 202,
          endpoint="auth.request_password_reset"),
    Route(PUBLIC, "POST", "/api/v1/auth/password-reset/complete", {"token": "{reset_token}", "password": NEW_PASSWORD},
          endpoint="auth.complete_password_reset"),
    Route(PUBLIC, "POST", "/api/v1/invitations/accept", {"token": "{invitation_token}", "password": NEW_PASSWORD},
          endpoint="auth.accept_invitation"),
]
OPERATOR_ROUTES = [route for route in OTHER_ROUTES if route.access not in (PUBLIC, LOGIN)]
