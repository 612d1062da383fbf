"""The workflow definition v1 (docs/definitions.md) as immutable pydantic models.

These models check each field on its own (types, unknown fields, ids, durations, ranges).
Checks that relate fields or steps to each other (dependencies, cycles, templates, the
``with`` of each type) live in :mod:`temporal_workflows.validation`; build definitions from
user input with :func:`temporal_workflows.validation.validate_definition`, which runs both.
A ``WorkflowDefinition`` is the interpreter workflow's input, so it must round-trip through
Temporal's pydantic data converter.
"""

from __future__ import annotations

import heapq
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from temporal_workflows.step_types import (
    PURE_STEP_TYPES,
    STEP_TYPES,
    PositiveDuration,
    StepType,
    is_pure,
)

__all__ = [
    "DEFAULT_MAX_ITERATIONS",
    "JOINS",
    "PURE_STEP_TYPES",
    "STEP_ID_PATTERN",
    "STEP_TYPES",
    "CompensateSpec",
    "ConcurrencySpec",
    "Join",
    "OnError",
    "RetrySpec",
    "StepDefinition",
    "StepType",
    "WorkflowDefinition",
    "is_pure",
]

STEP_ID_PATTERN = r"[A-Za-z_][A-Za-z0-9_-]*"
DEFAULT_MAX_ITERATIONS = 100
OnError = Literal["fail", "continue", "park"]
# When a step with dependencies runs, from how its dependencies ended (Airflow's trigger
# rules): every one completed, at least one completed, or all ended whatever their outcome.
Join = Literal["all_succeeded", "any_succeeded", "all_done"]
JOINS: tuple[str, ...] = ("all_succeeded", "any_succeeded", "all_done")
OnLimit = Literal["queue", "cancel_newest", "cancel_oldest"]
# durable: a Temporal run (history, exactly-once steps, waits of any length); express: run in
# the process that receives the call, no history, at least once (docs/architecture.md).
ExecutionMode = Literal["durable", "express"]
# A group's permits live in one limiter workflow's state; this keeps that state small.
MAX_CONCURRENCY_LIMIT = 1000
_STEP_ID = re.compile(STEP_ID_PATTERN)


def _check_step_id(value: str) -> str:
    if not _STEP_ID.fullmatch(value):
        raise PydanticCustomError(
            "invalid_id",
            "step id {id} must start with a letter or '_' and hold only letters, digits, "
            "'_' and '-'",
            {"id": repr(value)},
        )
    return value


def _string_or_list(value: Any) -> Any:
    # Checked before the union so a wrong value gets one clear error, not one per member.
    if isinstance(value, str | list):
        return value
    raise PydanticCustomError(
        "invalid_type", "foreach must be a list or an expression giving a list"
    )


