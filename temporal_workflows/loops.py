"""How a step repeats: ``foreach`` over items and ``until`` a condition holds.

A mixin of the interpreter workflow (:class:`~temporal_workflows.interpreter.HeadraceRun`),
which owns the run's state. Long loops run as child runs of the same workflow (chunks of a
``foreach``, segments of an ``until``), so no history outgrows Temporal's limits; each child
runs the step alone, with the upstream states its templates read.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from temporal_workflows.controls import PauseGate
    from temporal_workflows.definition import StepDefinition, WorkflowDefinition
    from temporal_workflows.durations import parse_duration
    from temporal_workflows.expressions import (
        ExpressionError,
        evaluate_condition,
        referenced_steps,
    )
    from temporal_workflows.run_types import (
        INTERPRETER_WORKFLOW,
        RunInput,
        RunResult,
        StepState,
        UntilSegment,
        UntilSegmentResult,
    )
    from temporal_workflows.runtime import Runtime
    from temporal_workflows.step_runners import StepError, cause_message

DEFAULT_FOREACH_CONCURRENCY = 10
DEFAULT_MAX_ITERATIONS = 100
# Steps that wait for Updates addressed to this run: a child run would never receive them.
RUN_BOUND_TYPES = frozenset({"wait_for_event", "approval"})
# workflow.patched ids of loop changes that running workflows must not see.
FOREACH_IN_CHILDREN = "foreach-in-children"
UNTIL_IN_CHILDREN = "until-in-children"
# A foreach over more than `limits.max_foreach_items` items fails as ForeachTooManyItems.
FOREACH_ITEMS_LIMIT = "foreach-items-limit"


class StepLoops:
    """``_execute(step)``: the step once, over its ``foreach`` items, or ``until`` it holds."""

    # Run state, owned by the interpreter (HeadraceRun).
    _rt: Runtime
    _run: RunInput
    _vars: dict[str, Any]
    _steps: dict[str, StepState]
    _gate: PauseGate
    _budget: int | None
    _strict: bool
    _segment_result: UntilSegmentResult | None

    def _context(self, **extra: Any) -> dict[str, Any]:
        raise NotImplementedError

    def _child_visibility(self, child: RunInput, old_summary: str) -> dict[str, Any]:
        raise NotImplementedError

    def _evaluate(
        self, step: StepDefinition, value: Any, field: str, context: dict[str, Any]
    ) -> Any:
        raise NotImplementedError

    def _expression_failed(self, exc: ExpressionError) -> StepError:
        raise NotImplementedError

    async def _call(self, step: StepDefinition, context: dict[str, Any]) -> Any:
        raise NotImplementedError

    async def _execute(self, step: StepDefinition) -> Any:
        if step.foreach is not None:
            return await self._foreach(step)
        return await self._until(step, self._context())

    async def _foreach(self, step: StepDefinition) -> list[Any]:
        if self._run.foreach_items is not None:  # this run is one chunk of a parent's foreach
            items = self._run.foreach_items
        else:
            items = self._evaluate(step, step.foreach, "foreach", self._context())
        if not isinstance(items, list):
            raise StepError(
                f"foreach must give a list, got {type(items).__name__}", "ExpressionError"
            )
        cap = self._run.limits.max_foreach_items
        if (
            self._run.foreach_items is None
            and len(items) > cap
            and self._rt.patched(FOREACH_ITEMS_LIMIT)
        ):
            raise StepError(
                f"foreach gives {len(items)} items; at most {cap} are allowed "
                "(HEADRACE_MAX_FOREACH_ITEMS)",
                "ForeachTooManyItems",
            )
        if (
            self._run.foreach_items is None
            and not step.pure
            and len(items) > self._run.foreach_chunk_size
            and self._rt.patched(FOREACH_IN_CHILDREN)
        ):
            return await self._foreach_in_children(step, items)
        offset = self._run.index_offset
        limit = asyncio.Semaphore(step.concurrency or DEFAULT_FOREACH_CONCURRENCY)
        results: list[Any] = [None] * len(items)

        async def one(index: int, item: Any) -> None:
            async with limit:
                context = self._context(item=item, index=offset + index)
                results[index] = await self._until(step, context)

        try:
            async with asyncio.TaskGroup() as group:
                for index, item in enumerate(items):
                    group.create_task(one(index, item))
        except* StepError as errors:
            raise errors.exceptions[0] from None
        return results

    async def _foreach_in_children(self, step: StepDefinition, items: list[Any]) -> list[Any]:
        """Run a long I/O foreach as child workflows of ``foreach_chunk_size`` items, one
        after the other, so each history stays small; outputs keep their order."""
        size = self._run.foreach_chunk_size
        upstream = self._upstream_states(step)
        body = self._child_body(step)
        results: list[Any] = []
        for start in range(0, len(items), size):
            chunk = self._child_run(
                body,
                "foreach",
                foreach_items=items[start : start + size],
                index_offset=start,
                context_steps=upstream,
            )
            result = await self._run_child(
                chunk, f"{step.id}: items from {start}", "ForeachChunkFailed"
            )
            results.extend(result.output[step.id])
        return results

    def _child_run(self, body: StepDefinition, trigger_type: str, **fields: Any) -> RunInput:
        """A child run of this run's workflow that runs ``body`` alone (a chunk or a segment
        of a loop), with this run's input, variables, key, limits and depth."""
        execution_id = fields.pop("execution_id", None) or str(self._rt.uuid4())
        context = self._context()
        return RunInput(
            context_trigger=context.get("trigger"),
            context_started_at=context["execution"].get("started_at"),
            execution_id=execution_id,
            workflow_id=self._run.workflow_id,
            version=self._run.version,
            definition=WorkflowDefinition(steps=[body]),
            input=self._run.input,
            variables=self._vars,
            trigger_type=trigger_type,
            created_by=self._run.created_by,
            parent_execution_id=self._run.execution_id,
            secret_key=self._run.secret_key,
            limits=self._run.limits,
            depth=self._run.depth,
            workflow_name=self._run.workflow_name,
            dashboard_url=self._run.dashboard_url,
            **fields,
        )

    async def _run_child(self, run: RunInput, summary: str, error_type: str) -> RunResult:
        """Run part of a step as a child run; its failure is the step's (``error_type``)."""
        try:
            result: RunResult = await self._rt.execute_child(
                INTERPRETER_WORKFLOW,
                run,
                id=run.execution_id,
                result_type=RunResult,
                **self._child_visibility(run, summary),
            )
        except ChildWorkflowError as exc:
            if self._rt.cancellation_reason() is not None:
                raise asyncio.CancelledError() from None  # this run is being cancelled
            raise StepError(cause_message(exc), error_type) from exc
        return result

    def _upstream_states(self, step: StepDefinition) -> dict[str, dict[str, Any]]:
        """The states of the steps a child run's templates read (``with`` and ``until``)."""
        names = referenced_steps(step.with_)
        if step.until is not None:
            names |= referenced_steps(step.until, bare=True)
        steps = self._context()["steps"]
        return {sid: steps[sid] for sid in names if sid in self._steps}

    @staticmethod
    def _child_body(step: StepDefinition) -> StepDefinition:
        """The step as a child run's only step: its failure fails that child, the parent
        handles ``on_error`` and compensation."""
        return step.model_copy(
            update={"depends_on": [], "when": None, "compensate": None, "on_error": "fail"}
        )

    async def _until(self, step: StepDefinition, context: dict[str, Any]) -> Any:
        if step.until is None:
            return await self._call(step, context)
        tries = step.max_iterations or DEFAULT_MAX_ITERATIONS
        segment = self._run.until_segment
        if (
            segment is None
            and tries > self._run.until_segment_size
            and step.type not in RUN_BOUND_TYPES
            and self._rt.patched(UNTIL_IN_CHILDREN)
        ):
            return await self._until_in_children(step, context, tries)
        if segment is not None:  # this run is one segment of a parent's until loop
            met, output = await self._poll(
                step,
                context,
                segment.tries,
                segment.wait_first,
                first_index=segment.first_index,
                previous=segment.previous,
            )
            self._segment_result = UntilSegmentResult(met=met, output=output)
            return output
        met, output = await self._poll(step, context, tries, wait_first=False)
        if not met:
            raise StepError(f"until condition not met after {tries} iterations", "UntilExhausted")
        return output

    async def _poll(
        self,
        step: StepDefinition,
        context: dict[str, Any],
        tries: int,
        wait_first: bool,
        *,
        first_index: int = 0,
        previous: Any = None,
    ) -> tuple[bool, Any]:
        """Call the step up to ``tries`` times, ``interval`` apart, until ``until`` holds;
        answer whether it held, and the last output.

        Each try's ``with`` and ``until`` see ``loop.index`` (from 0 over the whole loop)
        and ``loop.previous`` (the try before's output, null at first). Only definitions
        saved since ``loop`` exists can read it (validation refused the name before), so
        adding it to the context changes nothing for runs recorded earlier.
        """
        assert step.until is not None
        interval = parse_duration(step.interval) if step.interval else timedelta(seconds=10)
        output: Any = previous
        for iteration in range(tries):
            if iteration or wait_first:
                await self._rt.sleep(interval)
            loop = {"index": first_index + iteration, "previous": output}
            try_context = {**context, "loop": loop}
            output = await self._call(step, try_context)
            try:
                done = evaluate_condition(
                    step.until,
                    {**try_context, "output": output},
                    location=f"steps.{step.id}.until",
                    budget=self._budget,
                    strict=self._strict,
                )
            except ExpressionError as exc:
                raise self._expression_failed(exc) from exc
            if done:
                return True, output
        return False, output

    async def _until_in_children(
        self, step: StepDefinition, context: dict[str, Any], tries: int
    ) -> Any:
        """Run a long until loop as child workflows of ``until_segment_size`` tries, one
        after the other, so each history stays small; the loop's timing is the inline one's."""
        size = self._run.until_segment_size
        body = self._child_body(step)
        upstream = self._upstream_states(step)
        # Inside a foreach, the child runs this one item, at this index.
        items = [context["item"]] if step.foreach is not None else None
        done = 0
        previous: Any = None
        while done < tries:
            if done:
                await self._gate.wait_open()  # a paused run starts no further segment
            child_id = str(self._rt.uuid4())
            segment = UntilSegment(
                tries=min(size, tries - done),
                wait_first=done > 0,
                first_index=done,
                previous=previous,
            )
            run = self._child_run(
                body,
                "until",
                execution_id=child_id,
                foreach_items=items,
                index_offset=context.get("index", 0) if items is not None else 0,
                context_steps=upstream,
                until_segment=segment,
                context_execution_id=context["execution"]["id"],
            )
            summary = f"{step.id}: tries {done + 1}-{done + segment.tries}"
            result = await self._run_child(run, summary, "UntilSegmentFailed")
            outcome = UntilSegmentResult.model_validate(result.output)
            if outcome.met:
                return outcome.output
            previous = outcome.output
            done += segment.tries
        raise StepError(f"until condition not met after {tries} iterations", "UntilExhausted")
