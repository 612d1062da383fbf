"""How each step type runs, as a mixin of the interpreter workflow.

Pure steps (``transform``, ``log``, ``fail``, ``sleep``, ``wait_for_event``, ``approval``) are
evaluated in the workflow; I/O steps (``http``, ``n8n``, ``storage``) are one activity each,
named after the step in the Temporal Web UI; ``workflow`` is a child workflow.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from temporal_workflows.definition import StepDefinition
    from temporal_workflows.durations import parse_duration
    from temporal_workflows.event_emitter import EventEmitter
    from temporal_workflows.retry import retry_policy, step_timeout
    from temporal_workflows.run_types import (
        INTERPRETER_WORKFLOW,
        ChildDefinition,
        ChildDefinitionInput,
        HttpStepInput,
        N8nStepInput,
        RunInput,
        RunResult,
        StepLifecycle,
        StepOutcome,
        StepState,
    )
    from temporal_workflows.waits import Waiter, Waits, WaitTimedOut


# workflow.patched id: `workflow` steps refuse to nest runs deeper than limits.max_child_depth.
CHILD_WORKFLOW_DEPTH = "child-workflow-depth"


class StepError(Exception):
    """A step ended in failure; ``error_type`` is what the definition's handlers see."""

    def __init__(
        self,
        message: str,
        error_type: str = "StepFailed",
        attempts: int = 1,
        *,
        fatal: bool = False,
    ) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.attempts = attempts
        self.fatal = fatal  # fails the run whatever the step's on_error says


