"""Metrics every Headrace process reports about its dependencies, prefixed ``headrace_``.

The API, the worker and the shared clients (event bus, rate limits) record here whether they
reach the database, Temporal and Redis, and each operation they served without one.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

DEPENDENCY_UP = Gauge(
    "headrace_dependency_up",
    "1 while this process last reached the dependency (database, temporal, redis), else 0",
    ["dependency"],
    multiprocess_mode="livemin",  # down for any live process of this host reads as down
)
DEPENDENCY_FALLBACKS = Counter(
    "headrace_dependency_fallbacks_total",
    "Operations served without a dependency that was down, by dependency and operation "
    "(redis: rate_limit, event_bus; temporal: run_start)",
    ["dependency", "operation"],
)


def set_dependency_up(dependency: str, up: bool) -> None:
    """Record whether ``dependency`` (database, temporal, redis) answered this process."""
    DEPENDENCY_UP.labels(dependency).set(1 if up else 0)


def count_fallback(dependency: str, operation: str) -> None:
    """Count one operation served without ``dependency`` (see DEPENDENCY_FALLBACKS)."""
    DEPENDENCY_FALLBACKS.labels(dependency, operation).inc()
