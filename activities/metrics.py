"""Prometheus metrics of the worker, all prefixed ``headrace_``, fed by recorded events.

The event recorder hands every batch of newly stored event messages (the SSE wire form
``{type, execution_id, step_id?, attempt?, data?, ts}``) to :func:`observe_events`, so the
metrics count exactly what the event log holds, once per event, whichever worker stored it.

Labels are bounded on purpose: no execution, workflow or step *id* ever becomes a label.
Executions are counted by ``trigger_type`` (manual, schedule, webhook, workflow, retry,
``foreach`` chunks and ``until`` segments) and
``outcome``; steps by ``step_type`` (the ten v1 types) and ``outcome``. Anything outside
those sets is reported as ``other``, so a bad value cannot explode the series count.
Per-workflow figures come from the analytics API, which reads the database instead.

Step type and duration come from the step events' ``data`` (``step_type``,
``duration_seconds``) when the interpreter provides them. Without ``duration_seconds`` the
duration is measured from the ``step.started`` event this process saw for the same step
(a bounded memory: a workflow's events are normally stored by the worker that runs it).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from prometheus_client import Counter, Histogram

from temporal_workflows.step_types import STEP_TYPES

TRIGGER_TYPES = frozenset(
    {"manual", "schedule", "webhook", "workflow", "retry", "foreach", "until"}
)
EXECUTION_OUTCOMES = frozenset({"completed", "failed", "cancelled"})
STEP_OUTCOMES = frozenset({"completed", "failed", "skipped"})
UNKNOWN = "unknown"
OTHER = "other"

EXECUTIONS_STARTED = Counter(
    "headrace_executions_started_total",
    "Executions that started running, by trigger type",
    ["trigger_type"],
)
EXECUTIONS_FINISHED = Counter(
    "headrace_executions_finished_total",
    "Executions that ended, by trigger type and outcome (completed, failed, cancelled)",
    ["trigger_type", "outcome"],
)
STEPS_FINISHED = Counter(
    "headrace_steps_finished_total",
    "Steps that ended, by step type and outcome (completed, failed, skipped)",
    ["step_type", "outcome"],
)
STEP_RETRIES = Counter(
    "headrace_step_retries_total",
    "Step attempts that failed and will be retried, by step type",
    ["step_type"],
)
STEP_DURATION = Histogram(
    "headrace_step_duration_seconds",
    "Time from a step's start to its end (all attempts), by step type and outcome",
    ["step_type", "outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
)
STEP_ATTEMPTS = Histogram(
    "headrace_step_attempts",
    "Attempts a step took before it ended, by step type and outcome",
    ["step_type", "outcome"],
    buckets=(1, 2, 3, 5, 10, 20),
)

LLM_TOKENS = Counter(
    "headrace_llm_tokens_total",
    "Tokens that llm and agent steps' model calls used, by model and kind (prompt, "
    "completion); per workflow, see the analytics API",
    ["model", "kind"],
)
# Model names are the user's text: the first this many seen get a series, later ones `other`.
MAX_MODEL_LABELS = 100
_models: set[str] = set()

_STARTED_MEMORY = 10_000
_started: OrderedDict[tuple[str, str], datetime] = OrderedDict()


def observe_events(messages: Iterable[Mapping[str, Any]], *, trigger_type: str = UNKNOWN) -> None:
    """Update the worker metrics from newly stored event messages.

    Args:
        messages: What :meth:`activities.events.EventRecorder.record` stored, in order.
        trigger_type: The execution's trigger type (its row's ``trigger_type``).
    """
    trigger = bounded(trigger_type, TRIGGER_TYPES)
    for message in messages:
        kind = str(message.get("type", ""))
        if kind == "execution.started":
            EXECUTIONS_STARTED.labels(trigger).inc()
        elif kind.startswith("execution.") and kind[10:] in EXECUTION_OUTCOMES:
            EXECUTIONS_FINISHED.labels(trigger, kind[10:]).inc()
        elif kind.startswith("step."):
            _observe_step(kind[5:], message)
        elif kind == "llm.usage":
            _observe_tokens(message.get("data"))


def _observe_tokens(data: Any) -> None:
    """Count one model call's tokens (an ``llm.usage`` event of activities/llm.py)."""
    if not isinstance(data, Mapping):
        return
    model = str(data.get("model") or UNKNOWN)[:100]
    if model not in _models:
        if len(_models) >= MAX_MODEL_LABELS:
            model = OTHER
        else:
            _models.add(model)
    for kind in ("prompt", "completion"):
        count = data.get(f"{kind}_tokens")
        if isinstance(count, int) and count > 0:
            LLM_TOKENS.labels(model, kind).inc(count)


def _observe_step(what: str, message: Mapping[str, Any]) -> None:
    data = message.get("data")
    data = data if isinstance(data, Mapping) else {}
    step_type = bounded(str(data.get("step_type") or UNKNOWN), frozenset(STEP_TYPES))
    key = (str(message.get("execution_id")), str(message.get("step_id")))
    if what == "started":
        _remember_start(key, message.get("ts"))
    elif what == "retrying":
        STEP_RETRIES.labels(step_type).inc()
    elif what in STEP_OUTCOMES:
        STEPS_FINISHED.labels(step_type, what).inc()
        started = _started.pop(key, None)
        if what == "skipped":
            return
        STEP_ATTEMPTS.labels(step_type, what).observe(int(message.get("attempt") or 1))
        duration = _duration(data.get("duration_seconds"), started, message.get("ts"))
        if duration is not None:
            STEP_DURATION.labels(step_type, what).observe(duration)


def _remember_start(key: tuple[str, str], ts: Any) -> None:
    moment = _parse_ts(ts)
    if moment is None:
        return
    _started[key] = moment
    _started.move_to_end(key)
    while len(_started) > _STARTED_MEMORY:
        _started.popitem(last=False)


def _duration(given: Any, started: datetime | None, ts: Any) -> float | None:
    if isinstance(given, int | float) and given >= 0:
        return float(given)
    ended = _parse_ts(ts)
    if started is None or ended is None:
        return None
    return max((ended - started).total_seconds(), 0.0)


def _parse_ts(ts: Any) -> datetime | None:
    if isinstance(ts, datetime):
        return ts
    if isinstance(ts, str):
        try:
            return datetime.fromisoformat(ts)
        except ValueError:
            return None
    return None


def bounded(value: str, allowed: frozenset[str]) -> str:
    """``value`` if it is one of ``allowed`` (or ``unknown``), else ``other``."""
    return value if value in allowed or value == UNKNOWN else OTHER
