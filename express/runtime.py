"""The express runtime: the interpreter's environment as plain async calls in one process.

Same interpreter, same step activities (``activities.registry``), no Temporal history:
an activity is awaited in this process (inside an activity context, so ``activity.info()``
answers as on a worker), retried by the step's own policy (``temporal_workflows.retry``),
timers are asyncio's, every patch applies, and events go to the recorder in ordered,
group-committed batches. A crash loses the run (it is marked ``interrupted``); a caller
retries it: at least once, like Step Functions' Express workflows.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel
from temporalio import activity
from temporalio.common import RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ApplicationError, ChildWorkflowError
from temporalio.testing import ActivityEnvironment

from activities.registry import ActivityRegistry
from temporal_workflows.event_emitter import EventQueue
from temporal_workflows.interpreter import ACTIVITY_SIDE_STEP_EVENTS
from temporal_workflows.retry import next_retry_delay
from temporal_workflows.run_types import EventRecord, RunInput, RunResult

logger = logging.getLogger(__name__)

# Seconds an express run's events are retried while the database refuses them.
STORE_PATIENCE = 120.0
# How often a condition is looked at again (only the operator gates use it, and express
# definitions have none of the steps that would close them: see express.rules).
_CONDITION_POLL = 0.05

# Patches that trade history events for something else, and cost an express run: with
# activity-side step events an http step's activity stores step.started/completed in two
# transactions of its own (saving a durable run a local activity); here the run's one
# batch holds them.
HISTORY_ONLY_PATCHES = frozenset({ACTIVITY_SIDE_STEP_EVENTS})

# (child run input) -> its result; raises ApplicationError when the child failed.
ChildRunner = Callable[[RunInput], Awaitable[RunResult]]


class ExpressRuntime:
    """One express run's environment. ``run_child`` runs a child run the same way."""

    durable = False

    def __init__(
        self,
        registry: ActivityRegistry,
        *,
        run_id: str,
        run_child: ChildRunner,
        task_queue: str = "express",
    ) -> None:
        self._registry = registry
        self._run_id = run_id
        self._run_child = run_child
        self._task_queue = task_queue
        self._started = datetime.now(UTC)
        self._activity_ids = itertools.count(1)
        self._emitters: list[ExpressEmitter] = []

    def now(self) -> datetime:
        return datetime.now(UTC)

    def start_time(self) -> datetime:
        return self._started

    def run_id(self) -> str:
        return self._run_id

    def patched(self, patch_id: str) -> bool:
        # A run without a history has no older behaviour to keep: every change applies,
        # except those that only save a durable run's history work.
        return patch_id not in HISTORY_ONLY_PATCHES

    def uuid4(self) -> uuid.UUID:
        return uuid.uuid4()

    async def sleep(self, delay: timedelta) -> None:
        await asyncio.sleep(max(0.0, delay.total_seconds()))

    async def wait_condition(
        self, condition: Callable[[], bool], *, timeout: timedelta | None = None
    ) -> None:
        async with asyncio.timeout(timeout.total_seconds() if timeout is not None else None):
            while not condition():  # noqa: ASYNC110 - any state change may make it hold
                await asyncio.sleep(_CONDITION_POLL)

    async def execute_activity(
        self,
        name: str,
        arg: Any,
        *,
        local: bool,
        start_to_close_timeout: timedelta,
        retry_policy: RetryPolicy,
        summary: str,
        result_type: type | None = None,
        heartbeat_timeout: timedelta | None = None,
    ) -> Any:
        """Call the activity until it succeeds or its policy stops; the last failure raises
        (an ``ApplicationError``, as a local activity's does in a durable run).

        ``heartbeat_timeout`` is for a worker that may die unseen; in-process, the call
        and the run die together, so it has no use here."""
        function = self._registry.get(name)
        arg = _as_parameter(function, arg)
        activity_id = str(next(self._activity_ids))
        attempt = 1
        while True:
            env = ActivityEnvironment()
            env.info = dataclasses.replace(
                env.info,
                activity_id=activity_id,
                activity_type=name,
                attempt=attempt,
                is_local=local,
                start_to_close_timeout=start_to_close_timeout,
                schedule_to_close_timeout=None,
                current_attempt_scheduled_time=self.now(),
                started_time=self.now(),
                task_queue=self._task_queue,
                workflow_id=self._run_id,
                workflow_run_id=self._run_id,
                workflow_type="express",
                retry_policy=retry_policy,
            )
            try:
                async with asyncio.timeout(start_to_close_timeout.total_seconds()):
                    return await env.run(function, arg)
            except ApplicationError as exc:
                error = exc
            except TimeoutError:
                error = ApplicationError(
                    f"activity {summary} timed out after {start_to_close_timeout}",
                    {"attempt": attempt},
                    type="TimeoutError",
                )
            except Exception as exc:  # as Temporal does: any exception is a retryable failure
                error = ApplicationError(str(exc), {"attempt": attempt}, type=type(exc).__name__)
            delay = next_retry_delay(retry_policy, attempt, error)
            if delay is None:
                raise error
            await asyncio.sleep(delay.total_seconds())
            attempt += 1

    async def execute_child(
        self, workflow_name: str, arg: Any, *, id: str, result_type: type, **options: Any
    ) -> Any:
        try:
            return await self._run_child(arg)
        except ApplicationError as exc:
            failure = ChildWorkflowError(
                "child workflow execution failed",
                namespace="express",
                workflow_id=id,
                run_id=id,
                workflow_type=workflow_name,
                initiated_event_id=0,
                started_event_id=0,
                retry_state=None,
            )
            failure.__cause__ = exc
            raise failure from exc

    def upsert_search_attributes(self, updates: list[SearchAttributeUpdate[Any]]) -> None:
        return None  # no Temporal run to show

    def cancellation_reason(self) -> str | None:
        return None

    def event_emitter(self, run: RunInput) -> ExpressEmitter:
        emitter = ExpressEmitter(run, self._registry)
        self._emitters.append(emitter)
        return emitter

    async def drain(self) -> None:
        """Wait until the run's events are all stored (``close`` does not wait for it)."""
        for emitter in self._emitters:
            await emitter.drained()


