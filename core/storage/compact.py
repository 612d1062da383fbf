"""Keeping large values out of the database: a preview stands in for them.

Step outputs over ``HEADRACE_INLINE_LIMIT`` travel through Temporal as claim-check
references (:mod:`core.storage.codec`), but the event log (``execution_logs.data``) and the
execution row (``executions.steps``, ``output_data``) store JSON. Writing a 50 MB output
there three times would bloat the database and every API read of the execution, so the
recorder stores :func:`compact_for_storage` of such values instead.
"""

from __future__ import annotations

import json
from typing import Any

TRUNCATED_MARKER = "_headrace_truncated"
PREVIEW_CHARS = 2048


def json_size(value: Any) -> int:
    """Bytes of ``value`` as compact UTF-8 JSON (what the database would store)."""
    return len(json.dumps(value, separators=(",", ":"), default=str).encode())


def compact_for_storage(value: Any, limit: int) -> Any:
    """``value`` itself if its JSON fits in ``limit`` bytes, else a small stand-in.

    The stand-in is ``{"_headrace_truncated": true, "size_bytes": n, "preview": "…"}``, the
    preview being the first :data:`PREVIEW_CHARS` characters of the JSON text.

    Args:
        value: Any JSON-compatible value (a step output, an event's data).
        limit: ``HEADRACE_INLINE_LIMIT``.
    """
    if value is None or isinstance(value, bool | int | float):
        return value
    text = json.dumps(value, separators=(",", ":"), default=str)
    size = len(text.encode())
    if size <= limit:
        return value
    return {TRUNCATED_MARKER: True, "size_bytes": size, "preview": text[:PREVIEW_CHARS]}


def compact_event_data(data: Any, limit: int) -> Any:
    """An event's ``data`` with its ``output`` (and ``input``/``payload``) compacted."""
    if not isinstance(data, dict):
        return compact_for_storage(data, limit)
    return {
        name: compact_for_storage(value, limit) if name in ("output", "input", "payload") else value
        for name, value in data.items()
    }
