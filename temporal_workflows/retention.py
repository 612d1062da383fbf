"""The retention workflow: forget ended runs older than ``HEADRACE_RETENTION_DAYS``.

Started by the ``headrace-retention`` Temporal Schedule (created by the workers, see
``worker/retention.py``); it computes the cut-off from the workflow clock and hands the work
to one activity, which deletes in batches and heartbeats between them (a crashed worker's
attempt is resumed by another: every batch is a complete unit).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field
from temporalio import workflow
from temporalio.common import RetryPolicy

PURGE_ACTIVITY = "purge_expired_executions"


class RetentionInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    older_than_days: int = Field(ge=1)
    batch_size: int = Field(500, ge=1)


class PurgeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ended_before: datetime
    batch_size: int = Field(500, ge=1)


class PurgeResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    executions: int = 0
    objects: int = 0


@workflow.defn(name="HeadraceRetention")
class HeadraceRetention:
    @workflow.run
    async def run(self, input: RetentionInput) -> PurgeResult:
        request = PurgeRequest(
            ended_before=workflow.now() - timedelta(days=input.older_than_days),
            batch_size=input.batch_size,
        )
        result: PurgeResult = await workflow.execute_activity(
            PURGE_ACTIVITY,
            request,
            result_type=PurgeResult,
            # A large backlog (retention turned on for the first time) takes many batches;
            # the heartbeat, not this bound, is what detects a dead worker.
            start_to_close_timeout=timedelta(hours=6),
            heartbeat_timeout=timedelta(minutes=2),
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=5)),
        )
        return result
