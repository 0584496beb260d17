"""docs/monitoring.md stays true: its alert rules and dashboard parse, and every metric they use is one /metrics
reports (a renamed metric would silence an alert without anyone noticing)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from appliance.monitoring.metrics import Metrics

DOC = Path(__file__).resolve().parents[2] / "docs" / "monitoring.md"
FACTS = {"version": "1", "databases": {"control_bytes": 1, "keystore_bytes": 1, "workspaces": 1, "workspaces_bytes": 1},
         "disk": {"free_bytes": 1, "total_bytes": 2}, "certificate": {"expires_at": "2030-01-01T00:00:00Z"},
         "backups": {"count": 1, "newest_verified": {"created_at": "2026-01-01T00:00:00Z"}},
         "audit": {"last_verification": {"ok": True, "at": "2026-01-01T00:00:00Z"}}, "mail": {"queued": 0},
         "jobs": [{"id": "backup", "failing": False, "last_run": {"started_at": "2026-01-01T00:00:00Z"}}]}


def _blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def _reported() -> set[str]:
    import datetime as dt

    metrics = Metrics()
    metrics.request("/x", "GET", 200, 0.1)
    metrics.reply("widget", "qa")
    metrics.indexed("ready", 1.0)
    metrics.job_run("backup", "success", 1.0)
    metrics.read_facts(lambda: (FACTS, dt.datetime.now(dt.timezone.utc)))
    return {line.split("{")[0].split(" ")[0] for line in metrics.render().decode().splitlines()
            if line and not line.startswith("#")}


def _used(expression: str) -> set[str]:
    return set(re.findall(r"\bchatspark_[a-z_]+", expression))


def test_every_metric_the_alert_rules_and_dashboard_use_is_reported():
    rules = [yaml.safe_load(block) for block in _blocks("yaml")]
    alerts = [rule for doc in rules if "groups" in doc for group in doc["groups"] for rule in group["rules"]]
    assert len(alerts) >= 8 and all(rule["alert"].startswith("ChatSpark") for rule in alerts)
    [dashboard] = [json.loads(block) for block in _blocks("json")]
    expressions = [rule["expr"] for rule in alerts] + [target["expr"] for panel in dashboard["panels"]
                                                       for target in panel["targets"]]
    used = set().union(*(_used(e) for e in expressions))
    assert used and used <= _reported(), used - _reported()


def test_every_reported_metric_is_in_the_tables():
    text = DOC.read_text(encoding="utf-8")
    families = {re.sub(r"_(bucket|count|sum|total|info)$", "", name) for name in _reported()}
    missing = {name for name in families if name not in text}
    assert not missing, missing
