from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from api.schemas.common import PublicModel, RequestModel

WorkflowStatus = Literal["active", "inactive", "archived"]


class WorkflowCreate(RequestModel):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=10_000)
    definition: dict[str, Any]
    triggers: list[dict[str, Any]] = Field(default_factory=list)
    variables: dict[str, Any] = Field(default_factory=dict)
    status: WorkflowStatus = "active"
    shared: bool = Field(False, description="Visible to and runnable by every user.")


class WorkflowReplace(WorkflowCreate):
    """``PUT``: the whole workflow again."""


class WorkflowPatch(RequestModel):
    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=10_000)
    definition: dict[str, Any] | None = None
    triggers: list[dict[str, Any]] | None = None
    variables: dict[str, Any] | None = None
    status: WorkflowStatus | None = None
    shared: bool | None = None


class WorkflowPublic(PublicModel):
    id: uuid.UUID
    name: str
    description: str
    status: str
    shared: bool
    version: int
    definition: dict[str, Any]
    triggers: list[dict[str, Any]]
    variables: dict[str, Any]
    owner_id: uuid.UUID
    source: dict[str, Any] | None = None
    created_at: datetime
    updated_at: datetime
    # GET /workflows/{id} only: the Temporal Web UI's list of this workflow's runs.
    temporal_ui_url: str | None = None


class WorkflowVersionPublic(PublicModel):
    workflow_id: uuid.UUID
    version: int
    definition: dict[str, Any]
    created_by: uuid.UUID | None
    created_at: datetime


class DefinitionCheck(RequestModel):
    definition: dict[str, Any]


class ValidationResult(PublicModel):
    valid: bool
    steps: int


class StepTest(RequestModel):
    """``POST /workflows/test-step``: one step of a definition, run once without saving."""

    definition: dict[str, Any]
    step_id: str = Field(min_length=1, max_length=200, description="The step to run.")
    input: Any = Field(None, description="Sample run input (what ``input.*`` reads).")
    outputs: dict[str, Any] = Field(
        default_factory=dict,
        description="Outputs of upstream steps by step id (what ``steps.<id>.output`` reads).",
    )


class StepTestResult(PublicModel):
    step_id: str
    type: str
    status: Literal["completed", "failed"]
    output: Any = None
    error: str | None = None
    error_type: str | None = None
