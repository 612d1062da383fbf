"""Starting runs and reading them back.

Why one module of this length: the start path and the outbox (pending rows started later by
the sweeper or a retry) share one ``RunInput`` builder and one way to start, so a run is
started the same way whoever starts it.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from secrets import token_hex
from typing import Any
from urllib.parse import quote

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.errors import (
    HeadraceError,
    InvalidInput,
    ProblemDetail,
    RateLimited,
    UpstreamUnavailable,
)
from api.metrics import count_deferred_start, count_pending_started
from api.schemas.executions import ExecuteResult, ExecutionPublic, StepPublic
from api.services.concurrency import claim_start_permit
from api.services.limits import run_limits
from api.services.workflows import check_definition, workflow_version
from api.temporal_client import connect_failed
from core.logging_config import request_memo
from core.settings import Settings
from db.execution_projection import TERMINAL
from db.models import Execution, Workflow, WorkflowVersion
from db.repositories.executions import ExecutionRepository
from express.runner import host_for, runner_of
from temporal_workflows.definition import WorkflowDefinition
from temporal_workflows.run_types import INTERPRETER_WORKFLOW, RunInput, RunLimits, RunResult
from temporal_workflows.validation import validate_input
from temporal_workflows.visibility import (
    WORKFLOW_ID,
    WORKFLOW_NAME,
    missing_registration_hint,
    run_details,
    run_search_attributes,
    run_summary,
)

logger = logging.getLogger(__name__)

_TEMPORAL_TERMINAL = {
    WorkflowExecutionStatus.COMPLETED: "completed",
    WorkflowExecutionStatus.FAILED: "failed",
    WorkflowExecutionStatus.CANCELED: "cancelled",
    WorkflowExecutionStatus.TERMINATED: "failed",
    WorkflowExecutionStatus.TIMED_OUT: "failed",
}


@dataclass(frozen=True)
class Redrive:
    retry_of: uuid.UUID
    reused_outputs: dict[str, Any] = field(default_factory=dict)


# Starts whose caller waits for the answer: a `cancel_newest` refusal is their 409. Other
# starts (webhooks, schedules) are recorded, and the refused run ends cancelled.
API_TRIGGERS = frozenset({"manual", "retry"})

# A non-terminal row older than this is checked against Temporal when it is read.
STALE_AFTER = timedelta(seconds=5)
# Validated definitions kept in-process (a 50-step one takes ~1 ms to validate).
VALIDATED_VERSIONS = 256


class DefinitionCache:
    """Validated definitions by (workflow id, version number), the least recently used out.

    Version rows never change (an edit makes a new version), so the pair names one
    definition for good: a start that finds its version here reads no version row (and
    decodes no definition JSON) at all. Entries are shared between runs; each is a frozen
    model that nothing mutates.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.hits = 0
        self._entries: OrderedDict[tuple[uuid.UUID, int], WorkflowDefinition] = OrderedDict()

    def get(self, workflow_id: uuid.UUID, number: int) -> WorkflowDefinition | None:
        found = self._entries.get((workflow_id, number))
        if found is not None:
            self.hits += 1
            self._entries.move_to_end((workflow_id, number))
        return found

    def validated(self, version: WorkflowVersion) -> WorkflowDefinition:
        """The version's definition, validated on the first call (a refusal is not kept)."""
        found = self.get(version.workflow_id, version.version)
        if found is None:
            found = check_definition(version.definition)
            self._entries[(version.workflow_id, version.version)] = found
            if len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return found


definitions = DefinitionCache(VALIDATED_VERSIONS)


def validated_definition(version: WorkflowVersion) -> WorkflowDefinition:
    """The version's definition, validated once per process (webhooks start runs often)."""
    return definitions.validated(version)


async def run_definition(
    session: AsyncSession, workflow: Workflow, number: int | None
) -> tuple[int, WorkflowDefinition]:
    """The version number a start runs (default: the current one) and its definition."""
    number = workflow.version if number is None else number
    found = definitions.get(workflow.id, number)
    if found is None:
        found = validated_definition(await workflow_version(session, workflow, number))
    return number, found


