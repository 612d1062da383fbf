"""The shipped Prometheus alert rules (deploy/prometheus/alerts.yml) only name metrics that
exist: Headrace's own, its workers' Temporal SDK exporter's, or the Temporal server's; and
they cover what an operator must be woken for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.promql_names import TEMPORAL_SERVER_METRICS, metric_names
from tests.deploy.test_grafana import exported_headrace_names, sdk_names

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


class TestAlertRules:
    def test_every_rule_names_only_exported_metrics(self, sdk_metrics_text: str) -> None:
        known = exported_headrace_names() | sdk_names(sdk_metrics_text) | TEMPORAL_SERVER_METRICS
        for rule in rules():
            names = metric_names(rule["expr"])
            assert names, rule["alert"]
            assert names <= known, (rule["alert"], sorted(names - known))

    def test_the_name_extraction_sees_through_functions_labels_and_ranges(self) -> None:
        expr = 'sum by (le) (rate(a_bucket{x="y(z)"}[5m])) / clamp_min(b_total, 1e-9) > 0.5'
        assert metric_names(expr) == {"a_bucket", "b_total"}

    @pytest.mark.parametrize(
        "metric",
        [
            "headrace_http_requests_total",  # error rate
            "headrace_executions_active",  # stuck runs
            "headrace_temporal_workflow_task_schedule_to_start_latency_bucket",
            "headrace_temporal_activity_schedule_to_start_latency_bucket",
            "approximate_backlog_count",  # queue backlog
        ],
    )
    def test_the_rules_cover(self, metric: str) -> None:
        assert any(metric in metric_names(rule["expr"]) for rule in rules())

    def test_every_rule_has_a_severity_and_a_summary(self) -> None:
        for rule in rules():
            assert rule["labels"]["severity"] in ("page", "ticket"), rule["alert"]
            assert rule["annotations"]["summary"], rule["alert"]

    def test_prometheus_loads_the_file_compose_mounts(self) -> None:
        config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
        assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]
        compose = (ROOT / "docker-compose.yml").read_text()
        assert "./deploy/prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro" in compose
