"""How events move an execution row: its status, timings and per-step state.

The row is a projection of the event log (which Temporal's history drives), so replaying the
same events gives the same row.

The analytics rollup follows the row too: see :mod:`db.execution_stats`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from db.models import Execution

TERMINAL = frozenset({"completed", "failed", "cancelled"})
_STEP_END = {"step.completed": "completed", "step.failed": "failed", "step.skipped": "skipped"}


class EventLike(Protocol):
    type: str
    step_id: str | None
    attempt: int | None
    data: Any

    @property
    def ts(self) -> Any: ...


def apply_event(execution: Execution, event: EventLike) -> None:
    kind = event.type
    data = event.data if isinstance(event.data, dict) else {}
    if kind == "execution.started":
        execution.started_at = execution.started_at or event.ts
        if execution.status not in TERMINAL:
            execution.status = "running"
    elif kind in ("execution.completed", "execution.failed", "execution.cancelled"):
        execution.status = kind.split(".", 1)[1]
        execution.completed_at = event.ts
        execution.output_data = data.get("output")
        execution.error_message = data.get("error")
    elif kind == "execution.queued" and execution.status not in TERMINAL:
        execution.status = "queued"  # waiting for a permit of its concurrency group
    elif kind == "execution.paused" and execution.status not in TERMINAL:
        execution.status = "paused"
    elif kind == "execution.resumed" and execution.status not in TERMINAL:
        execution.status = "running"
        _recompute_status(execution, execution.steps or {})
    elif event.step_id is not None and (kind.startswith("step.") or kind == "execution.waiting"):
        _apply_step_event(execution, event, data)


def _apply_step_event(execution: Execution, event: EventLike, data: dict[str, Any]) -> None:
    steps = dict(execution.steps or {})
    assert event.step_id is not None
    step = dict(steps.get(event.step_id) or {"status": "pending", "attempts": 0})
    if event.attempt:
        step["attempts"] = max(int(step.get("attempts") or 0), event.attempt)
    kind = event.type
    if kind == "step.started":
        step.update(status="running", started_at=event.ts.isoformat(), error=None)
    elif kind == "execution.waiting":
        step["status"] = "waiting"
    elif kind == "step.retrying":
        step["last_error"] = data.get("error")
    elif kind in ("step.compensated", "step.compensation_failed"):
        step["compensation"] = {"status": kind.removeprefix("step."), **data}
    elif kind in _STEP_END:
        step.update(status=_STEP_END[kind], completed_at=event.ts.isoformat())
        if "output" in data:
            step["output"] = data["output"]
        if "error" in data:
            step["error"] = data["error"]
        if "reason" in data:
            step["reason"] = data["reason"]
    steps[event.step_id] = step
    execution.steps = steps  # a new dict, so SQLAlchemy sees the JSON change
    _recompute_status(execution, steps)


def _recompute_status(execution: Execution, steps: dict[str, Any]) -> None:
    if execution.status not in TERMINAL and execution.status != "paused":
        waiting = any(s.get("status") == "waiting" for s in steps.values())
        execution.status = "waiting" if waiting else "running"


# --- the analytics rollup ----------------------------------------------------------------
