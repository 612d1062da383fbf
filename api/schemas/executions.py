from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field

from api.schemas.analytics import RunTokens
from api.schemas.common import MAX_DB_INTEGER, PublicModel, RequestModel
from api.schemas.storable import RUN_DATA

ExecutionStatus = Literal[
    "pending", "queued", "running", "waiting", "paused", "completed", "failed", "cancelled"
]


class ExecuteRequest(RequestModel):
    input_data: Annotated[Any, RUN_DATA] = None
    variables: Annotated[dict[str, Any], RUN_DATA] = Field(default_factory=dict)
    async_mode: bool = Field(False, description="Answer 202 at once instead of waiting.")


class ExecuteResult(PublicModel):
    execution_id: uuid.UUID
    status: ExecutionStatus
    result: Any = None
    error: str | None = None


class StepPublic(PublicModel):
    id: str
    status: str
    attempts: int = 0
    started_at: datetime | None = None
    completed_at: datetime | None = None
    output: Any = None
    error: str | None = None
    reason: str | None = Field(
        default=None,
        description="Why a skipped step was skipped, e.g. \"skipped because 'pay' was skipped\".",
    )
    compensation: dict[str, Any] | None = None


class ExecutionSummary(PublicModel):
    id: uuid.UUID
    workflow_id: uuid.UUID
    version: int
    status: ExecutionStatus
    trigger_type: str
    trigger_id: uuid.UUID | None
    parent_execution_id: uuid.UUID | None
    retry_of: uuid.UUID | None = None
    execution_mode: Literal["durable", "express"] = Field(
        default="durable",
        description="durable: a Temporal run; express: run in one process, no history "
        "(its definition's execution_mode when it started).",
    )
    error_message: str | None
    started_at: datetime | None
    completed_at: datetime | None
    created_at: datetime


class ExecutionPublic(ExecutionSummary):
    input_data: Any
    output_data: Any
    steps: list[StepPublic]
    temporal_workflow_id: str
    temporal_run_id: str | None
    temporal_ui_url: str
    waiting_for: dict[str, Any] = Field(
        default_factory=dict, description="While waiting: step id -> what it waits for."
    )
    parked: dict[str, str] = Field(
        default_factory=dict, description="Parked steps (on_error: park) -> their error."
    )
    queue_position: int | None = Field(
        default=None,
        description="While queued (the workflow's concurrency limit is reached): the run's "
        "1-based place in its group's queue, when the limiter could be asked.",
    )
    tokens: RunTokens | None = Field(
        default=None,
        description="What the run's llm and agent model calls used, summed (null when the "
        "definition has no such step or none answered yet).",
    )


class SignalRequest(RequestModel):
    name: str = Field(min_length=1, max_length=200)
    payload: Annotated[Any, RUN_DATA] = None


class ApprovalRequest(RequestModel):
    comment: str | None = Field(None, max_length=10_000)
    step_id: str | None = Field(None, description="Which approval, when several wait.")


class ActionAccepted(PublicModel):
    execution_id: uuid.UUID
    status: str
    step_id: str | None = None


class LogEntry(PublicModel):
    id: int = Field(validation_alias="seq")
    type: str
    step_id: str | None
    attempt: int | None
    level: str
    message: str
    data: Any
    ts: datetime


class ControlRequest(RequestModel):
    reason: str | None = Field(None, max_length=2000)


class ResolveRequest(RequestModel):
    action: Literal["retry", "skip", "abort"]
    output: Annotated[Any, RUN_DATA] = None
    with_: dict[str, Any] | None = Field(
        None, alias="with", description="Merged into the step's `with` for a retry."
    )


class RetryRequest(RequestModel):
    from_failed: bool = Field(
        False, description="Reuse the completed steps' outputs; run from the failed steps on."
    )
    version: int | None = Field(
        None, ge=1, le=MAX_DB_INTEGER, description="Default: the retried run's version."
    )
