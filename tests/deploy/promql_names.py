"""Metric names in PromQL expressions, and the Temporal server metrics Headrace's alerts and
dashboard may use (the server's own names, unprefixed: its exporter is not ours)."""

from __future__ import annotations

import re

# From the Temporal server's metric definitions (common/metrics/metric_defs.go), as its
# Prometheus exporter names them; histograms appear with their _bucket series.
TEMPORAL_SERVER_METRICS = frozenset(
    {
        "service_requests",
        "service_error_with_type",
        "service_latency_bucket",
        "persistence_requests",
        "persistence_errors",
        "persistence_latency_bucket",
        "approximate_backlog_count",
        "approximate_backlog_age_seconds",
    }
)

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENTIFIER = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(\s*\()?")
_KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "inf", "nan", "e"})


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects (functions, labels and keywords left out)."""
    text = _STRINGS.sub("", expr)
    text = _MATCHERS.sub("", text)
    text = _RANGES.sub("", text)
    text = _GROUPING.sub("", text)
    return {
        name
        for name, call in _IDENTIFIER.findall(text)
        if not call and name.lower() not in _KEYWORDS and not name[0].isdigit()
    }
