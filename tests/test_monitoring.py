"""The alert rules and the Grafana dashboard (deploy/monitoring/, SPEC C9) name real metrics.

A rule on a metric the app does not export never fires, silently: every ``fintech_*`` and
``django_*`` name in an expression must be one ``/metrics`` serves. Each alert also carries what
the on-call needs (severity, summary, runbook).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

MONITORING = Path(__file__).resolve().parent.parent / "deploy" / "monitoring"
RULES = yaml.safe_load((MONITORING / "prometheus-rules.yml").read_text())
DASHBOARD = json.loads((MONITORING / "grafana-dashboard.json").read_text())
ALERTS = [rule for group in RULES["groups"] for rule in group["rules"]]
PANEL_EXPRESSIONS = [target["expr"] for panel in DASHBOARD["panels"] for target in panel["targets"]]
SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"), "counter": ("", "_created"), "gauge": ("",)}
APP_METRIC = re.compile(r"\b((?:fintech|django)_[a-z0-9_]+)\b")


@pytest.fixture
def exported(client) -> set[str]:
    """Every series name /metrics can serve (from its TYPE lines: labelled metrics with no samples
    yet still declare themselves there)."""
    client.get("/healthz")  # one request through the middleware
    scraped = client.get("/metrics", REMOTE_ADDR="10.1.2.3").content.decode()
    names = set()
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", scraped, re.MULTILINE):
        names.update(name + suffix for suffix in SUFFIXES.get(kind, ("",)))
    return names


@pytest.mark.django_db
@pytest.mark.parametrize("expression", [rule["expr"] for rule in ALERTS] + PANEL_EXPRESSIONS)
def test_every_metric_in_an_alert_or_a_panel_is_exported(expression, exported):
    named = set(APP_METRIC.findall(expression))
    assert named or re.search(r"\bup\{", expression), expression
    assert named <= exported, f"not exported: {sorted(named - exported)} in {expression}"


def test_every_alert_says_how_bad_it_is_and_what_to_do():
    names = [rule["alert"] for rule in ALERTS]
    assert len(names) == len(set(names))
    for rule in ALERTS:
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, rule["alert"]
        assert rule["annotations"]["summary"].strip(), rule["alert"]
        assert rule["annotations"]["runbook"].startswith("docs/ARCHITECTURE.md#monitoring-and-alerts"), rule["alert"]
        assert re.fullmatch(r"\d+[smh]", rule.get("for", "0s")), rule["alert"]


def test_the_alerts_cover_what_must_page_someone():
    """The failures an auditor or a regulator would ask about each have an alert."""
    expressions = " ".join(rule["expr"] for rule in ALERTS)
    for metric in (
        "fintech_ledger_reconciliation_ok",
        "fintech_audit_chain_intact",
        "fintech_audit_oldest_unsealed_seconds",
        "fintech_dsar_overdue",
        "fintech_secrets_overdue",
        "fintech_celery_queue_depth",
        "fintech_celery_task_failures_total",
        "django_http_responses_total_by_status_total",
    ):
        assert metric in expressions, metric


def test_the_dashboard_is_importable():
    assert DASHBOARD["uid"] and DASHBOARD["title"]
    assert [variable["name"] for variable in DASHBOARD["templating"]["list"]] == ["datasource"]
    ids = [panel["id"] for panel in DASHBOARD["panels"]]
    assert len(ids) == len(set(ids))
    for panel in DASHBOARD["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["gridPos"]["x"] >= 0 and panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24, panel["title"]
