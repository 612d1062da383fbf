"""Per-workflow concurrency limits: one limiter workflow per group holds the permits.

A definition's ``concurrency`` names a group (the workflow, or the workflow and the rendered
``key``). The group's permits live in the state of one long-lived Temporal workflow,
:class:`ConcurrencyGroup`, whose id is the group's name, so Temporal's single-writer
history is the lock: there is never a second copy of the state to disagree with.

- A run asks for a permit with the ``acquire`` update (sent with start by an activity, so
  the first run of a group creates its limiter). The answer is ``granted``, ``queued``
  (the run waits for a ``permit_granted`` signal) or ``refused`` (``cancel_newest``).
  Asking again with the same holder gets the same answer, so retries are harmless.
- A run gives its permit back with the ``release`` signal when it closes, however it
  closes (completed, failed, cancelled while running or while queued).
- A run that closes without releasing (terminated in Temporal's UI, its history reset) is
  found by the limiter itself: while it has holders it asks, every ``reclaim_seconds``,
  which of them are closed (an activity describes them), and takes their permits back.

A worker that dies loses nothing: the limiter and the runs are Temporal workflows, replayed
on the next worker with their state, queue order included.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from temporalio import workflow
from temporalio.common import RetryPolicy

from temporal_workflows.definition import ConcurrencySpec, OnLimit
from temporal_workflows.expressions import MAX_WORK, evaluate

LIMITER_WORKFLOW = "HeadraceConcurrencyGroup"
REQUEST_PERMIT_ACTIVITY = "request_permit"
CLOSED_RUNS_ACTIVITY = "closed_runs"
ACQUIRE_UPDATE = "acquire"
# Holders with this separator are activity attempts ("<workflow id>|<activity id>|<attempt>",
# a connection's max_concurrency); the others are runs (their workflow id).
ATTEMPT_SEPARATOR = "|"
RELEASE_SIGNAL = "release"
GRANTED_SIGNAL = "permit_granted"
ASK_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=50),
    backoff_coefficient=1.5,
    maximum_interval=timedelta(seconds=1),
)
# Refused holders remembered so a retried request gets the same answer, not a permit.
REMEMBERED_REFUSALS = 200
REFUSED_MESSAGE = "refused: the workflow's concurrency limit is reached (on_limit: cancel_newest)"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PermitRequest(_Model):
    """What a run (or the API, for a ``cancel_newest`` start) sends to its group's limiter."""

    group: str  # the limiter workflow's id
    holder: str  # the run's workflow id
    limit: int = Field(ge=1)
    on_limit: OnLimit = "queue"
    reclaim_seconds: float = Field(30.0, gt=0)


class PermitAnswer(_Model):
    outcome: Literal["granted", "queued", "refused"]
    position: int | None = None  # 1-based place in the queue, when queued


class GroupState(_Model):
    """A limiter's whole state; carried across continue-as-new."""

    limit: int = 1
    reclaim_seconds: float = 30.0
    holders: list[str] = Field(default_factory=list)  # in grant order: the oldest first
    queue: list[str] = Field(default_factory=list)  # in arrival order
    refused: list[str] = Field(default_factory=list)
    cancelling: list[str] = Field(default_factory=list)  # holders asked to cancel
    to_grant: list[str] = Field(default_factory=list)  # granted, not told yet
    to_cancel: list[str] = Field(default_factory=list)  # to ask to cancel


def group_id(workflow_id: str, spec: ConcurrencySpec, context: dict[str, Any]) -> str:
    """The limiter workflow id of the group a run belongs to.

    The rendered key is hashed: it comes from run input, and workflow ids are visible in
    Temporal's UI and bounded in length.

    Raises:
        ExpressionError: If the key template fails for this run's input.
    """
    name = f"headrace-concurrency-{workflow_id}"
    if spec.key is None:
        return name
    value = evaluate(spec.key, context, location="concurrency.key", budget=MAX_WORK)
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return f"{name}-{hashlib.sha256(text.encode()).hexdigest()[:32]}"


