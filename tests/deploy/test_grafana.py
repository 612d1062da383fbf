"""The provisioned Grafana dashboard only queries metrics Headrace really exports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

import activities.metrics  # noqa: F401  (registers the worker metrics)
import api.metrics  # noqa: F401  (registers the API metrics)
from api.metrics import ExecutionGauges
from tests.deploy.promql_names import TEMPORAL_SERVER_METRICS, metric_names

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "headrace.json"
METRIC = re.compile(r"\b(headrace_[a-zA-Z0-9_]+)")
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def exported_headrace_names() -> set[str]:
    """Every series name the API and worker modules can expose, from prometheus-client."""

    async def no_counts() -> dict[str, int]:
        return {}

    families = [*REGISTRY.collect(), *ExecutionGauges(no_counts).describe()]
    return {
        f.name + suffix
        for f in families
        if f.name.startswith("headrace_")
        for suffix in SUFFIXES.get(f.type, ("",))
    }


def sdk_names(text: str) -> set[str]:
    return {
        line.split("{")[0].split(" ")[0]
        for line in text.splitlines()
        if line and not line.startswith("#")
    }


def panels() -> list[dict[str, Any]]:
    """The dashboard's graphs (row headers left out)."""
    return [p for p in json.loads(DASHBOARD.read_text())["panels"] if p["type"] != "row"]


def temporal_server_panels() -> list[dict[str, Any]]:
    """The panels below the "Temporal server" row: they chart the server's own metrics."""
    every = json.loads(DASHBOARD.read_text())["panels"]
    (row,) = [p for p in every if p["type"] == "row" and p["title"] == "Temporal server"]
    return [p for p in panels() if p["gridPos"]["y"] > row["gridPos"]["y"]]


def queries() -> list[tuple[str, str]]:
    return [(p["title"], t["expr"]) for p in panels() for t in p["targets"]]


class TestDashboard:
    def test_every_panel_has_a_query_naming_a_headrace_metric(self) -> None:
        server = {p["title"] for p in temporal_server_panels()}
        for panel in panels():
            assert panel["targets"], panel["title"]
            if panel["title"] in server:
                continue
            for target in panel["targets"]:
                assert METRIC.search(target["expr"]), (panel["title"], target["expr"])

    def test_the_temporal_server_row_charts_only_server_metrics(self) -> None:
        server = temporal_server_panels()
        assert len(server) >= 3
        for panel in server:
            for target in panel["targets"]:
                names = metric_names(target["expr"])
                assert names and names <= TEMPORAL_SERVER_METRICS, (panel["title"], names)

    def test_every_query_names_only_metrics_the_code_exports(self, sdk_metrics_text: str) -> None:
        known = exported_headrace_names() | sdk_names(sdk_metrics_text)
        unknown = {
            (title, name)
            for title, expr in queries()
            for name in METRIC.findall(expr)
            if name not in known
        }
        assert not unknown, f"queried but never exported: {sorted(unknown)}"

    def test_the_sdk_metrics_are_prefixed_like_the_others(self, sdk_metrics_text: str) -> None:
        names = sdk_names(sdk_metrics_text)
        assert "headrace_temporal_workflow_task_schedule_to_start_latency_bucket" in names
        assert all(n.startswith("headrace_temporal_") for n in names)

    @pytest.mark.parametrize(
        "topic",
        [
            "executions_started",
            "executions_finished",
            "step_duration_seconds",
            "executions_active",
            "webhook_requests",
            "http_requests_total",
        ],
    )
    def test_the_dashboard_covers(self, topic: str) -> None:
        assert any(topic in expr for _, expr in queries())

    def test_panels_use_the_provisioned_datasource(self) -> None:
        provisioned = yaml.safe_load(
            (ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text()
        )
        uid = provisioned["datasources"][0]["uid"]
        assert {p["datasource"]["uid"] for p in panels()} == {uid}

    def test_panels_do_not_overlap(self) -> None:
        cells = set()
        for panel in json.loads(DASHBOARD.read_text())["panels"]:
            pos = panel["gridPos"]
            for x in range(pos["x"], pos["x"] + pos["w"]):
                for y in range(pos["y"], pos["y"] + pos["h"]):
                    assert (x, y) not in cells, panel["title"]
                    cells.add((x, y))
            assert pos["x"] + pos["w"] <= 24


class TestPrometheusConfig:
    def test_it_scrapes_the_api_and_every_worker_on_their_metrics_ports(self) -> None:
        config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
        jobs = {j["job_name"]: j for j in config["scrape_configs"]}
        assert jobs["headrace-api"]["dns_sd_configs"][0]["port"] == 8000
        assert jobs["headrace-worker"]["dns_sd_configs"][0]["port"] == 9464
        assert jobs["headrace-worker-temporal-sdk"]["dns_sd_configs"][0]["port"] == 9465
