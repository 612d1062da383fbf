"""Worker telemetry: the headrace_* endpoint and the SDK runtime are off unless configured."""

from __future__ import annotations

import urllib.request

from activities.metrics import observe_events
from core.settings import Settings
from tests.conftest import SECRET_KEY
from tests.support.ports import free_port
from worker.telemetry import build_runtime, serve_worker_metrics


def settings(**values: object) -> Settings:
    return Settings(environment="test", secret_key=SECRET_KEY, host="127.0.0.1", **values)  # type: ignore[arg-type]


class TestWorkerMetricsEndpoint:
    def test_it_serves_the_worker_metrics_on_the_configured_port(self) -> None:
        port = free_port()
        stop = serve_worker_metrics(settings(worker_metrics_port=port))
        assert stop is not None
        try:
            observe_events(
                [
                    {
                        "type": "execution.started",
                        "execution_id": "x",
                        "ts": "2026-01-01T00:00:00+00:00",
                    }
                ],
                trigger_type="schedule",
            )
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                body = response.read().decode()
        finally:
            stop()
        assert 'headrace_executions_started_total{trigger_type="schedule"}' in body
        assert "# TYPE headrace_step_duration_seconds histogram" in body

    def test_nothing_is_served_or_bound_without_ports(self) -> None:
        assert serve_worker_metrics(settings()) is None
        assert build_runtime(settings()) is None