async def start_execution(
    session: AsyncSession,
    client: Client,
    settings: Settings,
    started_by: uuid.UUID,
    workflow: Workflow,
    *,
    input_data: Any,
    variables: dict[str, Any],
    trigger_type: str = "manual",
    trigger_id: uuid.UUID | None = None,
    execution_id: uuid.UUID | None = None,
    version_number: int | None = None,
    redrive: Redrive | None = None,
) -> Execution:
    """Validate the input, record the execution, then start its Temporal run.

    The committed ``pending`` row is the run's outbox: if Temporal does not take the run
    (down, or too slow), the row stays ``pending`` and :func:`sweep_pending` (or the
    caller's retry of an idempotent call) starts it later. :func:`started` tells which.

    ``version_number`` pins a version (default: the current one); ``redrive`` makes it a
    retry of an earlier execution that reuses that one's completed step outputs.
    ``started_by`` is the user the run counts against (HEADRACE_MAX_UNFINISHED_RUNS_PER_USER):
    the caller, or the workflow's owner for webhook runs.

    The API's cost per start (docs/performance.md, start path): the definition comes from
    the process's cache, the quota is one indexed count, the row one Core ``INSERT``, and
    the start one commit.
    """
    version, definition = await run_definition(session, workflow, version_number)
    problems = validate_input(definition, input_data)
    if problems:
        errors = [ProblemDetail(p.pointer, p.message, p.code) for p in problems]
        raise InvalidInput(
            detail="input_data does not match the workflow's input_schema", errors=errors
        )
    await _check_unfinished_runs(session, settings, started_by)
    execution_id = execution_id or uuid.uuid4()
    if trigger_type in API_TRIGGERS:
        await claim_start_permit(
            client,
            settings,
            workflow,
            definition,
            execution_id=execution_id,
            input_data=input_data,
            variables=variables,
        )
    execution = await ExecutionRepository(session).insert_pending(
        id=execution_id,
        temporal_workflow_id=str(execution_id),
        workflow_id=workflow.id,
        version=version,
        input_data=input_data,
        variables=variables,
        created_by=started_by,
        trigger_type=trigger_type,
        trigger_id=trigger_id,
        retry_of=redrive.retry_of if redrive else None,
        reuses_outputs=bool(redrive and redrive.reused_outputs),
        execution_mode=definition.execution_mode,
        express_runner=settings.express_runner if express(definition) else None,
    )
    await session.commit()
    run = _run_input(
        execution,
        workflow,
        definition,
        redrive.reused_outputs if redrive else {},
        run_limits(settings),
        dashboard_url=settings.base_url,
    )
    await _start_run(session, client, settings, execution, run)
    return execution


def started(execution: Execution) -> bool:
    """Whether this process saw Temporal take the execution's run (an express run starts
    in this process: always)."""
    return execution.temporal_run_id is not None or execution.execution_mode == "express"


def express(definition: WorkflowDefinition) -> bool:
    return definition.execution_mode == "express"


def _run_input(
    execution: Execution,
    workflow: Workflow,
    definition: WorkflowDefinition,
    reused_outputs: dict[str, Any],
    limits: RunLimits,
    *,
    dashboard_url: str = "",
) -> RunInput:
    return RunInput(
        execution_id=str(execution.id),
        workflow_id=str(workflow.id),
        version=execution.version,
        definition=definition,
        input=execution.input_data,
        variables={**(workflow.variables or {}), **(execution.variables or {})},
        trigger_type=execution.trigger_type,
        trigger_id=str(execution.trigger_id) if execution.trigger_id else None,
        created_by=str(execution.created_by) if execution.created_by else None,
        reused_outputs=reused_outputs,
        retry_of=str(execution.retry_of) if execution.retry_of else None,
        secret_key=token_hex(16),
        limits=limits,
        workflow_name=workflow.name,
        dashboard_url=dashboard_url,
    )


def completed_outputs(execution: Execution) -> dict[str, Any]:
    """The outputs of the execution's completed steps, by step id (what a redrive reuses)."""
    return {
        step_id: state.get("output")
        for step_id, state in (execution.steps or {}).items()
        if state.get("status") == "completed"
    }


async def start_pending(
    session: AsyncSession, client: Client, settings: Settings, execution: Execution
) -> bool:
    """Start a ``pending`` execution's run from its row; True once Temporal has it.

    Harmless when the run exists: a running one is kept (``USE_EXISTING``), and a closed
    one is never started again (``REJECT_DUPLICATE``), so every path may call this.
    """
    workflow = await session.get(Workflow, execution.workflow_id)
    if workflow is None:  # deleted since: its executions went with it
        return False
    _, definition = await run_definition(session, workflow, execution.version)
    reused: dict[str, Any] = {}
    if execution.retry_of is not None and execution.reuses_outputs:
        original = await session.get(Execution, execution.retry_of)
        reused = completed_outputs(original) if original is not None else {}
    run = _run_input(
        execution,
        workflow,
        definition,
        reused,
        run_limits(settings),
        dashboard_url=settings.base_url,
    )
    return await _start_run(session, client, settings, execution, run)


