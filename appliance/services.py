"""The composition root of the core: every service of a serving process, built once in a fixed order, and the
scheduler that runs their jobs. Only entry points (the server, the CLI, benchmarks, tests) import it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from appliance.accounts.api_keys import ApiKeyService
from appliance.accounts.authentication import AuthService
from appliance.accounts.directory_sign_in import DirectorySignIn
from appliance.accounts.messages import Links
from appliance.accounts.passwords import (
    PasswordHasher,
    PasswordPolicy,
    default_common_passwords_path,
    load_common_passwords,
)
from appliance.accounts.sessions import SessionService
from appliance.accounts.sso import SsoSignIn
from appliance.accounts.sso_providers import SsoProviders
from appliance.accounts.throttle import LoginThrottle
from appliance.accounts.tokens import LinkTokens
from appliance.accounts.users import UserService
from appliance.agent.routes import AgentRoutes
from appliance.agent.service import Agents
from appliance.audit.keys import audit_log
from appliance.audit.log import AuditLog
from appliance.audit.repeats import RepeatedRefusals
from appliance.backups.service import BackupService, backup_directory
from appliance.bootstrap import WIDGET_TOKEN_KEY, Appliance
from appliance.conversations.service import Conversations
from appliance.exports.service import ExportService
from appliance.jobs.declared import JobSpec, declared_jobs
from appliance.jobs.runner import JobRunner
from appliance.jobs.runs import JobRuns
from appliance.jobs.scheduler import JobScheduler
from appliance.knowledge.crawl import CrawlPolicy
from appliance.knowledge.extract import Limits
from appliance.knowledge.service import Knowledge
from appliance.mail.outbox import Outbox
from appliance.mail.relay import SmtpRelay
from appliance.monitoring.alerts import SecurityAlerts
from appliance.monitoring.metrics import Metrics
from appliance.monitoring.metrics_tokens import MetricsTokens
from appliance.retention.erasure import ErasureService
from appliance.retention.policy import RetentionPolicies
from appliance.retention.purge import WorkspacePurger
from appliance.retention.service import RetentionService
from appliance.retention.sweep import Pacing, RetentionSweeper
from appliance.settings import Settings
from appliance.turns import Turns
from appliance.widget.service import WidgetLimits, WidgetService, cap_alert_notifier, lead_notifier
from appliance.widget.visitor_tokens import VisitorTokens
from appliance.workspaces.cancellation import CancellationService
from appliance.workspaces.invitations import InvitationService
from appliance.workspaces.service import WorkspaceService


@dataclass
class Services:
    appliance: Appliance
    audit: AuditLog
    outbox: Outbox
    sessions: SessionService
    throttle: LoginThrottle
    users: UserService
    auth: AuthService
    workspaces: WorkspaceService
    invitations: InvitationService
    tokens: LinkTokens
    links: Links
    knowledge: Knowledge
    agents: Agents
    conversations: Conversations
    api_keys: ApiKeyService
    widget: WidgetService
    retention: RetentionService
    cancellation: CancellationService
    purges: WorkspacePurger
    erasure: ErasureService
    exports: ExportService
    backups: BackupService
    jobs: list[JobSpec]
    metrics: Metrics
    metrics_tokens: MetricsTokens
    alerts: SecurityAlerts
    sso_providers: SsoProviders
    sso: SsoSignIn
    directories: DirectorySignIn
    turns: Turns  # the process's turns at computing replies: the widget's chat requests take one


def public_url(settings: Settings) -> str:
    if settings.public_url:
        return settings.public_url.rstrip("/")
    host = settings.public_host or "localhost"
    return f"https://{host}" if settings.port == 443 else f"https://{host}:{settings.port}"


def _embedder(settings: Settings):
    """The dense model unless the operator turned it off, loaded at its first use (`Knowledge.load_model`)."""
    from appliance.knowledge.embedding import deferred

    return deferred(settings.dense_retrieval, settings.embedding_model_dir)


def _resume(agents: Agents, knowledge: Knowledge, workspace_ids: list[str]) -> int:
    """Bring workspaces back into service: repair their agents' widget routes, queue their unfinished sources."""
    agents.repair_routes(workspace_ids)
    return knowledge.resume(workspace_ids)


