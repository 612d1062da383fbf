"""Analytics responses: counts, success rates, duration percentiles, runs over time."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import Field

from api.schemas.common import PublicModel

Bucket = Literal["hour", "day"]


class Durations(PublicModel):
    """Seconds from start to end of the *completed* runs (linear-interpolated percentiles).

    ``count``, ``avg`` and ``max`` are exact. The percentiles are exact (computed from every
    duration) while a group holds at most 20,000 durations; beyond that they are estimated
    from a log-scale histogram (four buckets per doubling from 1 ms) and are within 9.05 %
    of the exact figure (0.5 ms below 1 ms; runs over ~49.7 days count as the maximum).
    """

    count: int = Field(description="Completed runs with both timestamps.")
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    avg: float | None = None
    max: float | None = None
    exact: bool = Field(
        default=True,
        description=(
            "true: the percentiles were computed from every duration; false: estimated from "
            "the hourly/daily duration histogram, within 9.05 % of the exact figure."
        ),
    )


class StatusCounts(PublicModel):
    pending: int = 0
    queued: int = 0
    running: int = 0
    waiting: int = 0
    paused: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0


class TimeBucket(PublicModel):
    start: datetime = Field(description="Start of the bucket (UTC).")
    total: int
    completed: int
    failed: int


class SlowStep(PublicModel):
    workflow_id: uuid.UUID
    workflow_name: str
    step_id: str
    runs: int = Field(description="Ends (completed or failed) of this step in the window.")
    avg_seconds: float
    max_seconds: float


class TokenUsage(PublicModel):
    """What the model calls of ``llm`` and ``agent`` steps used, per workflow and model."""

    workflow_id: uuid.UUID
    workflow_name: str
    model: str
    calls: int = Field(description="Model calls that got an answer (each retry counts).")
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class Tokens(PublicModel):
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class RunTokens(Tokens):
    """The tokens of one execution's model calls, in all and by step and by model."""

    by_step: dict[str, Tokens] = Field(default_factory=dict)
    by_model: dict[str, Tokens] = Field(default_factory=dict)


class WorkflowStats(PublicModel):
    workflow_id: uuid.UUID
    name: str
    total: int
    counts: StatusCounts
    success_rate: float | None = Field(
        description="completed / (completed + failed); null when none ended that way."
    )
    durations: Durations


class Window(PublicModel):
    since: datetime
    until: datetime
    bucket: Bucket


class AnalyticsSummary(PublicModel):
    """Every execution created in ``[since, until)`` that the caller may see."""

    window: Window
    total: int
    counts: StatusCounts
    success_rate: float | None
    durations: Durations
    workflows: list[WorkflowStats] = Field(description="Busiest workflows first.")
    timeline: list[TimeBucket]
    slowest_steps: list[SlowStep]
    tokens: list[TokenUsage] = Field(
        default_factory=list, description="Tokens of model calls by workflow and model, most first."
    )


class WorkflowAnalytics(PublicModel):
    window: Window
    workflow: WorkflowStats
    timeline: list[TimeBucket]
    slowest_steps: list[SlowStep]
    tokens: list[TokenUsage] = Field(
        default_factory=list, description="Tokens of the workflow's model calls, by model."
    )