# Statuses of a start that did not reach Temporal, or may not have: the row stays pending.
_NOT_REACHED = frozenset(
    {
        RPCStatusCode.UNAVAILABLE,
        RPCStatusCode.DEADLINE_EXCEEDED,
        RPCStatusCode.CANCELLED,
        RPCStatusCode.UNKNOWN,
        RPCStatusCode.RESOURCE_EXHAUSTED,
        RPCStatusCode.ABORTED,
        RPCStatusCode.INTERNAL,
    }
)


async def _check_unfinished_runs(
    session: AsyncSession, settings: Settings, user_id: uuid.UUID
) -> None:
    """429 when ``user_id`` already has HEADRACE_MAX_UNFINISHED_RUNS_PER_USER unfinished runs.

    Two starts at the same moment may both pass: the quota bounds load, it is not a lock.
    """
    cap = settings.max_unfinished_runs_per_user
    if await ExecutionRepository(session).count_unfinished_by(user_id) >= cap:
        raise RateLimited(
            detail=f"{cap} runs started by this user (or of their workflows' triggers) have "
            "not finished yet (HEADRACE_MAX_UNFINISHED_RUNS_PER_USER); start more when some end",
            headers={"Retry-After": "10"},
        )


async def _start_run(
    session: AsyncSession, client: Client, settings: Settings, execution: Execution, run: RunInput
) -> bool:
    if execution.execution_mode == "express":
        await _start_express(client, settings, run)
        return True
    timeout = settings.temporal_start_timeout
    try:
        async with asyncio.timeout(timeout + 1):
            handle = await client.start_workflow(
                INTERPRETER_WORKFLOW,
                run,
                id=execution.temporal_workflow_id,
                task_queue=settings.task_queue,
                result_type=RunResult,
                # The workflow id is the execution id: a second start of the same execution
                # (a retry racing the sweeper, two API replicas) joins the first run, and an
                # ended run is never started again.
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                request_eager_start=True,
                rpc_timeout=timedelta(seconds=timeout),
                memo=request_memo(),
                # What the Temporal Web UI lists, filters on and shows in the run's header.
                search_attributes=run_search_attributes(run),
                static_summary=run_summary(run),
                static_details=run_details(run),
            )
    except WorkflowAlreadyStartedError:
        return True  # it ran (and ended) already; its events tell the row
    except (TimeoutError, OSError) as exc:
        _defer(execution, type(exc).__name__)
        return False
    except RuntimeError as exc:
        if not connect_failed(exc):
            raise
        _defer(execution, str(exc))
        return False
    except RPCError as exc:
        if exc.status in _NOT_REACHED:
            _defer(execution, exc.message)
            return False
        execution.status, execution.error_message = "failed", f"could not start: {exc.message}"
        execution.completed_at = datetime.now(UTC)
        await session.commit()
        raise UpstreamUnavailable(detail=f"Temporal refused the run: {refusal(exc)}") from exc
    # Not committed here: the worker stores the run id with the run's first events, so a
    # start costs the API one commit (SQLite has one writer; the worker is busy writing).
    execution.temporal_run_id = handle.first_execution_run_id or handle.result_run_id
    return True


async def _start_express(client: Client, settings: Settings, run: RunInput) -> None:
    """Run it in this process (express/): no Temporal start, no history."""
    host = host_for(settings)
    if host is None:
        raise UpstreamUnavailable(detail="this process does not run express runs")
    runner = await host.runner(client)
    runner.start(run)


async def _wait_express(
    session: AsyncSession, execution: Execution, timeout: float, stored: bool
) -> ExecuteResult:
    runner = runner_of(str(execution.id))
    result = (
        await runner.result(str(execution.id), timeout, stored=stored)
        if runner is not None
        else None
    )
    if result is None:  # still going, or run elsewhere (another replica): the row tells
        await session.refresh(execution)
        if execution.status not in TERMINAL:
            return ExecuteResult(execution_id=execution.id, status="running")
        return ExecuteResult(
            execution_id=execution.id,
            status=execution.status,
            result=execution.output_data,
            error=execution.error_message,
        )
    return ExecuteResult(
        execution_id=execution.id, status=result.status, result=result.output, error=result.error
    )


