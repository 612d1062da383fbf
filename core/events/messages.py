"""The message an event is on the bus and in the streams: one stored row, as JSON."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from db.models import ExecutionLog


def event_message(log: ExecutionLog) -> dict[str, Any]:
    """The wire form of an event, as SSE and WebSocket clients receive it."""
    return row_message(
        {
            "seq": log.seq,
            "type": log.type,
            "execution_id": log.execution_id,
            "ts": log.ts,
            "step_id": log.step_id,
            "attempt": log.attempt,
            "level": log.level,
            "message": log.message,
            "data": log.data,
        }
    )


def row_message(row: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`event_message` of a row given as its column values (what the recorder inserts)."""
    message: dict[str, Any] = {
        "id": row["seq"],
        "type": row["type"],
        "execution_id": str(row["execution_id"]),
        "ts": row["ts"].isoformat(),
    }
    if row["step_id"] is not None:
        message["step_id"] = row["step_id"]
    if row["attempt"] is not None:
        message["attempt"] = row["attempt"]
    if row["data"] is not None:
        message["data"] = row["data"]
    if row["type"] == "log":
        message["data"] = {"level": row["level"], "message": row["message"], **(row["data"] or {})}
    return message