StepId = Annotated[str, AfterValidator(_check_step_id)]
ForEach = Annotated[str | list[Any], BeforeValidator(_string_or_list)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class RetrySpec(_Model):
    """How a failing step is retried; maps to a Temporal ``RetryPolicy``."""

    max_attempts: int = Field(default=3, ge=1, description="Attempts in total, the first included.")
    initial_interval: PositiveDuration = Field(
        default="1s", description="Wait before the first retry."
    )
    backoff_coefficient: float = Field(
        default=2.0, ge=1, description="Each wait is the previous one times this."
    )
    max_interval: PositiveDuration | None = Field(
        default=None, description="Cap on the wait; Temporal's default is 100x initial."
    )
    non_retryable_errors: list[str] = Field(
        default_factory=list, description="Error types that fail at once."
    )


class CompensateSpec(_Model):
    """A step-shaped action that undoes a completed step when the run later fails (a saga)."""

    type: StepType
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")
    retry: RetrySpec | None = None
    timeout: PositiveDuration | None = None


class StepDefinition(_Model):
    """One node of the DAG. See docs/definitions.md for every field."""

    id: StepId
    type: StepType
    name: str | None = None
    description: str | None = None
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")
    depends_on: list[str] = Field(default_factory=list)
    join: Join | None = Field(
        default=None,
        description="When the step runs, from how its dependencies ended: all_succeeded "
        "(the default), any_succeeded or all_done. Without join, a step with when runs on "
        "its when alone.",
    )
    when: str | None = None
    retry: RetrySpec | None = None
    timeout: PositiveDuration | None = None
    on_error: OnError = "fail"
    compensate: CompensateSpec | None = None
    foreach: ForEach | None = None
    concurrency: int | None = Field(default=None, ge=1)
    until: str | None = None
    interval: PositiveDuration | None = None
    max_iterations: int | None = Field(default=None, ge=1, le=10_000)
    local: bool | None = Field(
        default=None,
        description="Run this I/O step as a Temporal local activity (true) or a regular "
        "activity (false). Absent: local when the step's timeout is at most "
        "HEADRACE_LOCAL_STEP_MAX_TIMEOUT. See docs/performance.md for what each promises.",
    )

    @property
    def effective_max_iterations(self) -> int:
        """``max_iterations``, or :data:`DEFAULT_MAX_ITERATIONS` when not given."""
        return self.max_iterations or DEFAULT_MAX_ITERATIONS

    @property
    def pure(self) -> bool:
        """True when the interpreter evaluates this step itself (see :func:`is_pure`)."""
        return is_pure(self.type)


class ConcurrencySpec(_Model):
    """How many runs of the workflow (per ``key``) may run at once, and what a run over the
    limit does. Enforced by a limiter workflow per group (temporal_workflows/concurrency.py)."""

    limit: int = Field(ge=1, le=MAX_CONCURRENCY_LIMIT, description="Runs at once per group.")
    key: str | None = Field(
        default=None,
        max_length=1000,
        description="A template over input, vars, execution and workflow naming the group; "
        "absent: one group for the whole workflow.",
    )
    on_limit: OnLimit = Field(
        default="queue",
        description="queue: wait in arrival order; cancel_newest: refuse the new run; "
        "cancel_oldest: cancel the oldest running run of the group.",
    )


class WorkflowDefinition(_Model):
    """A whole definition: input schema, variables, the steps DAG and the output template."""

    input_schema: dict[str, Any] | None = None
    variables: dict[str, Any] = Field(default_factory=dict)
    steps: list[StepDefinition] = Field(min_length=1)
    output: Any = None
    concurrency: ConcurrencySpec | None = None
    execution_mode: ExecutionMode = Field(
        default="durable",
        description="durable: a Temporal run (the default). express: run in the API process "
        "without a history, for short request/response work; steps that wait are refused.",
    )
    # The answer of ?wait=true webhook calls; checked by temporal_workflows.responses (the
    # interpreter ignores it: the API builds the answer when the run has ended).
    response: dict[str, Any] | None = None

    def step_map(self) -> dict[str, StepDefinition]:
        """Steps by id, in document order."""
        return {step.id: step for step in self.steps}

    def topological_order(self) -> list[str]:
        """Step ids so that every step comes after its dependencies.

        Among steps that are ready at the same time, document order wins, so the order is
        stable for a given definition.

        Raises:
            ValueError: If a dependency is unknown or the steps form a cycle (a validated
                definition has neither).
        """
        position = {step.id: index for index, step in enumerate(self.steps)}
        waiting_on = {step.id: set(step.depends_on) for step in self.steps}
        dependents: dict[str, list[str]] = {step.id: [] for step in self.steps}
        for step in self.steps:
            for dependency in step.depends_on:
                if dependency not in dependents:
                    raise ValueError(f"step {step.id!r} depends on unknown step {dependency!r}")
                dependents[dependency].append(step.id)
        ready = [position[sid] for sid, deps in waiting_on.items() if not deps]
        heapq.heapify(ready)
        order: list[str] = []
        while ready:
            step_id = self.steps[heapq.heappop(ready)].id
            order.append(step_id)
            for dependent in dependents[step_id]:
                waiting_on[dependent].discard(step_id)
                if not waiting_on[dependent]:
                    heapq.heappush(ready, position[dependent])
        if len(order) != len(self.steps):
            stuck = sorted(set(position) - set(order), key=position.__getitem__)
            raise ValueError(f"steps {', '.join(stuck)} form a dependency cycle")
        return order
