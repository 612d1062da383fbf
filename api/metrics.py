"""Prometheus metrics of the API process, all prefixed ``headrace_``.

When ``PROMETHEUS_MULTIPROC_DIR`` is set (several API worker processes), ``/metrics`` merges
every process's samples with prometheus-client's multiprocess collector. Figures that describe
the whole system rather than one process (executions running or waiting) are read from the
database at scrape time by :class:`ExecutionGauges`, so every process reports the same truth.
Labels are bounded: route templates, status codes and small fixed sets, never ids.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.metrics import count_fallback

HTTP_REQUESTS = Counter(
    "headrace_http_requests_total",
    "HTTP requests by route and status",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "headrace_http_request_duration_seconds",
    "HTTP request latency by route",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
BUS_LAG = Histogram(
    "headrace_event_bus_lag_seconds",
    "Delay between an event's timestamp and its delivery to a stream subscriber",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
STREAM_SUBSCRIBERS = Gauge(
    "headrace_stream_subscribers",
    "Clients currently following an execution's events, by transport (sse, ws)",
    ["transport"],
    multiprocess_mode="livesum",
)
WEBHOOK_OUTCOMES = frozenset(
    {
        "accepted",
        "duplicate",
        "unauthorized",
        "not_found",
        "method_not_allowed",
        "invalid",
        "rate_limited",
        "error",
    }
)
WEBHOOK_REQUESTS = Counter(
    "headrace_webhook_requests_total",
    "Webhook calls by outcome: accepted, duplicate (idempotency key seen) or a rejection",
    ["outcome"],
)
PENDING_STARTS = Counter(
    "headrace_pending_runs_started_total",
    "Pending runs (not taken by Temporal at once) that the sweeper or a retry started later",
)
ACTIVE_STATUSES = ("pending", "queued", "running", "waiting", "paused")

logger = logging.getLogger(__name__)


def observe_bus_lag(seconds: float) -> None:
    """Record how late an event reached a stream subscriber (negative clock skew counts as 0)."""
    BUS_LAG.observe(max(seconds, 0.0))


def count_webhook(outcome: str) -> None:
    """Count one webhook call; ``outcome`` is one of :data:`WEBHOOK_OUTCOMES` (else ``other``)."""
    WEBHOOK_REQUESTS.labels(outcome if outcome in WEBHOOK_OUTCOMES else "other").inc()


def count_deferred_start() -> None:
    """A run Temporal did not take at once: it stays pending until a sweep or retry."""
    count_fallback("temporal", "run_start")


def count_pending_started(count: int = 1) -> None:
    PENDING_STARTS.inc(count)


@contextmanager
def track_stream_subscriber(transport: str) -> Iterator[None]:
    """Count a live SSE/WebSocket subscriber for as long as the block runs."""
    gauge = STREAM_SUBSCRIBERS.labels("ws" if transport == "ws" else "sse")
    gauge.inc()
    try:
        yield
    finally:
        gauge.dec()


class ExecutionGauges(Collector):
    """``headrace_executions_active{status}``: unfinished executions, counted in the database.

    ``load`` runs the count query; :meth:`refresh` calls it at most once per ``ttl`` seconds
    (scrapes from several Prometheus servers share one query), and keeps the last figures
    when the database does not answer, with ``headrace_executions_active_stale`` set to 1.
    """

    def __init__(
        self, load: Callable[[], Awaitable[Mapping[str, int]]], *, ttl: float = 5.0
    ) -> None:
        self._load = load
        self._ttl = ttl
        self._counts: dict[str, int] = dict.fromkeys(ACTIVE_STATUSES, 0)
        self._loaded_at = float("-inf")
        self._stale = True
        self._lock = asyncio.Lock()

    async def refresh(self) -> None:
        async with self._lock:
            if time.monotonic() - self._loaded_at < self._ttl:
                return
            try:
                counts = await asyncio.wait_for(self._load(), 5)
            except Exception:  # a scrape must still answer; the staleness gauge says why
                logger.warning("counting active executions failed", exc_info=True)
                self._stale = True
                return
            self._counts = {s: int(counts.get(s, 0)) for s in ACTIVE_STATUSES}
            self._loaded_at, self._stale = time.monotonic(), False

    def describe(self) -> Iterator[Metric]:
        return self._families()

    def collect(self) -> Iterator[Metric]:
        return self._families()

    def _families(self) -> Iterator[Metric]:
        active = GaugeMetricFamily(
            "headrace_executions_active",
            "Unfinished executions by status (pending, queued, running, waiting, paused)",
            labels=["status"],
        )
        for status in ACTIVE_STATUSES:
            active.add_metric([status], self._counts[status])
        yield active
        yield GaugeMetricFamily(
            "headrace_runs_queued",
            "Runs waiting for a permit of their workflow's concurrency limit",
            value=self._counts["queued"],
        )
        yield GaugeMetricFamily(
            "headrace_executions_active_stale",
            "1 when the last count of active executions failed and older figures are shown",
            value=1 if self._stale else 0,
        )


def render_metrics(extra: Sequence[Collector] = ()) -> tuple[bytes, str]:
    """The Prometheus text of this process (or all processes), plus ``extra`` collectors."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        for collector in extra:
            registry.register(collector)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    extra_registry = CollectorRegistry(auto_describe=False)
    for collector in extra:
        extra_registry.register(collector)
    return generate_latest(REGISTRY) + generate_latest(extra_registry), CONTENT_TYPE_LATEST


def route_template(scope: Scope) -> str:
    """The full template of the matched route: ``/api/v1/workflows/{workflow_id}``.

    FastAPI gives the route as its router declared it, without the prefixes of the routers
    it was included in; those are the part of the request path before the route's own part.
    """
    template = getattr(scope.get("route"), "path", None)
    if not template:
        return "unmatched"
    own_part = template
    for name, value in (scope.get("path_params") or {}).items():
        placeholder = re.compile(r"\{" + re.escape(name) + r"(:[^}]*)?\}")
        own_part = placeholder.sub(str(value).replace("\\", "\\\\"), own_part)
    path = str(scope.get("path", ""))
    if own_part and path.endswith(own_part):
        return path[: len(path) - len(own_part)] + str(template)
    return str(template)


class MetricsMiddleware:
    """Counts requests by route *template* (``/api/v1/workflows/{workflow_id}``) to bound labels."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            template = route_template(scope)
            method = scope.get("method", "GET")
            HTTP_REQUESTS.labels(method, template, str(status)).inc()
            HTTP_LATENCY.labels(method, template).observe(time.perf_counter() - started)
