"""The appliance's figures in the Prometheus text format (`GET /metrics`, behind a metrics token).

Two kinds: what this process counts as it happens (requests by route and status with their latency, chat replies
by how they were answered, indexing, scheduled job runs with their durations), and what is read at each scrape from
the same facts `chatspark status` shows (seconds since the newest verified backup, the certificate's remaining
life, the audit chain's last verification, database sizes, free disk, the mail outbox, failing jobs).

Every label has few values: routes are Flask's rule patterns (`/api/v1/workspaces/<workspace_id>/agents`), never a
path with an id in it; nothing is labelled by workspace, agent or visitor."""

from __future__ import annotations

import datetime as dt
import math
from typing import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
JOB_BUCKETS = (0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0)
disable_created_metrics()  # a `_created` series beside every counter doubles the scrape for nothing here

OUTCOMES = {"fallback": "fell_back", "handoff": "handed_off"}  # any other method answered the question


def _seconds_since(text: str | None, now: dt.datetime) -> float:
    if not text:
        return math.inf
    return max(0.0, (now - dt.datetime.fromisoformat(text.replace("Z", "+00:00"))).total_seconds())


def _timestamp(text: str | None) -> float | None:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() if text else None


class FactsCollector(Collector):
    """Gauges from `facts` (a callable returning what GET /api/v1/overview answers, and the time), read at each
    scrape: a scrape always shows the state of that moment."""

    def __init__(self, facts: Callable[[], tuple[dict, dt.datetime]]) -> None:
        self._facts = facts

    def describe(self) -> list:
        return []  # read at collection only: describing would gather the facts at registration

    def collect(self) -> Iterator:
        facts, now = self._facts()
        yield InfoMetricFamily("chatspark_build", "The appliance's version.", value={"version": facts["version"]})
        databases = facts.get("databases") or {}
        sizes = GaugeMetricFamily("chatspark_database_bytes", "Size of the encrypted databases (with their WAL).",
                                  labels=["database"])
        for name in ("control", "keystore", "workspaces"):
            if databases.get(f"{name}_bytes") is not None:
                sizes.add_metric([name], databases[f"{name}_bytes"])
        yield sizes
        yield GaugeMetricFamily("chatspark_workspaces", "Workspace databases on disk.",
                                value=databases.get("workspaces", 0))
        if "disk" in facts:
            yield GaugeMetricFamily("chatspark_disk_free_bytes", "Free space on the data disk.",
                                    value=facts["disk"]["free_bytes"])
            yield GaugeMetricFamily("chatspark_disk_total_bytes", "Size of the data disk.",
                                    value=facts["disk"]["total_bytes"])
        if "certificate" in facts:
            yield GaugeMetricFamily("chatspark_certificate_expiry_seconds",
                                    "Seconds until the TLS certificate the listener serves expires.",
                                    value=_timestamp(facts["certificate"]["expires_at"]) - now.timestamp())
        newest = (facts.get("backups") or {}).get("newest_verified")
        yield GaugeMetricFamily("chatspark_backup_verified_age_seconds",
                                "Seconds since the newest verified backup was made (+Inf: there is none).",
                                value=_seconds_since(newest and newest["created_at"], now))
        yield GaugeMetricFamily("chatspark_backups", "Backups in the backup index.",
                                value=(facts.get("backups") or {}).get("count", 0))
        check = (facts.get("audit") or {}).get("last_verification")
        yield GaugeMetricFamily("chatspark_audit_chain_ok",
                                "1 if the audit log's HMAC chain verified at its last check, 0 if it failed, "
                                "-1 if it was never checked.", value=-1 if check is None else int(check["ok"]))
        if check is not None:
            yield GaugeMetricFamily("chatspark_audit_chain_verified_timestamp_seconds",
                                    "When the audit chain was last verified.", value=_timestamp(check["at"]))
        mail = facts.get("mail") or {}
        yield GaugeMetricFamily("chatspark_mail_queued", "Mail waiting in the outbox.", value=mail.get("queued", 0))
        yield GaugeMetricFamily("chatspark_mail_failed", "Mail the outbox gave up on.", value=mail.get("failed", 0))
        failing = GaugeMetricFamily("chatspark_job_failing", "1 while a scheduled job's last run failed.",
                                    labels=["job"])
        last = GaugeMetricFamily("chatspark_job_last_run_timestamp_seconds", "When a scheduled job last ran.",
                                 labels=["job"])
        for job in facts.get("jobs", []):
            failing.add_metric([job["id"]], int(job["failing"]))
            if job.get("last_run"):
                last.add_metric([job["id"]], _timestamp(job["last_run"]["started_at"]))
        yield failing
        yield last


class Metrics:
    """The counters of one serving process, and the registry a scrape renders."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._requests = Counter("chatspark_http_requests", "HTTP requests answered, by route, method and status.",
                                 ["route", "method", "status"], registry=self.registry)
        self._latency = Histogram("chatspark_http_request_duration_seconds", "Time to answer a request, by route.",
                                  ["route"], buckets=REQUEST_BUCKETS, registry=self.registry)
        self._replies = Counter("chatspark_chat_replies", "Chat replies, by channel, outcome and method.",
                                ["channel", "outcome", "method"], registry=self.registry)
        self._indexing = Counter("chatspark_indexing_jobs", "Sources indexed, by outcome.", ["outcome"],
                                 registry=self.registry)
        self._indexing_time = Histogram("chatspark_indexing_duration_seconds", "Time to index one source.",
                                        buckets=JOB_BUCKETS, registry=self.registry)
        self._runs = Counter("chatspark_job_runs", "Scheduled job runs, by job and outcome.", ["job", "outcome"],
                             registry=self.registry)
        self._run_time = Histogram("chatspark_job_duration_seconds", "Time a scheduled job's run took.", ["job"],
                                   buckets=JOB_BUCKETS, registry=self.registry)
        self._facts: FactsCollector | None = None

    def read_facts(self, facts: Callable[[], tuple[dict, dt.datetime]]) -> None:
        """Add the gauges read at each scrape (once)."""
        if self._facts is None:
            self._facts = FactsCollector(facts)
            self.registry.register(self._facts)

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        self._requests.labels(route, method, str(status)).inc()
        self._latency.labels(route).observe(seconds)

    def reply(self, channel: str, method: str) -> None:
        self._replies.labels(channel, OUTCOMES.get(method, "answered"), method).inc()

    def indexed(self, outcome: str, seconds: float) -> None:
        self._indexing.labels(outcome).inc()
        self._indexing_time.observe(seconds)

    def job_run(self, job: str, outcome: str, seconds: float) -> None:
        self._runs.labels(job, outcome).inc()
        self._run_time.labels(job).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
