"""Running express runs in this process: start, wait, limit, interrupt.

One :class:`ExpressRunner` per process that runs express runs (the API). A run is an asyncio
task of the interpreter on an :class:`~express.runtime.ExpressRuntime`; its execution row
and events are recorded as a durable run's are (the same recorder), so lists, logs,
streams and analytics show it. The row names this runner (``express_runner``): when the
process starts again, :meth:`ExpressRunner.mark_interrupted` fails what it left unfinished.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Collection
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy import false, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from activities.registry import ActivityRegistry, build_registry, worker_resources
from core.events import EventSink
from core.settings import Settings
from db.models import Execution
from express.runtime import ExpressRuntime
from temporal_workflows.express_rules import express_problems
from temporal_workflows.interpreter import HeadraceRun
from temporal_workflows.run_types import EventRecord, RunInput, RunResult

logger = logging.getLogger(__name__)

INTERRUPTED = "interrupted: the process running this express run stopped before it ended"
UNFINISHED = ("pending", "running", "queued")
# Answered runs whose events may still be on their way to the database, at most: past it,
# answers wait for storage too (backpressure instead of a growing queue).
MAX_UNSTORED = 20
# Beyond its maximum duration, a run still marked running cannot be alive anywhere.
OVERDUE_GRACE = timedelta(seconds=60)


class ExpressRunner:
    def __init__(
        self,
        registry: ActivityRegistry,
        sessions: async_sessionmaker[AsyncSession],
        *,
        name: str,
        max_duration: float,
    ) -> None:
        self._registry = registry
        self._sessions = sessions
        self.name = name
        self._max_duration = max_duration
        self._runs: dict[str, asyncio.Task[RunResult]] = {}
        self._answers: dict[str, asyncio.Future[RunResult]] = {}

    # --- starting and waiting -----------------------------------------------------------

    def start(self, run: RunInput) -> None:
        """Run ``run`` (its row exists, ``express_runner`` is this runner) in the background."""
        if run.execution_id in self._runs:
            return
        answer: asyncio.Future[RunResult] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(self.run(run, answer), name=f"express {run.execution_id}")
        self._runs[run.execution_id] = task
        self._answers[run.execution_id] = answer

        def forget(_: object) -> None:
            self._runs.pop(run.execution_id, None)
            self._answers.pop(run.execution_id, None)

        task.add_done_callback(forget)

    def running(self, execution_id: str) -> bool:
        return execution_id in self._runs

    def alive(self) -> Collection[str]:
        return list(self._runs)

    def unstored(self) -> int:
        """Runs whose result is known but whose events are not all stored yet."""
        return sum(1 for answer in self._answers.values() if answer.done())

    async def result(
        self, execution_id: str, timeout: float, *, stored: bool = True
    ) -> RunResult | None:
        """The run's result, or None if it is not running here or not done in ``timeout``.

        With ``stored`` (a synchronous execute, whose caller may read the execution next)
        once its events are stored; without (a webhook's answer), as soon as it is known.
        """
        task, answer = self._runs.get(execution_id), self._answers.get(execution_id)
        if task is None or answer is None:
            return None
        if self.unstored() >= MAX_UNSTORED:
            stored = True  # the recorder is behind: answering sooner would only grow its queue
        waited: asyncio.Future[RunResult] = task if stored else answer
        try:
            async with asyncio.timeout(timeout):
                return await asyncio.shield(waited)
        except TimeoutError:
            return None

    async def run(
        self, run: RunInput, answer: asyncio.Future[RunResult] | None = None
    ) -> RunResult:
        """Run to the end within the maximum duration; never raises for the run's failure.

        ``answer`` gets the result as soon as it is known; the run's events are stored
        when this returns.
        """
        runtime = self._runtime(run)
        interpreter = HeadraceRun.in_runtime(runtime)
        ended: tuple[str, str] | None = None
        try:
            async with asyncio.timeout(self._max_duration):
                result = await interpreter.run(run)
        except ApplicationError as failure:  # the run failed: its events say so already
            result = RunResult(status="failed", error=str(failure))
        except TimeoutError:
            error = f"ExpressTimeout: the run took longer than {self._max_duration:g}s"
            result, ended = RunResult(status="failed", error=error), ("execution.failed", error)
        except asyncio.CancelledError:
            await asyncio.shield(self._end(runtime, run, "execution.failed", INTERRUPTED))
            raise
        except Exception as exc:  # a defect: the row must not stay running
            logger.exception("express run %s broke", run.execution_id)
            error = f"{type(exc).__name__}: {exc}"
            result, ended = RunResult(status="failed", error=error), ("execution.failed", error)
        if answer is not None and not answer.done():
            answer.set_result(result)
        if ended is not None:
            await self._end(runtime, run, *ended)
        else:
            await runtime.drain()
        return result

    async def _end(self, runtime: ExpressRuntime, run: RunInput, kind: str, error: str) -> None:
        """After the run's own events (so this one is the last word on its status)."""
        await runtime.drain()
        await self._record_end(run, kind, error)

    async def _run_child(self, child: RunInput) -> RunResult:
        """A child run (a ``workflow`` step, a loop's chunk): its own row, in this task.

        A child definition with steps that wait cannot run here (nothing would answer
        them): the step fails at once, as ``ExpressChildRefused``.
        """
        raw = child.definition.model_dump(mode="json", by_alias=True, exclude_none=True)
        problems = express_problems({**raw, "execution_mode": "express"})
        if problems:
            first = problems[0]
            raise ApplicationError(
                f"workflow {child.workflow_id} cannot run inside an express run: "
                f"{first.pointer}: {first.message}",
                type="ExpressChildRefused",
                non_retryable=True,
            )
        await self._add_row(child)
        interpreter = HeadraceRun.in_runtime(self._runtime(child))
        result: RunResult = await interpreter.run(child)
        return result

    def _runtime(self, run: RunInput) -> ExpressRuntime:
        return ExpressRuntime(self._registry, run_id=run.execution_id, run_child=self._run_child)

    # --- the rows -----------------------------------------------------------------------

    async def _add_row(self, run: RunInput) -> None:
        async with self._sessions() as session, session.begin():
            session.add(
                Execution(
                    id=uuid.UUID(run.execution_id),
                    workflow_id=uuid.UUID(run.workflow_id),
                    version=run.version,
                    status="pending",
                    input_data=run.input,
                    variables=run.variables,
                    temporal_workflow_id=run.execution_id,
                    trigger_type=run.trigger_type,
                    created_by=uuid.UUID(run.created_by) if run.created_by else None,
                    parent_execution_id=(
                        uuid.UUID(run.parent_execution_id) if run.parent_execution_id else None
                    ),
                    execution_mode="express",
                    express_runner=self.name,
                )
            )

    async def _record_end(self, run: RunInput, kind: str, error: str) -> None:
        event = EventRecord(
            type=kind,
            dedupe_key=f"express:{kind}",
            level="error",
            data={"error": error},
            ts=datetime.now(UTC),
        )
        try:
            await self._registry.recorder.record(run.execution_id, [event])
        except Exception:  # the next start of this process marks it interrupted
            logger.warning("could not record the end of %s", run.execution_id, exc_info=True)

    async def close(self) -> None:
        """Stop: runs still going are cancelled and recorded as interrupted."""
        tasks = list(self._runs.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._registry.code.close()


async def mark_interrupted(
    sessions: async_sessionmaker[AsyncSession],
    name: str | None,
    max_duration: float,
    alive: Collection[str] = (),
) -> int:
    """Fail the unfinished express runs recorded under ``name`` (a previous life of this
    process died with them; None: no name) and those overdue anywhere (past the maximum
    duration, no runner can still hold them); how many. ``alive`` are runs this process is
    running. At a process's start with its name; by every API sweep without."""
    now = datetime.now(UTC)
    overdue = now - timedelta(seconds=max_duration) - OVERDUE_GRACE
    mine = Execution.express_runner == name if name is not None else false()
    async with sessions() as session, session.begin():
        found = (
            await session.scalars(
                select(Execution.id).where(
                    Execution.express_runner.is_not(None),
                    Execution.status.in_(UNFINISHED),
                    mine | (Execution.created_at < overdue),
                )
            )
        ).all()
        ids = [i for i in found if str(i) not in alive]
        if ids:
            await session.execute(
                update(Execution)
                .where(Execution.id.in_(ids), Execution.status.in_(UNFINISHED))
                .values(status="failed", error_message=INTERRUPTED, completed_at=now)
                .execution_options(synchronize_session=False)
            )
    if ids:
        logger.warning("marked %d unfinished express runs interrupted", len(ids))
    return len(ids)


class ExpressHost:
    """A process's express runner, built at its first run (it needs the Temporal client
    for connection limits) with the worker's resources: SSRF-guarded HTTP client, secret
    vault, object store, code sandbox."""

    def __init__(self, settings: Settings, bus: EventSink | None = None) -> None:
        self._settings = settings
        self._bus = bus
        self._runner: ExpressRunner | None = None
        self._stack = AsyncExitStack()
        self._lock = asyncio.Lock()

    async def runner(self, client: Client) -> ExpressRunner:
        if self._runner is not None:
            return self._runner
        async with self._lock:
            if self._runner is None:
                resources = await self._stack.enter_async_context(
                    worker_resources(self._settings, self._bus)
                )
                self._runner = ExpressRunner(
                    build_registry(client, resources),
                    resources.sessions,
                    name=self._settings.express_runner,
                    max_duration=self._settings.express_max_duration,
                )
            return self._runner

    def alive(self) -> Collection[str]:
        """The runs this process is running now."""
        return self._runner.alive() if self._runner is not None else ()

    def running(self, execution_id: str) -> ExpressRunner | None:
        runner = self._runner
        return runner if runner is not None and runner.running(execution_id) else None

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.close()
        await self._stack.aclose()


# Apps built with the same settings object (a test's second app, a replica in one process)
# share one host: its runner name is theirs alike, so a second app's start must neither mark
# the first's runs interrupted nor, at its end, take the host from under it.
_HOSTS: dict[int, tuple[ExpressHost, int]] = {}


def host_for(settings: Settings) -> ExpressHost | None:
    """The host the app built with these settings (see :func:`express_host`)."""
    entry = _HOSTS.get(id(settings))
    return entry[0] if entry is not None else None


def runner_of(execution_id: str) -> ExpressRunner | None:
    """The runner of this process that is running ``execution_id``, if one is."""
    for host, _ in _HOSTS.values():
        runner = host.running(execution_id)
        if runner is not None:
            return runner
    return None


@asynccontextmanager
async def express_host(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], bus: EventSink | None = None
) -> AsyncIterator[ExpressHost]:
    """For an app's lifespan: unfinished runs of this runner's name are marked interrupted
    first; runs still going at the end are cancelled and recorded as interrupted."""
    key = id(settings)
    entry = _HOSTS.get(key)
    if entry is None:
        try:
            await mark_interrupted(sessions, settings.express_runner, settings.express_max_duration)
        except SQLAlchemyError as exc:  # the app still starts (and says it is not ready);
            # the API's sweep fails those runs once they are overdue
            logger.warning(
                "express: could not mark this runner's unfinished runs interrupted (%s)",
                type(exc).__name__,
            )
        entry = (ExpressHost(settings, bus), 0)
    host, users = entry
    _HOSTS[key] = (host, users + 1)
    try:
        yield host
    finally:
        host, users = _HOSTS[key]
        if users > 1:
            _HOSTS[key] = (host, users - 1)
        else:
            del _HOSTS[key]
            await host.close()
