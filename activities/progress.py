"""Progress of a running step: a Temporal heartbeat and a ``step.progress`` event.

Any activity can report progress. Inside a step wrapper's ``reporting(...)`` block, call::

    await report_progress({"done": 40, "total": 100})

Every call heartbeats (so a step with a heartbeat timeout is known to be alive); events are
throttled to one per ``min_interval`` per step attempt (``final=True`` always records), so a
tight loop cannot flood the event log. Recording a progress event never fails the step.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from temporalio import activity

from activities.events import EventRecorder
from core.heartbeat import heartbeat
from temporal_workflows.run_types import EventRecord

logger = logging.getLogger(__name__)

DEFAULT_MIN_INTERVAL = 0.5
# Small bodies arrive at once: progress is only worth an event for large downloads.
HTTP_PROGRESS_MIN_BYTES = 1024 * 1024

_current: ContextVar[ProgressReporter | None] = ContextVar("headrace_progress", default=None)


class ProgressReporter:
    """Reports the progress of one attempt of one step."""

    def __init__(
        self,
        recorder: EventRecorder,
        execution_id: str,
        step_id: str,
        *,
        min_interval: float = DEFAULT_MIN_INTERVAL,
    ) -> None:
        self._recorder = recorder
        self._execution_id = execution_id
        self._step_id = step_id
        self._min_interval = min_interval
        self._last = float("-inf")
        self._count = 0

    async def report(self, data: dict[str, Any] | None = None, *, final: bool = False) -> None:
        """Heartbeat with ``data``; record a ``step.progress`` event unless throttled."""
        heartbeat(data)
        now = time.monotonic()
        if not final and now - self._last < self._min_interval:
            return
        self._last = now
        self._count += 1
        info = activity.info()
        event = EventRecord(
            type="step.progress",
            # One key per report of this attempt: a retried delivery is stored once.
            dedupe_key=f"act:{info.activity_id}:{info.attempt}:progress:{self._count}",
            step_id=self._step_id,
            attempt=info.attempt,
            data=data,
            ts=datetime.now(UTC),
        )
        try:
            await self._recorder.record(self._execution_id, [event])
        except Exception:  # progress is informative; the step must go on
            logger.warning("recording progress of step %s failed", self._step_id, exc_info=True)


@contextmanager
def reporting(reporter: ProgressReporter) -> Iterator[ProgressReporter]:
    """Make ``reporter`` the target of :func:`report_progress` inside the block."""
    token = _current.set(reporter)
    try:
        yield reporter
    finally:
        _current.reset(token)


async def report_progress(data: dict[str, Any] | None = None, *, final: bool = False) -> None:
    """Report progress of the current step; does nothing outside a ``reporting`` block."""
    reporter = _current.get()
    if reporter is not None:
        await reporter.report(data, final=final)


async def report_http_bytes(bytes_read: int) -> None:
    """The ``on_progress`` hook of :class:`activities.http.HttpActivities`."""
    if bytes_read >= HTTP_PROGRESS_MIN_BYTES:
        await report_progress({"bytes": bytes_read})
