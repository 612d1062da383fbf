"""Time in templates: ISO 8601 strings, and filters to format them and do arithmetic.

Times are JSON strings (``"2026-12-04T20:00:00Z"``, UTC), like every other template value.
The interpreter reads the clock only through ``workflow.now()`` (``now()``) and the run's
recorded start (``execution.started_at``), so a replay evaluates the same times. Parsing is
the standard library's ``datetime.fromisoformat``; durations are the definition's own
(``"1h30m"``, ``"PT5M"``, see :mod:`temporal_workflows.durations`).

Filters: ``date_format(fmt)`` (strftime), ``date_add(duration)``, ``date_sub(duration)``,
``timestamp`` (seconds since the epoch).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from temporal_workflows.durations import parse_duration

__all__ = ["DATE_FILTERS", "iso", "parse_time"]

# strftime output grows with its format: a bound on the format keeps the result small.
MAX_FORMAT_LENGTH = 200


def iso(moment: datetime) -> str:
    """``moment`` in UTC as ISO 8601 with a ``Z``, to the microsecond only when it has any."""
    text = moment.astimezone(UTC).isoformat()
    return text.removesuffix("+00:00") + "Z"


def parse_time(value: Any) -> datetime:
    """An ISO 8601 date-time (a bare date is midnight UTC; no zone means UTC), or epoch
    seconds.

    Raises:
        ValueError: If ``value`` is neither.
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a date-time")
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    if not isinstance(value, str):
        raise ValueError(f"a {type(value).__name__} is not a date-time")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO 8601 date-time") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _date_format(value: Any, fmt: str = "%Y-%m-%dT%H:%M:%SZ") -> str:
    if not isinstance(fmt, str) or len(fmt) > MAX_FORMAT_LENGTH:
        raise ValueError(f"the format must be text of at most {MAX_FORMAT_LENGTH} characters")
    return parse_time(value).strftime(fmt)


def _date_add(value: Any, duration: Any) -> str:
    return iso(parse_time(value) + parse_duration(str(duration)))


def _date_sub(value: Any, duration: Any) -> str:
    return iso(parse_time(value) - parse_duration(str(duration)))


def _timestamp(value: Any) -> float:
    return parse_time(value).timestamp()


DATE_FILTERS: dict[str, Callable[..., Any]] = {
    "date_format": _date_format,
    "date_add": _date_add,
    "date_sub": _date_sub,
    "timestamp": _timestamp,
}
