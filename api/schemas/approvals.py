"""Approvals: what a waiting approval step shows, and its signed one-time links."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from api.schemas.common import PublicModel, RequestModel


class ApprovalPublic(PublicModel):
    """An approval step waiting for a decision, as its approvers and the run's readers see it."""

    execution_id: uuid.UUID
    workflow_id: uuid.UUID
    workflow_name: str
    step_id: str
    message: str | None = Field(None, description="The step's `message`, evaluated.")
    deadline: datetime | None = Field(None, description="When the step times out, if it does.")
    approvers: list[str] = Field(default_factory=list, description="Empty: the run's operators.")
    may_decide: bool = Field(description="Whether the caller may approve or reject it.")


class ApprovalLinksRequest(RequestModel):
    approver: str | None = Field(
        None,
        max_length=320,
        description="Whose decision the links record as `by` (one of the step's approvers "
        "when it lists some); default: the caller's email.",
    )
    expires_in: str = Field(
        "1d", max_length=40, description='How long the links work ("30m", "2d"; at most 30d).'
    )


class ApprovalLinks(PublicModel):
    execution_id: uuid.UUID
    step_id: str
    approver: str
    approve_url: str
    reject_url: str
    expires_at: datetime


class ApprovalLinkDecision(RequestModel):
    comment: str | None = Field(None, max_length=10_000)


class ApprovalLinkPublic(PublicModel):
    """What a signed link shows before it is used (opening it decides nothing)."""

    execution_id: uuid.UUID
    workflow_name: str
    step_id: str
    decision: str = Field(description='"approve" or "reject": what using the link does.')
    approver: str
    message: str | None = None
    deadline: datetime | None = None
    expires_at: datetime
