"""The message an event is on the bus and in the streams: one stored row, as JSON."""

from __future__ import annotations

from typing import Any

from db.models import ExecutionLog


def event_message(log: ExecutionLog) -> dict[str, Any]:
    """The wire form of an event, as SSE and WebSocket clients receive it."""
    message: dict[str, Any] = {
        "id": log.seq,
        "type": log.type,
        "execution_id": str(log.execution_id),
        "ts": log.ts.isoformat(),
    }
    if log.step_id is not None:
        message["step_id"] = log.step_id
    if log.attempt is not None:
        message["attempt"] = log.attempt
    if log.data is not None:
        message["data"] = log.data
    if log.type == "log":
        message["data"] = {"level": log.level, "message": log.message, **(log.data or {})}
    return message