class StepRunners:
    """``_step_<type>(step, params)`` for every step type; ``params`` is the evaluated ``with``."""

    # Run state, owned by the interpreter (HeadraceRun).
    _run: RunInput
    _steps: dict[str, StepState]
    _waits: Waits
    _emitter: EventEmitter | None
    _outcomes: dict[str, StepOutcome]

    def _records_own_lifecycle(self, step: StepDefinition) -> bool:
        raise NotImplementedError

    def _mark(
        self,
        step_id: str,
        status: str,
        *,
        output: Any = None,
        error: str | None = None,
        attempts: int | None = None,
        error_type: str | None = None,
        emit: bool = True,
    ) -> None:
        raise NotImplementedError

    async def _step_transform(self, step: StepDefinition, params: dict[str, Any]) -> Any:
        return params

    async def _step_log(self, step: StepDefinition, params: dict[str, Any]) -> Any:
        assert self._emitter is not None
        level, message = str(params.get("level", "info")), str(params.get("message", ""))
        self._emitter.emit("log", step_id=step.id, level=level, message=message)
        return {"message": message, "level": level}

    async def _step_fail(self, step: StepDefinition, params: dict[str, Any]) -> Any:
        raise StepError(
            str(params.get("message", "failed")), str(params.get("error_type") or "FailStep")
        )

    async def _step_sleep(self, step: StepDefinition, params: dict[str, Any]) -> Any:
        if params.get("duration"):
            delay = parse_duration(str(params["duration"]))
        else:
            delay = _until_delay(str(params.get("until")), workflow.now())
        if delay > timedelta(0):
            await workflow.sleep(delay)
        return {"slept_seconds": delay.total_seconds()}

    async def _step_wait_for_event(self, step: StepDefinition, params: dict[str, Any]) -> Any:
        waiter = Waiter(step_id=step.id, kind="event", event=str(params["event"]))
        return await self._wait(step, waiter, params.get("timeout"))

    async def _step_approval(self, step: StepDefinition, params: dict[str, Any]) -> Any:
        waiter = Waiter(
            step_id=step.id,
            kind="approval",
            approvers=[str(a) for a in params.get("approvers") or []],
        )
        decision = await self._wait(step, waiter, params.get("timeout"))
        if not decision["approved"] and params.get("on_reject", "fail") == "fail":
            raise StepError(
                f"rejected by {decision['by']}: {decision.get('comment') or ''}", "ApprovalRejected"
            )
        return decision

    async def _wait(self, step: StepDefinition, waiter: Waiter, timeout: Any) -> Any:
        self._mark(step.id, "waiting", attempts=1)
        try:
            answer = await self._waits.wait(waiter, parse_duration(timeout) if timeout else None)
        except WaitTimedOut as exc:
            raise StepError(f"{waiter.kind} not received: {exc}", "WaitTimedOut") from exc
        self._steps[step.id].status = "running"
        return answer

    async def _step_n8n(self, step: StepDefinition, params: dict[str, Any]) -> Any:
        request = N8nStepInput(
            step_id=step.id,
            execution_id=self._run.execution_id,
            workflow_id=self._run.workflow_id,
            webhook_url=_text(params.get("webhook_url")),
            n8n_workflow_id=_text(params.get("workflow_id")),
            integration=_text(params.get("integration")),
            method=str(params.get("method", "POST")).upper(),
            payload=params.get("payload"),
            secret_key=self._run.secret_key,
        )
        return await self._step_activity(step, "run_n8n_step", request)

    async def _step_http(self, step: StepDefinition, params: dict[str, Any]) -> Any:
        request = HttpStepInput(
            step_id=step.id,
            execution_id=self._run.execution_id,
            method=str(params.get("method", "GET")).upper(),
            url=params.get("url"),
            headers=params.get("headers") or {},
            query=params.get("query") or {},
            json=params.get("json"),
            body=params.get("body"),
            form=params.get("form"),
            auth=params.get("auth"),
            expect_status=params.get("expect_status") or [],
            follow_redirects=params.get("follow_redirects", True),
            lifecycle=StepLifecycle(emit=self._records_own_lifecycle(step), step_type=step.type),
            # Whose secrets and connections the step may use; which markers are references.
            workflow_id=self._run.workflow_id,
            secret_key=self._run.secret_key,
            connection=params.get("connection") or None,
            path=params.get("path") if params.get("connection") else None,
        )
        return await self._step_activity(step, "run_http_step", request)

    async def _step_storage(self, step: StepDefinition, params: dict[str, Any]) -> Any:
        # Runs recorded before storage steps existed failed them as unsupported: keep that.
        if not workflow.patched("storage-step"):
            raise StepError(
                f"step type {step.type!r} is not available on this worker", "UnsupportedStepType"
            )
        fields = ("op", "key", "content", "content_type")
        request = {
            # An until segment's tries read and write the artifacts of the run it belongs to.
            "execution_id": self._run.context_execution_id or self._run.execution_id,
            "step_id": step.id,
            **{name: params[name] for name in fields if name in params},
        }
        return await self._step_activity(step, "run_storage_step", request)

    async def _step_workflow(self, step: StepDefinition, params: dict[str, Any]) -> Any:
        depth, limit = self._run.depth + 1, self._run.limits.max_child_depth
        if depth > limit and workflow.patched(CHILD_WORKFLOW_DEPTH):
            raise StepError(
                f"child workflows may nest at most {limit} deep "
                "(HEADRACE_MAX_CHILD_WORKFLOW_DEPTH); this one would be at depth "
                f"{depth}: does the workflow call itself?",
                "ChildWorkflowDepthExceeded",
            )
        child = await self._activity(
            step,
            "load_child_definition",
            # The loader refuses a child this workflow's owner may not run.
            ChildDefinitionInput(
                workflow_id=str(params["workflow_id"]),
                version=params.get("version"),
                parent_workflow_id=self._run.workflow_id,
            ),
            result_type=ChildDefinition,
        )
        child_id = str(workflow.uuid4())
        child_input = RunInput(
            execution_id=child_id,
            workflow_id=child.workflow_id,
            version=child.version,
            definition=child.definition,
            input=params.get("input"),
            variables=child.variables,
            trigger_type="workflow",
            created_by=self._run.created_by,
            parent_execution_id=self._run.execution_id,
            secret_key=child.secret_key or self._run.secret_key,
            limits=self._run.limits,
            depth=depth,
        )
        try:
            result: RunResult = await workflow.execute_child_workflow(
                INTERPRETER_WORKFLOW,
                child_input,
                id=child_id,
                result_type=RunResult,
                static_summary=f"step {step.id}",
            )
        except ChildWorkflowError as exc:
            raise StepError(cause_message(exc), "ChildWorkflowFailed") from exc
        return {"execution_id": child_id, "output": result.output}

    async def _step_activity(self, step: StepDefinition, name: str, arg: Any) -> Any:
        """Run a step's activity; record the attempt that succeeded."""
        outcome: StepOutcome = await self._activity(step, name, arg, result_type=StepOutcome)
        state = self._steps[step.id]
        state.attempts = max(state.attempts, outcome.attempt)
        self._outcomes[step.id] = outcome
        return outcome.output

    async def _activity(
        self, step: StepDefinition, name: str, arg: Any, result_type: type | None = None
    ) -> Any:
        try:
            return await workflow.execute_activity(
                name,
                arg,
                start_to_close_timeout=step_timeout(step),
                retry_policy=retry_policy(step),
                summary=step.id,
                result_type=result_type,
            )
        except ActivityError as exc:
            cause = exc.cause
            error_type = (
                cause.type
                if isinstance(cause, ApplicationError) and cause.type
                else (type(cause).__name__ if cause else "ActivityError")
            )
            attempts = _attempts_of(cause)
            raise StepError(cause_message(exc), error_type or "ActivityError", attempts) from exc


def _text(value: Any) -> str | None:
    """A rendered value as text for a text field (``None`` stays absent)."""
    return None if value is None else str(value)


def cause_message(exc: BaseException) -> str:
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return str(exc)


def _attempts_of(cause: BaseException | None) -> int:
    if isinstance(cause, ApplicationError) and cause.details:
        detail = cause.details[0]
        if isinstance(detail, dict) and isinstance(detail.get("attempt"), int):
            return int(detail["attempt"])
    return 1


def _until_delay(text: str, now: datetime) -> timedelta:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment - now