def refusal(exc: RPCError) -> str:
    """Temporal's reason, with the command to run when the namespace lacks our attributes."""
    return exc.message + missing_registration_hint(exc.message)


def _defer(execution: Execution, reason: str) -> None:
    count_deferred_start()
    logger.warning(
        "Temporal did not take run %s (%s): it stays pending and starts when Temporal is back",
        execution.id,
        reason,
    )


async def sweep_pending(
    sessions: async_sessionmaker[AsyncSession],
    client: Client,
    settings: Settings,
    *,
    batch: int = 100,
) -> int:
    """Start the ``pending`` executions Temporal has not taken for a while; how many.

    Each row is claimed first (its ``updated_at`` moved forward in one conditional
    UPDATE), so of several API replicas sweeping at once one starts it; the others would
    be harmless anyway (see :func:`start_pending`). Stops at the first row Temporal cannot
    take: the next sweep tries again.
    """
    count = 0
    async with sessions() as session:
        cutoff = datetime.now(UTC) - timedelta(seconds=settings.pending_start_after)
        candidates = (
            await session.scalars(
                select(Execution.id)
                .where(
                    Execution.status == "pending",
                    Execution.updated_at < cutoff,
                    Execution.execution_mode == "durable",  # express runs never wait for one
                )
                .order_by(Execution.created_at)
                .limit(batch)
            )
        ).all()
        for execution_id in candidates:
            claim = await session.execute(
                update(Execution)
                .where(
                    Execution.id == execution_id,
                    Execution.status == "pending",
                    Execution.updated_at < cutoff,
                )
                .values(updated_at=datetime.now(UTC))
                .execution_options(synchronize_session=False)
            )
            await session.commit()
            if claim.rowcount != 1:  # type: ignore[attr-defined]
                continue  # another replica has it
            execution = await session.get(Execution, execution_id, populate_existing=True)
            if execution is None or execution.status != "pending":
                continue
            try:
                if not await start_pending(session, client, settings, execution):
                    break  # Temporal is away: the next sweep tries again
            except UpstreamUnavailable:
                continue  # Temporal refused it for good: the row is failed now
            except HeadraceError as exc:  # e.g. its version is gone: it can never start
                await _fail_unstartable(session, execution, exc)
                continue
            count += 1
    if count:
        count_pending_started(count)
    return count


async def _fail_unstartable(
    session: AsyncSession, execution: Execution, exc: HeadraceError
) -> None:
    """Fail a pending row that cannot start (one such row must not stop the sweep)."""
    execution_id = execution.id
    await session.rollback()
    await session.execute(
        update(Execution)
        .where(Execution.id == execution_id, Execution.status == "pending")
        .values(
            status="failed",
            error_message=f"could not start: {exc.detail}",
            completed_at=datetime.now(UTC),
        )
        .execution_options(synchronize_session=False)
    )
    await session.commit()
    logger.warning("sweep: failed pending execution %s: %s", execution_id, exc.detail)


def accepted(execution: Execution) -> ExecuteResult:
    """The answer to a start that does not wait: ``running``, or ``pending`` while the run
    waits in the outbox for Temporal (it starts when Temporal is back)."""
    return ExecuteResult(
        execution_id=execution.id, status="running" if started(execution) else "pending"
    )


async def wait_for_result(
    session: AsyncSession,
    client: Client,
    execution: Execution,
    timeout: float,
    *,
    stored: bool = True,
) -> ExecuteResult:
    """Wait up to ``timeout`` seconds for the run; ``running`` if it is not done by then.

    If Temporal cannot be asked (it went away meanwhile), the row's status is the answer.
    An express run answers once its events are stored, or without ``stored``, as soon as
    its result is known (a webhook's answer: the row follows a few milliseconds later).
    """
    if execution.execution_mode == "express":
        return await _wait_express(session, execution, timeout, stored)
    handle = client.get_workflow_handle(execution.temporal_workflow_id, result_type=RunResult)
    try:
        result = await asyncio.wait_for(handle.result(), timeout)
    except TimeoutError:
        return ExecuteResult(execution_id=execution.id, status="running")
    except WorkflowFailureError:
        pass
    except (RPCError, RuntimeError) as exc:
        if isinstance(exc, RPCError) and exc.status == RPCStatusCode.NOT_FOUND:
            raise
        if isinstance(exc, RuntimeError) and not connect_failed(exc):
            raise
        await session.refresh(execution)
        return ExecuteResult(execution_id=execution.id, status=execution.status)
    else:
        return ExecuteResult(execution_id=execution.id, status=result.status, result=result.output)
    await session.refresh(execution)
    return ExecuteResult(
        execution_id=execution.id,
        status=execution.status,
        error=execution.error_message,
    )


