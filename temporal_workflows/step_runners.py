"""How each step type runs, as a mixin of the interpreter workflow.

Pure steps (``transform``, ``log``, ``fail``, ``sleep``, ``wait_for_event``, ``approval``) are
evaluated in the workflow; I/O steps (``http``, ``n8n``, ``storage``) and ``code`` (a user's
script, run in a sandbox on the worker) are one activity each,
named after the step in the Temporal Web UI; ``workflow`` is a child workflow.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    ChildWorkflowError,
    TimeoutError,
)

with workflow.unsafe.imports_passed_through():
    from temporal_workflows.agent import AiCalls, run_agent, run_llm
    from temporal_workflows.definition import StepDefinition
    from temporal_workflows.durations import parse_duration
    from temporal_workflows.retry import retry_policy, step_timeout
    from temporal_workflows.run_types import (
        INTERPRETER_WORKFLOW,
        ChildDefinition,
        ChildDefinitionInput,
        CodeStepInput,
        HttpStepInput,
        N8nStepInput,
        RunInput,
        RunResult,
        StepLifecycle,
        StepOutcome,
        StepState,
    )
    from temporal_workflows.runtime import Emitter, Runtime
    from temporal_workflows.visibility import (
        run_details,
        run_search_attributes,
        run_summary,
        step_summary,
    )
    from temporal_workflows.waits import Waiter, Waits, WaitTimedOut


# workflow.patched id: `workflow` steps refuse to nest runs deeper than limits.max_child_depth.
CHILD_WORKFLOW_DEPTH = "child-workflow-depth"
# workflow.patched id: short I/O steps run as local activities (StepDefinition.local).
LOCAL_STEPS = "local-steps"
# Beyond a code step's timeout: starting the sandbox, recording its console lines.
CODE_ATTEMPT_GRACE = timedelta(seconds=10)
# workflow.patched id: an approval's message and deadline are in waiting_for and in its
# execution.waiting event (with its approvers); runs started before wait without them.
APPROVAL_DETAILS = "approval-details"


# A model call heartbeats while it waits for the answer (activities/llm.py): a call whose
# worker died is retried this long after, not after the step's whole timeout.
MODEL_CALL_HEARTBEAT = timedelta(seconds=15)


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
    _rt: Runtime
    _run: RunInput
    _steps: dict[str, StepState]
    _waits: Waits
    _emitter: Emitter | None
    _outcomes: dict[str, StepOutcome]
    # Whether this run shows itself in the Temporal Web UI (visibility.RUN_VISIBILITY).
    _visible: bool

    def _records_own_lifecycle(self, step: StepDefinition) -> bool:
        raise NotImplementedError

    def _context(self, **extra: Any) -> dict[str, Any]:
        raise NotImplementedError

    def _evaluate(
        self, step: StepDefinition, value: Any, field: str, context: dict[str, Any]
    ) -> Any:
        raise NotImplementedError

    def _emit_step_event(self, step_id: str, event: str, data: dict[str, Any]) -> None:
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
            delay = _until_delay(str(params.get("until")), self._rt.now())
        if delay > timedelta(0):
            await self._rt.sleep(delay)
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
        if self._rt.patched(APPROVAL_DETAILS):
            timeout = params.get("timeout")
            message = params.get("message")
            waiter.message = None if message is None else str(message)
            waiter.deadline = self._rt.now() + parse_duration(timeout) if timeout else None
            waiter.detailed = True
        decision = await self._wait(step, waiter, params.get("timeout"))
        if not decision["approved"] and params.get("on_reject", "fail") == "fail":
            raise StepError(
                f"rejected by {decision['by']}: {decision.get('comment') or ''}", "ApprovalRejected"
            )
        return decision

    async def _wait(self, step: StepDefinition, waiter: Waiter, timeout: Any) -> Any:
        self._mark(step.id, "waiting", attempts=1, emit=not waiter.detailed)
        if waiter.detailed:
            self._emit_step_event(step.id, "execution.waiting", waiter.details())
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
            paginate=params.get("paginate"),
        )
        return await self._step_activity(step, "run_http_step", request)

    async def _step_storage(self, step: StepDefinition, params: dict[str, Any]) -> Any:
        # Runs recorded before storage steps existed failed them as unsupported: keep that.
        if not self._rt.patched("storage-step"):
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

    async def _step_code(self, step: StepDefinition, params: dict[str, Any]) -> Any:
        request = CodeStepInput(
            step_id=step.id,
            execution_id=self._run.execution_id,
            code=str(step.with_.get("code", "")),  # as written: never a template
            input=params.get("input"),
            timeout_seconds=parse_duration(step.timeout).total_seconds() if step.timeout else None,
        )
        # The sandbox stops the script at the step's timeout and fails it with CodeTimeout;
        # the attempt itself gets a little longer, so Temporal's TimeoutError (retryable)
        # never overtakes it.
        attempt_timeout = step_timeout(step) + CODE_ATTEMPT_GRACE
        return await self._step_activity(
            step.model_copy(
                update={
                    "timeout": f"{attempt_timeout.total_seconds():g}s",
                    # Decided on the step as written, not on the attempt's longer timeout.
                    "local": self._wants_local(step),
                }
            ),
            "run_code_step",
            request,
        )

    async def _step_workflow(self, step: StepDefinition, params: dict[str, Any]) -> Any:
        depth, limit = self._run.depth + 1, self._run.limits.max_child_depth
        if depth > limit and self._rt.patched(CHILD_WORKFLOW_DEPTH):
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
        child_id = str(self._rt.uuid4())
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
            workflow_name=child.name,
            dashboard_url=self._run.dashboard_url,
        )
        try:
            result: RunResult = await self._rt.execute_child(
                INTERPRETER_WORKFLOW,
                child_input,
                id=child_id,
                result_type=RunResult,
                **self._child_visibility(child_input, f"step {step.id}"),
            )
        except ChildWorkflowError as exc:
            raise StepError(cause_message(exc), "ChildWorkflowFailed") from exc
        return {"execution_id": child_id, "output": result.output}

    async def _step_llm(self, step: StepDefinition, params: dict[str, Any]) -> Any:
        return await run_llm(self._ai_calls(step), params, step.with_.get("response_schema"))

    async def _step_agent(self, step: StepDefinition, params: dict[str, Any]) -> Any:
        return await run_agent(self._ai_calls(step), params, step.with_.get("tools") or [])

    def _ai_calls(self, step: StepDefinition) -> AiCalls:
        """What temporal_workflows/agent.py needs of this run, for ``step``."""
        # Regular activities, never local ones: a completed model call must be in the
        # history before anything else happens, so a crash never repeats (re-pays) it.
        regular = step.model_copy(update={"local": False})

        def named(label: str) -> StepDefinition:  # how the Web UI names each call
            return regular.model_copy(update={"name": label})

        async def input_schema(workflow_id: str) -> dict[str, Any] | None:
            child: ChildDefinition = await self._activity(
                regular,
                "load_child_definition",
                ChildDefinitionInput(
                    workflow_id=workflow_id, parent_workflow_id=self._run.workflow_id
                ),
                result_type=ChildDefinition,
            )
            return child.definition.input_schema

        return AiCalls(
            step_id=step.id,
            execution_id=self._run.execution_id,
            workflow_id=self._run.workflow_id,
            secret_key=self._run.secret_key,
            model=lambda request, label: self._step_activity(
                named(label), "run_llm_call", request, heartbeat=MODEL_CALL_HEARTBEAT
            ),
            http=lambda params, label: self._step_http(named(label), params),
            workflow=lambda params, label: self._step_workflow(named(label), params),
            input_schema=input_schema,
            render=lambda value, names: self._evaluate(
                step, value, "with.tools", {**self._context(), **names}
            ),
            emit=lambda event, data: self._emit_step_event(step.id, event, data),
            now=self._rt.now,
            fail=StepError,
            tool_errors=(StepError,),
        )

    def _child_visibility(self, child: RunInput, old_summary: str) -> dict[str, Any]:
        """A child run's search attributes and metadata (only its summary, on runs recorded
        before they existed)."""
        if not self._visible:
            return {"static_summary": old_summary}
        return {
            "search_attributes": run_search_attributes(child),
            "static_summary": run_summary(child, old_summary),
            "static_details": run_details(child),
        }

    async def _step_activity(
        self, step: StepDefinition, name: str, arg: Any, heartbeat: timedelta | None = None
    ) -> Any:
        """Run a step's activity; record the attempt that succeeded."""
        outcome: StepOutcome = await self._activity(
            step, name, arg, result_type=StepOutcome, heartbeat=heartbeat
        )
        state = self._steps[step.id]
        state.attempts = max(state.attempts, outcome.attempt)
        self._outcomes[step.id] = outcome
        return outcome.output

    async def _activity(
        self,
        step: StepDefinition,
        name: str,
        arg: Any,
        result_type: type | None = None,
        heartbeat: timedelta | None = None,
    ) -> Any:
        # Runs recorded before local steps existed scheduled regular activities: keep that.
        local = self._wants_local(step) and self._rt.patched(LOCAL_STEPS)
        # A heartbeating activity (a model call) is known lost this soon after its worker
        # dies, instead of at the end of its timeout. Local activities do not heartbeat.
        beating: dict[str, Any] = (
            {"heartbeat_timeout": heartbeat} if heartbeat and not local else {}
        )
        try:
            return await self._rt.execute_activity(
                name,
                arg,
                local=local,
                start_to_close_timeout=step_timeout(step),
                retry_policy=retry_policy(step),
                summary=step_summary(step) if self._visible else step.id,
                result_type=result_type,
                **beating,
            )
        except (ActivityError, ApplicationError, TimeoutError) as exc:
            # A local activity's failure arrives as its cause itself, not wrapped.
            cause = exc.cause if isinstance(exc, ActivityError) else exc
            error_type = (
                cause.type
                if isinstance(cause, ApplicationError) and cause.type
                else (type(cause).__name__ if cause else "ActivityError")
            )
            attempts = _attempts_of(cause)
            raise StepError(cause_message(exc), error_type or "ActivityError", attempts) from exc

    def _wants_local(self, step: StepDefinition) -> bool:
        """Whether the step asks to run as a local activity (see ``StepDefinition.local``).

        Local activities skip the task queue round trip and the history events of a regular
        one, which is most of what a short call costs; in exchange a local step that completed
        in a workflow task the worker did not finish runs again after a crash.
        """
        if step.local is not None:
            return step.local
        limit = self._run.limits.local_step_max_timeout_seconds
        return step_timeout(step).total_seconds() <= limit


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
