"""``/api/v1/analytics``: execution counts, success rates, durations, runs over time."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import Reader, SessionDep
from api.schemas.analytics import AnalyticsSummary, Bucket, WorkflowAnalytics
from api.services import analytics

router = APIRouter(prefix="/analytics", tags=["analytics"])

Since = Annotated[
    datetime | None,
    Query(description="Start of the window (ISO 8601; naive = UTC); default 7 days before until."),
]
Until = Annotated[datetime | None, Query(description="End of the window (exclusive); default now.")]
BucketQuery = Annotated[Bucket, Query(description="Width of the runs-over-time buckets.")]


@router.get("/summary", response_model=AnalyticsSummary)
async def summary(
    user: Reader,
    session: SessionDep,
    since: Since = None,
    until: Until = None,
    bucket: BucketQuery = "day",
) -> AnalyticsSummary:
    """Every execution created in the window that the caller may see."""
    window = analytics.make_window(since, until, bucket)
    return await analytics.summary(session, user, window)


@router.get("/workflows/{workflow_id}", response_model=WorkflowAnalytics)
async def workflow(
    workflow_id: uuid.UUID,
    user: Reader,
    session: SessionDep,
    since: Since = None,
    until: Until = None,
    bucket: BucketQuery = "day",
) -> WorkflowAnalytics:
    """The same figures for one workflow (404 when the caller may not see it)."""
    window = analytics.make_window(since, until, bucket)
    return await analytics.workflow_analytics(session, user, workflow_id, window)