def build_services(appliance: Appliance, settings: Settings) -> Services:
    db, clock = appliance.control_db, appliance.clock
    links = Links(public_url(settings))
    audit = audit_log(db, keystore=appliance.keystore, clock=clock,
                      repeats=RepeatedRefusals(window=dt.timedelta(minutes=settings.audit_repeats_window_minutes),
                                               keep=settings.audit_repeats_kept))
    outbox = Outbox(db, clock=clock, relay=SmtpRelay.from_settings(settings), sender=settings.mail_from)
    sessions = SessionService(db, clock=clock, idle=dt.timedelta(minutes=settings.session_idle_minutes),
                              absolute=dt.timedelta(hours=settings.session_absolute_hours))
    throttle = LoginThrottle(db, clock=clock, window=dt.timedelta(minutes=settings.login_window_minutes),
                             max_per_account=settings.login_max_failures_per_account,
                             max_per_address=settings.login_max_failures_per_address)
    tokens = LinkTokens(clock=clock)
    metrics = Metrics()
    hasher = PasswordHasher(time_cost=settings.argon2_time_cost, memory_kib=settings.argon2_memory_kib,
                            parallelism=settings.argon2_parallelism)
    policy = PasswordPolicy(load_common_passwords(default_common_passwords_path()))
    users = UserService(db, clock=clock, hasher=hasher, policy=policy, tokens=tokens, sessions=sessions,
                        outbox=outbox, audit=audit, links=links,
                        verification_lifetime=dt.timedelta(hours=settings.verification_hours))
    sso_providers = SsoProviders(db, clock=clock, audit=audit)
    sso = SsoSignIn(db, clock=clock, providers=sso_providers, sessions=sessions, audit=audit)
    directories = DirectorySignIn(db, clock=clock, providers=sso_providers, sso=sso, audit=audit)
    auth = AuthService(db, clock=clock, users=users, sessions=sessions, throttle=throttle, tokens=tokens,
                       outbox=outbox, audit=audit, links=links,
                       reset_lifetime=dt.timedelta(minutes=settings.password_reset_minutes),
                       require_second_factor_for_admins=settings.require_second_factor_for_admins,
                       password_refused=sso.password_refused,
                       directories=directories)
    workspaces = WorkspaceService(db, clock=clock, files=appliance.workspaces, audit=audit)
    invitations = InvitationService(db, clock=clock, users=users, workspaces=workspaces, outbox=outbox, audit=audit,
                                    links=links, lifetime=dt.timedelta(hours=settings.invitation_hours))
    routes = AgentRoutes(db)
    knowledge = Knowledge(
        files=appliance.workspaces, clock=clock, limits=Limits(max_bytes=settings.max_upload_bytes),
        max_workspace_bytes=settings.max_workspace_bytes, crawl_policy=CrawlPolicy.from_settings(settings),
        embedder=_embedder(settings), threads=settings.indexing_threads, on_indexed=metrics.indexed)
    turns = Turns.for_process(settings.replies_at_once, keep_to_cores=settings.replies_keep_to_cores)
    agents = Agents(files=appliance.workspaces, clock=clock, knowledge=knowledge, routes=routes, turns=turns,
                    egress_allowed_hosts=frozenset(h.strip().lower() for h in settings.egress_allowed_hosts.split(",")
                                                   if h.strip()))
    conversations = Conversations(files=appliance.workspaces, clock=clock, agents=agents,
                                  on_reply=lambda channel, reply: metrics.reply(channel, reply.method))
    api_keys = ApiKeyService(db, clock=clock, audit=audit, grace=dt.timedelta(hours=settings.api_key_grace_hours))
    widget = WidgetService(
        routes=routes, agents=agents, conversations=conversations, workspaces=workspaces, clock=clock,
        tokens=VisitorTokens(appliance.keystore.get(WIDGET_TOKEN_KEY), clock=clock,
                             lifetime=dt.timedelta(minutes=settings.widget_token_minutes),
                             renewable_for=dt.timedelta(hours=settings.widget_resume_hours)),
        limits=WidgetLimits(requests_per_minute_per_address=settings.widget_requests_per_minute,
                            messages_per_minute_per_visitor=settings.widget_messages_per_minute,
                            messages_per_agent_per_day=settings.widget_messages_per_agent_per_day,
                            max_message_chars=settings.widget_max_message_chars,
                            address_share_percent=settings.widget_address_share_percent,
                            network_share_percent=settings.widget_network_share_percent,
                            alert_percents=tuple(sorted({int(p) for p in settings.widget_cap_alert_percents.split(",")
                                                         if p.strip()}))),
        on_lead=lead_notifier(workspaces=workspaces, outbox=outbox, public_url=links.public_url),
        on_cap_alert=cap_alert_notifier(workspaces=workspaces, outbox=outbox))
    exports = ExportService(db, workspaces=workspaces, files=appliance.workspaces, audit=audit, clock=clock,
                            appliance_id=appliance.appliance_id)
    policies = RetentionPolicies(db)
    sweeper = RetentionSweeper(db, files=appliance.workspaces, policies=policies, audit=audit, clock=clock,
                               pacing=Pacing(batch_rows=settings.retention_batch_rows,
                                             batch_seconds=settings.retention_batch_max_ms / 1000,
                                             pause_seconds=settings.retention_batch_pause_ms / 1000))
    retention = RetentionService(db, policies=policies, sweeper=sweeper, audit=audit, clock=clock)
    cancellation = CancellationService(db, clock=clock, audit=audit, outbox=outbox,
                                       purge_days=settings.cancellation_purge_days, public_url=links.public_url,
                                       on_undone=lambda workspace_id: _resume(agents, knowledge, [workspace_id]))
    # The purge hooks (the backup index's forget_workspace) are added to purges.on_purged where backups are built.
    purges = WorkspacePurger(db, files=appliance.workspaces, layout=appliance.layout, audit=audit, clock=clock)
    erasure = ErasureService(db, files=appliance.workspaces, audit=audit, clock=clock)
    backups = BackupService(appliance, audit=audit, keep=settings.backup_keep,
                            directory=backup_directory(settings.backup_dir, appliance.layout.data_dir))
    purges.on_purged.append(backups.forget_workspace)
    alerts = SecurityAlerts(db, clock=clock, outbox=outbox, audit=audit, layout=appliance.layout, settings=settings)
    jobs = declared_jobs(settings, db=db, outbox=outbox, sessions=sessions, tokens=tokens, throttle=throttle,
                         runs=JobRuns(db, clock=clock), audit=audit, retention=retention, purges=purges,
                         backups=backups, knowledge=knowledge, workspaces=workspaces, alerts=alerts)
    return Services(appliance, audit, outbox, sessions, throttle, users, auth, workspaces, invitations, tokens, links,
                    knowledge, agents, conversations, api_keys, widget, exports=exports,
                    retention=retention, cancellation=cancellation, purges=purges, erasure=erasure, backups=backups,
                    jobs=jobs, metrics=metrics, metrics_tokens=MetricsTokens(db, clock=clock, audit=audit),
                    alerts=alerts, sso_providers=sso_providers, sso=sso, directories=directories,
                    turns=turns)


def resume_workspaces(services: Services, workspace_ids: list[str]) -> int:
    """What the server does for each active workspace as it starts (returns how many sources it queued again)."""
    queued = _resume(services.agents, services.knowledge, workspace_ids)
    services.knowledge.merge_when_idle(workspace_ids)
    return queued


def build_scheduler(services: Services, *, jobs: list[JobSpec] | None = None) -> JobScheduler:
    """The scheduler of the serving process, with the declared jobs (or `jobs`); nothing runs until `start()`."""
    db, clock = services.appliance.control_db, services.appliance.clock
    runner = JobRunner(db, clock=clock, outbox=services.outbox, on_finished=services.metrics.job_run)
    return JobScheduler(db, services.jobs if jobs is None else jobs, clock=clock, runner=runner)