@workflow.defn(name=LIMITER_WORKFLOW)
class ConcurrencyGroup:
    """The permits of one group. Handlers only change state; the loop talks to runs."""

    @workflow.init
    def __init__(self, state: GroupState) -> None:
        self._s = state.model_copy(deep=True)

    @workflow.run
    async def run(self, state: GroupState) -> None:
        s = self._s
        while True:
            try:
                await workflow.wait_condition(
                    lambda: bool(s.to_grant or s.to_cancel),
                    timeout=timedelta(seconds=s.reclaim_seconds),
                )
            except TimeoutError:
                if not (s.holders or s.queue):
                    if workflow.all_handlers_finished():
                        return  # idle: the next acquire starts a fresh limiter
                    continue
                await self._reclaim()
            await self._tell_runs()
            if workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(s)

    @workflow.update(name=ACQUIRE_UPDATE)
    def acquire(self, request: PermitRequest) -> PermitAnswer:
        s = self._s
        s.limit, s.reclaim_seconds = request.limit, request.reclaim_seconds
        holder = request.holder
        if holder in s.holders:
            return PermitAnswer(outcome="granted")
        if holder in s.queue:
            return PermitAnswer(outcome="queued", position=s.queue.index(holder) + 1)
        if holder in s.refused:
            return PermitAnswer(outcome="refused")
        self._fill()  # the limit may have grown with a new version
        if len(s.holders) < s.limit and not s.queue:
            s.holders.append(holder)
            return PermitAnswer(outcome="granted")
        if request.on_limit == "cancel_newest":
            s.refused = [*s.refused, holder][-REMEMBERED_REFUSALS:]
            return PermitAnswer(outcome="refused")
        if request.on_limit == "cancel_oldest":
            # The newcomer still waits for the permit: it is granted when the cancelled run
            # has released it, so the group never runs more than its limit.
            oldest = next((h for h in s.holders if h not in s.cancelling), None)
            if oldest is not None:
                s.cancelling.append(oldest)
                s.to_cancel.append(oldest)
        s.queue.append(holder)
        return PermitAnswer(outcome="queued", position=len(s.queue))

    @workflow.signal(name=RELEASE_SIGNAL)
    def release(self, holder: str) -> None:
        self._release(holder)

    @workflow.query
    def position(self, holder: str) -> int | None:
        """The holder's 1-based place in the queue (0 when it holds a permit), None if absent."""
        if holder in self._s.holders:
            return 0
        return self._s.queue.index(holder) + 1 if holder in self._s.queue else None

    @workflow.query
    def state(self) -> GroupState:
        return self._s

    def _release(self, holder: str) -> None:
        s = self._s
        for members in (s.holders, s.queue, s.cancelling, s.to_grant, s.to_cancel):
            if holder in members:
                members.remove(holder)
        self._fill()

    def _fill(self) -> None:
        s = self._s
        while s.queue and len(s.holders) < s.limit:
            holder = s.queue.pop(0)
            s.holders.append(holder)
            s.to_grant.append(holder)

    async def _tell_runs(self) -> None:
        s = self._s
        while s.to_grant or s.to_cancel:
            if s.to_grant:
                holder = s.to_grant.pop(0)
                if ATTEMPT_SEPARATOR in holder:
                    continue  # an activity attempt: it asks the `position` query
                run = workflow.get_external_workflow_handle(holder)
                try:
                    await run.signal(GRANTED_SIGNAL)
                except Exception:  # the run is gone (closed, terminated): its permit too
                    self._release(holder)
            else:
                holder = s.to_cancel.pop(0)
                try:
                    await workflow.get_external_workflow_handle(holder).cancel()
                except Exception:
                    self._release(holder)

    async def _reclaim(self) -> None:
        s = self._s
        closed: list[str] = await workflow.execute_activity(
            CLOSED_RUNS_ACTIVITY,
            [*s.holders, *s.queue],
            start_to_close_timeout=timedelta(seconds=30),
            result_type=list[str],
        )
        for holder in closed:
            self._release(holder)


class Permit:
    """A run's side of its group: ask, wait for the grant, give back. Used by the interpreter."""

    def __init__(self, holder: str, spec: ConcurrencySpec, group: str, reclaim: float) -> None:
        self.request = PermitRequest(
            group=group,
            holder=holder,
            limit=spec.limit,
            on_limit=spec.on_limit,
            reclaim_seconds=reclaim,
        )
        self.granted = False

    async def ask(self) -> PermitAnswer:
        # A local activity: one round trip less than a task-queue activity. Its quick retries
        # matter for bursts: Temporal lets a workflow have only a few Updates in flight
        # (10 by default), and the asks over that are refused and retried.
        answer: PermitAnswer = await workflow.execute_local_activity(
            REQUEST_PERMIT_ACTIVITY,
            self.request,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=ASK_RETRY,
            result_type=PermitAnswer,
        )
        if answer.outcome == "granted":
            self.granted = True
        return answer

    async def wait(self) -> None:
        await workflow.wait_condition(lambda: self.granted)

    async def release(self) -> None:
        limiter = workflow.get_external_workflow_handle(self.request.group)
        # No limiter (it ended idle, or was terminated): there is nothing to give back.
        with contextlib.suppress(Exception):
            await limiter.signal(RELEASE_SIGNAL, self.request.holder)