class ExpressEmitter(EventQueue):
    """The run's events, stored in order by one pump: a batch while the next accumulates.

    The first batch waits up to ``linger`` seconds for the run to end, so a short run (the
    point of express) stores all its events in one transaction; a longer one shows its
    progress after that. The recorder group-commits the batches of every run in the
    process. ``close`` does not wait for the last batch: the run's result is known before its
    events are stored, and :meth:`drained` tells when they are (the runner waits for it
    before a synchronous execute answers; a ``?wait=true`` webhook answers without it).
    """

    def __init__(self, run: RunInput, registry: ActivityRegistry, linger: float = 0.05) -> None:
        super().__init__()
        self._run = run
        self._recorder = registry.recorder
        self._linger = linger
        self._wake = asyncio.Event()
        self._closed = asyncio.Event()
        self._closing = False
        self._pump: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._pump = asyncio.create_task(self._deliver())

    def _now(self) -> datetime:
        return datetime.now(UTC)

    def _queued(self) -> None:
        self._wake.set()

    async def flush(self) -> None:
        await self.close()
        await self.drained()

    async def close(self) -> None:
        self._closing = True
        self._closed.set()
        self._wake.set()

    async def drained(self) -> None:
        if self._pump is not None:
            await asyncio.shield(self._pump)

    async def _deliver(self) -> None:
        first = True
        while True:
            await self._wake.wait()
            if first:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._linger):
                        await self._closed.wait()
            self._wake.clear()
            if self._pending:
                batch, self._pending = self._pending, []
                await self._store(batch, self._run if first else None)
                first = False
            if self._closing and not self._pending:
                return

    async def _store(self, batch: list[EventRecord], run: RunInput | None) -> None:
        """Retry as the durable emitter's local activity does, for ``STORE_PATIENCE`` seconds
        (the row may be gone with its workflow); then the events are dropped, and a row left
        unfinished is failed as interrupted by the API's sweep."""
        delay = 0.2
        give_up = asyncio.get_running_loop().time() + STORE_PATIENCE
        while True:
            try:
                await self._recorder.record(self._run.execution_id, batch, run)
                return
            except Exception:
                logger.warning("storing events of %s failed", self._run.execution_id, exc_info=True)
                if asyncio.get_running_loop().time() + delay > give_up:
                    logger.error(
                        "dropped %d events of express run %s", len(batch), self._run.execution_id
                    )
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)


def _as_parameter(function: Callable[..., Any], arg: Any) -> Any:
    """``arg`` as the activity's parameter type (Temporal's converter does this in a durable
    run: the interpreter passes some requests as plain dicts)."""
    definition = activity._Definition.from_callable(function)
    types = definition.arg_types if definition is not None else None
    if not types:
        return arg
    wanted = types[0]
    if not isinstance(wanted, type) or isinstance(arg, wanted) or not isinstance(arg, dict):
        return arg
    if issubclass(wanted, BaseModel):
        return wanted.model_validate(arg)
    if dataclasses.is_dataclass(wanted):
        return wanted(**arg)
    return arg