async def reconcile(session: AsyncSession, client: Client, execution: Execution) -> None:
    """Bring a stale, unfinished row in line with Temporal (e.g. a run terminated in its UI)."""
    if execution.status in TERMINAL or datetime.now(UTC) - execution.updated_at < STALE_AFTER:
        return
    if execution.execution_mode == "express":
        return  # no Temporal run: its runner (or its next start) ends the row
    try:
        description = await client.get_workflow_handle(execution.temporal_workflow_id).describe()
    except RPCError:
        return
    status = _TEMPORAL_TERMINAL.get(description.status) if description.status else None
    if status is None:
        return
    await session.refresh(execution)  # the recorder may have finished it meanwhile
    if execution.status not in TERMINAL:
        execution.status = status
        execution.completed_at = description.close_time or datetime.now(UTC)
        execution.error_message = execution.error_message or f"run ended in Temporal: {status}"
        await session.commit()


# Run statuses after which a step that never started reads ``not_run``, not ``pending``.
NOT_RUN_AFTER = ("failed", "cancelled")


def execution_public(
    execution: Execution, definition: dict[str, Any], settings: Settings
) -> ExecutionPublic:
    recorded = execution.steps or {}
    steps = [
        StepPublic(id=s["id"], **_step_fields(recorded.get(s["id"]) or {}))
        for s in definition.get("steps", [])
        if isinstance(s, dict) and "id" in s
    ]
    if execution.status in NOT_RUN_AFTER:
        # A step still pending when the run failed or was cancelled will never run.
        steps = [
            step.model_copy(update={"status": "not_run"}) if step.status == "pending" else step
            for step in steps
        ]
    base = ExecutionPublic.model_validate(
        {
            **_columns(execution),
            "steps": steps,
            # An express run has no Temporal run to show.
            "temporal_ui_url": ""
            if execution.execution_mode == "express"
            else temporal_ui_url(
                settings, execution.temporal_workflow_id, execution.temporal_run_id
            ),
        }
    )
    return base


def _step_fields(recorded: dict[str, Any]) -> dict[str, Any]:
    fields = (
        "status",
        "attempts",
        "started_at",
        "completed_at",
        "output",
        "error",
        "reason",
        "compensation",
    )
    values = {k: recorded[k] for k in fields if k in recorded}
    values.setdefault("status", "pending")
    return values


def _columns(execution: Execution) -> dict[str, Any]:
    return {
        c: getattr(execution, c)
        for c in (
            "id",
            "workflow_id",
            "version",
            "status",
            "trigger_type",
            "trigger_id",
            "parent_execution_id",
            "retry_of",
            "execution_mode",
            "error_message",
            "started_at",
            "completed_at",
            "created_at",
            "input_data",
            "output_data",
            "temporal_workflow_id",
            "temporal_run_id",
        )
    }


def visibility_literal(text: str) -> str:
    """``text`` as a string in a Temporal list filter (SQL-like: a quote is doubled)."""
    return "'" + text.replace("'", "''") + "'"


def temporal_runs_url(settings: Settings, workflow_id: str, workflow_name: str) -> str:
    """The Temporal Web UI's list of a workflow's runs, filtered by HeadraceWorkflowName
    (by HeadraceWorkflowId for a name with a double quote, which the dev server's SQLite
    visibility store never matches, however it is quoted)."""
    if '"' in workflow_name:
        query = f"{WORKFLOW_ID.name} = {visibility_literal(workflow_id)}"
    else:
        query = f"{WORKFLOW_NAME.name} = {visibility_literal(workflow_name)}"
    return (
        f"{settings.temporal_ui_base}/namespaces/{settings.temporal_namespace}/workflows"
        f"?query={quote(query, safe='')}"
    )


def temporal_ui_url(settings: Settings, workflow_id: str, run_id: str | None) -> str:
    base = f"{settings.temporal_ui_base}/namespaces/{settings.temporal_namespace}/workflows/"
    return base + workflow_id + (f"/{run_id}/history" if run_id else "")
