"""The interpreter: one generic Temporal workflow that runs any validated definition.

Each step is a task that waits for its dependencies, decides whether to run (``when``, or
"all dependencies completed"), then runs: pure steps in the workflow itself, I/O steps as
activities named after the step. A failing step with ``on_error: fail`` cancels its running
siblings (a TaskGroup) and fails the run; ``continue`` lets the run go on.

How each step type runs is in ``step_runners.py``; how a step repeats (``foreach``,
``until``, and their child runs for long loops) in ``loops.py``: both are mixins of
:class:`HeadraceRun`, which owns the run's state.
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from temporal_workflows.clock import iso
    from temporal_workflows.concurrency import (
        ANSWER_SIGNAL,
        ASK_BY_SIGNAL,
        GRANTED_SIGNAL,
        REFUSED_MESSAGE,
        Permit,
        PermitAnswer,
        group_id,
    )
    from temporal_workflows.controls import ParkingLot, PauseGate
    from temporal_workflows.definition import StepDefinition, WorkflowDefinition
    from temporal_workflows.expressions import (
        MAX_WORK,
        ExpressionError,
        build_context,
        evaluate,
        evaluate_condition,
    )
    from temporal_workflows.joins import DEFAULT_JOIN, join_blocker
    from temporal_workflows.loops import StepLoops
    from temporal_workflows.run_types import (
        INTERPRETER_WORKFLOW,
        ApprovalDecision,
        EventDelivery,
        RunControl,
        RunInput,
        RunResult,
        RunSnapshot,
        StepOutcome,
        StepResolution,
        StepState,
        UntilSegmentResult,
    )
    from temporal_workflows.runtime import Emitter, Runtime, TemporalRuntime
    from temporal_workflows.step_runners import StepError, StepRunners
    from temporal_workflows.step_types import templated_with
    from temporal_workflows.visibility import RUN_VISIBILITY, state_update
    from temporal_workflows.waits import Waits

# workflow.patched ids: each marks an interpreter change that running workflows must not see.
ACTIVITY_SIDE_STEP_EVENTS = "activity-side-step-events"
CANCELLED_RUNS_CLOSE = "cancelled-runs-close"
# Each evaluation has a budget of work, and going over it fails the step as
# ExpressionLimitExceeded (runs recorded before evaluate without a budget, as they did).
EXPRESSION_BUDGET = "expression-budget"
# Comparing a missing value or testing it for truth is an error (it was equal to nothing
# and false), and steps run by their `join` rule, skipped ones saying why.
STRICT_MISSING_VALUES = "strict-missing-values"
JOIN_RULES = "join-rules"
# Templates see `execution.started_at`, `trigger` and `now()`.
EXECUTION_CLOCK = "execution-clock"
# Runs of a definition with `concurrency` hold a permit of their group while they run
# (temporal_workflows/concurrency.py). Only asked for such definitions, so other runs'
# histories do not change.
CONCURRENCY_LIMITS = "concurrency-limits"
SELF_RECORDING_TYPES = frozenset({"http"})


class RunFailed(Exception):
    def __init__(self, step_id: str, message: str) -> None:
        super().__init__(f"step {step_id} failed: {message}")
        self.step_id = step_id


# Outside Temporal's sandbox: re-creating it for every run was about a third of the worker's
# CPU per run (docs/performance.md). This is our code, not the user's, and it keeps
# deterministic by other means: ruff refuses clocks, randomness and I/O in this package
# (pyproject's banned-api list), no module-level state changes after import, and every
# committed history is replayed (tests/workflows/test_replay.py).
@workflow.defn(name=INTERPRETER_WORKFLOW, sandboxed=False)
class HeadraceRun(StepRunners, StepLoops):
    def __init__(self) -> None:
        self._setup(TemporalRuntime())

    @classmethod
    def in_runtime(cls, runtime: Runtime) -> HeadraceRun:
        """An interpreter that runs outside Temporal (``express.runtime``), same semantics."""
        run = cls.__new__(cls)
        run._setup(runtime)
        return run

    def _setup(self, runtime: Runtime) -> None:
        self._rt = runtime
        self._status = "pending"
        self._steps: dict[str, StepState] = {}
        self._ended: dict[str, asyncio.Event] = {}
        self._waits = Waits(runtime)
        self._emitter: Emitter | None = None
        self._aborting = False
        self._activity_events = False
        self._budget: int | None = None
        self._strict = False
        self._joins = False
        self._clock = False
        self._types: dict[str, str] = {}
        self._outcomes: dict[str, StepOutcome] = {}
        self._gate = PauseGate(runtime)
        self._parking = ParkingLot(runtime)
        self._completed_order: list[str] = []
        self._compensating = False
        self._segment_result: UntilSegmentResult | None = None
        self._visible = False
        self._permit: Permit | None = None

    # --- queries and updates -----------------------------------------------------------

    @workflow.query
    def state(self) -> RunSnapshot:
        return RunSnapshot(
            status=self._status,
            steps=self._steps,
            waiting_for=self._waits.describe(),
            paused=self._gate.paused,
            parked=self._parking.describe(),
            concurrency_group=self._permit.request.group if self._permit is not None else None,
        )

    @workflow.update(name="pause")
    def pause(self, control: RunControl) -> str:
        self._gate.paused = True
        self._status = "paused"
        self._show_state("paused")
        self._emit_run_event("execution.paused", {"by": control.by})
        return "paused"

    @pause.validator
    def _check_pause(self, control: RunControl) -> None:
        self._gate.check_pause()

    @workflow.update(name="resume")
    def resume(self, control: RunControl) -> str:
        self._gate.paused = False
        self._status = "running"
        self._show_state("waiting" if self._parking.describe() else "running")
        self._emit_run_event("execution.resumed", {"by": control.by})
        return "running"

    @resume.validator
    def _check_resume(self, control: RunControl) -> None:
        self._gate.check_resume()

    @workflow.update(name="resolve_step")
    def resolve_step(self, resolution: StepResolution) -> str:
        return self._parking.resolve(resolution)

    @resolve_step.validator
    def _check_resolution(self, resolution: StepResolution) -> None:
        self._parking.check(resolution)

    def _show_state(self, state: str) -> None:
        """Keep the run's ``HeadraceState`` search attribute current (for the Web UI)."""
        if self._visible:
            self._rt.upsert_search_attributes(state_update(state))

    def _emit_run_event(self, type_: str, data: dict[str, Any]) -> None:
        if self._emitter is not None:
            self._emitter.emit(type_, data=data)

    @workflow.update(name="deliver_event")
    def deliver_event(self, delivery: EventDelivery) -> str:
        return self._waits.deliver(delivery)

    @deliver_event.validator
    def _check_event(self, delivery: EventDelivery) -> None:
        if self._waits.event_waiter(delivery.name) is None:
            raise ValueError(f"no step is waiting for event {delivery.name!r}")

    @workflow.update(name="decide_approval")
    def decide_approval(self, decision: ApprovalDecision) -> str:
        return self._waits.decide(decision)

    @decide_approval.validator
    def _check_approval(self, decision: ApprovalDecision) -> None:
        if self._waits.approval_waiter(decision.step_id) is None:
            raise ValueError("no step is waiting for an approval")

    @workflow.signal(name=GRANTED_SIGNAL)
    def permit_granted(self) -> None:
        """The run's concurrency group has a permit for it (it waited in the queue)."""
        if self._permit is not None:
            self._permit.granted = True

    @workflow.signal(name=ANSWER_SIGNAL)
    def permit_answer(self, answer: PermitAnswer) -> None:
        """The run's concurrency group answers its ask: granted, queued or refused."""
        if self._permit is not None:
            self._permit.answered(answer)

    # --- the run -----------------------------------------------------------------------

    @workflow.run
    async def run(self, run: RunInput) -> RunResult:
        self._run = run
        self._vars = {**run.definition.variables, **run.variables}
        self._steps = {s.id: StepState() for s in run.definition.steps}
        self._ended = {s.id: asyncio.Event() for s in run.definition.steps}
        self._types = {s.id: s.type for s in run.definition.steps}
        self._emitter = self._rt.event_emitter(run)
        self._emitter.start()
        # Plain I/O steps record their own start/completion (no local activity per step).
        self._activity_events = self._rt.patched(ACTIVITY_SIDE_STEP_EVENTS)
        self._budget = MAX_WORK if self._rt.patched(EXPRESSION_BUDGET) else None
        self._strict = self._rt.patched(STRICT_MISSING_VALUES)
        self._joins = self._rt.patched(JOIN_RULES)
        self._clock = self._rt.patched(EXECUTION_CLOCK)
        self._visible = self._rt.patched(RUN_VISIBILITY)
        if not self._limited(run):
            return await self._run_steps(run)
        refused = await self._admit(run)
        if refused is not None:
            return refused
        try:
            return await self._run_steps(run)
        finally:
            assert self._permit is not None
            await self._permit.release()

    def _limited(self, run: RunInput) -> bool:
        """Whether this run counts against its workflow's concurrency limit.

        Only runs a trigger started do: chunk, segment and child runs belong to a run that
        already holds a permit (a child waiting for its parent's permit would deadlock).
        """
        return (
            run.definition.concurrency is not None
            and run.parent_execution_id is None
            and run.foreach_items is None
            and run.until_segment is None
            and self._rt.patched(CONCURRENCY_LIMITS)
        )

    async def _admit(self, run: RunInput) -> RunResult | None:
        """Wait for a permit of the run's group (``queued`` meanwhile); the refusal, if any."""
        spec = run.definition.concurrency
        assert spec is not None
        try:
            group = group_id(run.workflow_id, spec, self._context())
        except ExpressionError as exc:
            await self._finish("failed", error=f"concurrency key: {exc}")
            raise ApplicationError(str(exc), type="RunFailed", non_retryable=True) from None
        holder = self._rt.run_id()
        self._permit = permit = Permit(holder, spec, group, run.limits.concurrency_reclaim_seconds)
        try:
            # By signal: a burst of runs asking one group by Update hit Temporal's cap of 10
            # Updates in flight per workflow (docs/architecture.md#concurrency-limits).
            by_signal = self._rt.patched(ASK_BY_SIGNAL)
            answer = await (permit.ask_by_signal() if by_signal else permit.ask())
            if answer.outcome == "queued":
                self._status = "queued"
                self._emit_run_event("execution.queued", {"position": answer.position})
                await permit.wait()
        except asyncio.CancelledError:
            await permit.release()  # leaves the queue
            await self._finish("cancelled", error="cancelled")
            raise
        if answer.outcome == "refused":
            await self._finish("cancelled", error=REFUSED_MESSAGE)
            return RunResult(status="cancelled", error=REFUSED_MESSAGE)
        return None

    async def _run_steps(self, run: RunInput) -> RunResult:
        emitter = self._emitter
        assert emitter is not None
        self._status = "running"
        emitter.emit("execution.started", data={"input": run.input, "version": run.version})
        try:
            async with asyncio.TaskGroup() as group:
                for step in run.definition.steps:
                    group.create_task(self._run_node(step))
            output = self._final_output(run.definition)
            if self._segment_result is not None:  # this run is one segment of an until loop
                output = self._segment_result.model_dump()
        except* RunFailed as failure:
            first = failure.exceptions[0]
            await self._compensate()
            await self._finish("failed", error=str(first))
            raise ApplicationError(str(first), type="RunFailed", non_retryable=True) from None
        except* asyncio.CancelledError:
            await self._compensate()
            await self._finish("cancelled", error="cancelled")
            # Re-raised bare, the group is no CancelledError to the SDK: the run stayed open.
            if self._rt.patched(CANCELLED_RUNS_CLOSE):
                raise asyncio.CancelledError() from None
            raise
        await self._finish("completed", output=output)
        return RunResult(status="completed", output=output)

    async def _finish(self, status: str, *, output: Any = None, error: str | None = None) -> None:
        assert self._emitter is not None
        self._status = status
        data = {"output": output} if status == "completed" else {"error": error}
        self._emitter.emit(
            f"execution.{status}", data=data, level="error" if status == "failed" else "info"
        )
        await self._emitter.close()

    def _final_output(self, definition: WorkflowDefinition) -> Any:
        if definition.output is None:
            return {sid: s.output for sid, s in self._steps.items() if s.status == "completed"}
        try:
            return evaluate(
                definition.output,
                self._context(),
                location="output",
                budget=self._budget,
                strict=self._strict,
            )
        except ExpressionError as exc:
            raise RunFailed("output", str(exc)) from exc

    def _context(self, **extra: Any) -> dict[str, Any]:
        steps = {
            **self._run.context_steps,
            **{
                sid: {"output": s.output, "status": s.status, "error": s.error}
                | ({"reason": s.reason} if self._joins else {})
                for sid, s in self._steps.items()
            },
        }
        return build_context(
            input=self._run.input,
            vars=self._vars,
            steps=steps,
            execution_id=self._run.context_execution_id or self._run.execution_id,
            workflow_id=self._run.workflow_id,
            secret_key=self._run.secret_key,
            **self._clock_context(),
            **extra,
        )

    def _clock_context(self) -> dict[str, Any]:
        """``execution.started_at``, ``trigger`` and ``now()``: all from the run's history
        (its start, its input, ``workflow.now()``), so a replay sees the same times."""
        if not self._clock:
            return {}
        run = self._run
        trigger = run.context_trigger or {
            "type": run.trigger_type,
            "id": run.trigger_id,
            "scheduled_at": iso(run.scheduled_at) if run.scheduled_at else None,
        }
        return {
            "started_at": run.context_started_at or iso(self._rt.start_time()),
            "trigger": trigger,
            "now": self._now_iso,
        }

    def _now_iso(self) -> str:
        """``now()`` in templates: the run's deterministic clock, as ISO 8601 UTC."""
        return iso(self._rt.now())

    # --- one node of the DAG ------------------------------------------------------------

    async def _run_node(self, step: StepDefinition) -> None:
        for dependency in step.depends_on:
            await self._ended[dependency].wait()
        if self._aborting:
            return
        if step.id in self._run.reused_outputs:
            self._mark(step.id, "completed", output=self._run.reused_outputs[step.id])
            self._ended[step.id].set()
            return
        await self._gate.wait_open()
        try:
            reason = self._skip_reason(step)
            if reason is None:
                await self._run_step(step)
            else:
                self._mark(step.id, "skipped", reason=reason or None)
        except StepError as error:  # `when` itself could not be evaluated
            self._fail_step(step, error)
        finally:
            self._ended[step.id].set()

    def _skip_reason(self, step: StepDefinition) -> str | None:
        """None if the step runs, else why it is skipped ("" in runs recorded before reasons).

        The ``join`` rule decides first; a ``when`` without ``join`` decides alone, as it
        did before joins existed.
        """
        if not self._joins:
            if step.when is None:
                ran = all(self._steps[d].status == "completed" for d in step.depends_on)
                return None if ran else ""
            return None if self._when_holds(step) else ""
        if step.join is not None or step.when is None:
            statuses = {d: self._steps[d].status for d in step.depends_on}
            blocked = join_blocker(step.join or DEFAULT_JOIN, statuses)
            if blocked is not None:
                return blocked
        if step.when is not None and not self._when_holds(step):
            return "skipped because its when was false"
        return None

    def _when_holds(self, step: StepDefinition) -> bool:
        assert step.when is not None
        try:
            return evaluate_condition(
                step.when,
                self._context(),
                location=f"steps.{step.id}.when",
                budget=self._budget,
                strict=self._strict,
            )
        except ExpressionError as exc:
            raise self._expression_failed(exc) from exc

    async def _run_step(self, step: StepDefinition) -> None:
        own_events = self._records_own_lifecycle(step)
        self._mark(step.id, "running", attempts=1, emit=not own_events)
        try:
            output = await self._execute_or_park(step, own_events)
        except StepError as error:
            self._fail_step(step, error)
            return
        outcome = self._outcomes.pop(step.id, None) if own_events else None
        if outcome is not None and not outcome.started_recorded:
            self._emit_step_event(step.id, "step.started", {})
        self._mark(
            step.id,
            "completed",
            output=output,
            emit=outcome is None or not outcome.completed_recorded,
        )

    async def _execute_or_park(self, step: StepDefinition, own_events: bool) -> Any:
        """Run the step; with ``on_error: park`` a failure waits for an operator's decision."""
        while True:
            try:
                return await self._execute(step)
            except StepError as error:
                if step.on_error != "park":
                    raise
                resolution = await self._park(step, error)
            if resolution.action == "skip":
                return resolution.output
            if resolution.action == "abort":
                raise StepError(f"aborted by {resolution.by}", "Aborted", fatal=True)
            if resolution.with_ is not None:
                step = step.model_copy(update={"with_": {**step.with_, **resolution.with_}})
            attempts = self._steps[step.id].attempts + 1
            self._mark(step.id, "running", attempts=attempts, emit=not own_events)

    async def _park(self, step: StepDefinition, error: StepError) -> StepResolution:
        """Record the failure, then wait for an operator: retry, skip or abort."""
        self._mark(
            step.id,
            "failed",
            error=str(error),
            attempts=error.attempts,
            error_type=error.error_type,
        )
        self._mark(step.id, "waiting", error=str(error))
        if not self._gate.paused:
            self._show_state("waiting")
        resolution = await self._parking.wait(step.id, str(error))
        if not self._gate.paused and len(self._parking.describe()) == 0:
            self._show_state("running")
        self._emit_step_event(
            step.id, "step.resolved", {"action": resolution.action, "by": resolution.by}
        )
        return resolution

    async def _compensate(self) -> None:
        """Saga: undo completed steps that define `compensate`, newest completion first."""
        self._compensating = True
        steps = self._run.definition.step_map()
        for step_id in reversed(self._completed_order):
            action = steps[step_id].compensate
            if action is None:
                continue
            undo = StepDefinition.model_validate(
                {
                    "id": step_id,
                    "type": action.type,
                    "with": action.with_,
                    "retry": action.retry,
                    "timeout": action.timeout,
                }
            )
            try:
                result = await self._call(undo, self._context())
            except StepError as error:
                self._emit_step_event(step_id, "step.compensation_failed", {"error": str(error)})
            else:
                self._emit_step_event(step_id, "step.compensated", {"output": result})

    def _records_own_lifecycle(self, step: StepDefinition) -> bool:
        """A plain I/O step (one activity call) whose activity records start and completion."""
        return (
            not self._compensating
            and self._activity_events
            and step.type in SELF_RECORDING_TYPES
            and step.foreach is None
            and step.until is None
        )

    def _fail_step(self, step: StepDefinition, error: StepError) -> None:
        fails_run = step.on_error == "fail" or error.fatal
        if fails_run:
            self._aborting = True  # dependents must not start (or be skipped) meanwhile
        self._mark(
            step.id,
            "failed",
            error=str(error),
            attempts=error.attempts,
            error_type=error.error_type,
        )
        if fails_run:
            raise RunFailed(step.id, str(error))

    def _mark(
        self,
        step_id: str,
        status: str,
        *,
        output: Any = None,
        error: str | None = None,
        attempts: int | None = None,
        error_type: str | None = None,
        reason: str | None = None,
        emit: bool = True,
    ) -> None:
        state = self._steps[step_id]
        state.status = status  # type: ignore[assignment]
        now = self._rt.now()
        if attempts is not None:
            state.attempts = max(state.attempts, attempts)
        if status == "completed":
            self._completed_order.append(step_id)
        if status == "running":
            state.started_at = now
        elif status in ("completed", "failed", "skipped"):
            state.completed_at = now
        state.output, state.error, state.reason = output, error, reason
        data: dict[str, Any] = {}
        if reason is not None:
            data["reason"] = reason
        if status == "completed":
            data["output"] = output
        if error is not None:
            data["error"], data["error_type"] = error, error_type
        if status in ("completed", "failed") and state.started_at is not None:
            data["duration_seconds"] = (now - state.started_at).total_seconds()
        event = {"running": "step.started", "waiting": "execution.waiting"}.get(
            status, f"step.{status}"
        )
        if emit:
            self._emit_step_event(step_id, event, data)

    def _emit_step_event(self, step_id: str, event: str, data: dict[str, Any]) -> None:
        assert self._emitter is not None
        self._emitter.emit(
            event,
            step_id=step_id,
            attempt=self._steps[step_id].attempts or None,
            data={**data, "step_type": self._types[step_id]},
            level="error" if event == "step.failed" else "info",
        )

    # --- evaluating and calling a step --------------------------------------------------

    def _evaluate(
        self, step: StepDefinition, value: Any, field: str, context: dict[str, Any]
    ) -> Any:
        try:
            return evaluate(
                value,
                context,
                location=f"steps.{step.id}.{field}",
                budget=self._budget,
                strict=self._strict,
            )
        except ExpressionError as exc:
            raise self._expression_failed(exc) from exc

    def _expression_failed(self, exc: ExpressionError) -> StepError:
        """The step failure of an expression error: ``ExpressionLimitExceeded`` for a bomb."""
        return StepError(str(exc), exc.error_type if self._budget else "ExpressionError")

    async def _call(self, step: StepDefinition, context: dict[str, Any]) -> Any:
        if not self._compensating:
            await self._gate.wait_open()  # foreach items and until iterations too
        # A code step's script is text, not a template: its runner reads it from the step.
        params = self._evaluate(step, templated_with(step.type, step.with_), "with", context)
        runner = getattr(self, f"_step_{step.type}", None)
        if runner is None:
            raise StepError(
                f"step type {step.type!r} is not available on this worker", "UnsupportedStepType"
            )
        return await runner(step, params if isinstance(params, dict) else {})
