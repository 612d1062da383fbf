"""Worker telemetry wiring: the Temporal SDK's Prometheus exporter and the worker's metrics.

Two endpoints, both optional and bound on ``HEADRACE_HOST``:

- ``HEADRACE_TEMPORAL_METRICS_PORT``: the SDK's own exporter (poll latencies, task slots,
  schedule-to-start latencies, ...), renamed ``headrace_temporal_*``. It is a property of the
  Temporal :class:`~temporalio.runtime.Runtime`, so it must be given to ``Client.connect``.
- ``HEADRACE_WORKER_METRICS_PORT``: ``headrace_*`` metrics the worker computes from the events
  it records (:mod:`activities.metrics`), served by prometheus-client.
"""

from __future__ import annotations

from collections.abc import Callable
from wsgiref.simple_server import WSGIServer

from prometheus_client import start_http_server
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

import activities.metrics  # noqa: F401  (registers the worker metrics before serving)
from core.settings import Settings

TEMPORAL_METRIC_PREFIX = "headrace_temporal_"


def build_runtime(settings: Settings) -> Runtime | None:
    """A Temporal runtime exporting SDK metrics, or None when no port is configured."""
    if settings.temporal_metrics_port is None:
        return None
    bind = f"{settings.host}:{settings.temporal_metrics_port}"
    telemetry = TelemetryConfig(
        metrics=PrometheusConfig(bind_address=bind, durations_as_seconds=True),
        metric_prefix=TEMPORAL_METRIC_PREFIX,
        global_tags={"service": "headrace-worker"},
    )
    return Runtime(telemetry=telemetry)


def serve_worker_metrics(settings: Settings) -> Callable[[], None] | None:
    """Serve this process's ``headrace_*`` metrics; returns a function that stops serving."""
    if settings.worker_metrics_port is None:
        return None
    server, thread = start_http_server(settings.worker_metrics_port, addr=settings.host)

    def stop(server: WSGIServer = server) -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stop
