"""Per-workflow concurrency limits: one limiter workflow per group holds the permits.

A definition's ``concurrency`` names a group (the workflow, or the workflow and the rendered
``key``). The group's permits live in the state of one long-lived Temporal workflow,
:class:`ConcurrencyGroup`, whose id is the group's name, so Temporal's single-writer
history is the lock: there is never a second copy of the state to disagree with.

- A run asks for a permit with the ``ask`` signal, sent with start by a local activity (so
  the first run of a group creates its limiter), and waits for the limiter's
  ``permit_answer`` signal: ``granted``, ``queued`` (the run then waits for a
  ``permit_granted`` signal) or ``refused`` (``cancel_newest``). Signals, not an Update:
  Temporal lets a workflow have only 10 Updates in flight, so a burst of runs asking one
  group by Update was refused and retried for minutes; signals have no such cap.
  Asking again with the same holder gets the same answer, so retries are harmless.
- The API, which must refuse a ``cancel_newest`` start synchronously, and runs recorded
  before the ``ask`` signal (``ASK_BY_SIGNAL``) ask with the ``acquire`` update, which
  answers in its result.
- A run gives its permit back with the ``release`` signal when it closes, however it
  closes (completed, failed, cancelled while running or while queued).
- A run that closes without releasing (terminated in Temporal's UI, its history reset) is
  found by the limiter itself: while it has holders it asks, every ``reclaim_seconds``,
  which of them are closed (an activity describes them), and takes their permits back.

A worker that dies loses nothing: the limiter and the runs are Temporal workflows, replayed
on the next worker with their state, queue order included.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from temporalio import workflow
from temporalio.common import RetryPolicy

from temporal_workflows.definition import ConcurrencySpec, OnLimit
from temporal_workflows.expressions import MAX_WORK, evaluate

LIMITER_WORKFLOW = "HeadraceConcurrencyGroup"
REQUEST_PERMIT_ACTIVITY = "request_permit"
SEND_ASK_ACTIVITY = "send_permit_ask"
CLOSED_RUNS_ACTIVITY = "closed_runs"
ACQUIRE_UPDATE = "acquire"
ASK_SIGNAL = "ask"
ANSWER_SIGNAL = "permit_answer"
# workflow.patched id: runs ask by signal (and are answered by signal) instead of by Update,
# and a limiter sends the signals it owes all at once instead of one after the other.
ASK_BY_SIGNAL = "concurrency-ask-by-signal"
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
    to_answer: list[str] = Field(default_factory=list)  # asked by signal, not answered yet


# A signal (or cancel) the limiter owes one holder: the holder, and the call that sends it.
Message = tuple[str, Callable[[], Awaitable[None]]]


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
                    lambda: self._owes_messages(),
                    timeout=timedelta(seconds=s.reclaim_seconds),
                )
            except TimeoutError:
                if not (s.holders or s.queue):
                    if workflow.all_handlers_finished():
                        return  # idle: the next ask starts a fresh limiter
                    continue
                await self._reclaim()
            await self._tell_runs()
            if workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(s)

    @workflow.update(name=ACQUIRE_UPDATE)
    def acquire(self, request: PermitRequest) -> PermitAnswer:
        return self._admit(request)

    @workflow.signal(name=ASK_SIGNAL)
    def ask(self, request: PermitRequest) -> None:
        """Like ``acquire``, answered by a ``permit_answer`` signal the loop sends (activity
        attempts get none: they watch their place with the ``position`` query)."""
        self._admit(request)
        s, holder = self._s, request.holder
        if ATTEMPT_SEPARATOR not in holder and holder not in s.to_answer:
            s.to_answer.append(holder)

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

    def _admit(self, request: PermitRequest) -> PermitAnswer:
        s = self._s
        s.limit, s.reclaim_seconds = request.limit, request.reclaim_seconds
        holder = request.holder
        known = self._answer_for(holder)
        if known is not None:
            return known
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

    def _answer_for(self, holder: str) -> PermitAnswer | None:
        """What the group has already decided for this holder; None for a newcomer."""
        s = self._s
        if holder in s.holders:
            return PermitAnswer(outcome="granted")
        if holder in s.queue:
            return PermitAnswer(outcome="queued", position=s.queue.index(holder) + 1)
        if holder in s.refused:
            return PermitAnswer(outcome="refused")
        return None

    def _release(self, holder: str) -> None:
        s = self._s
        for members in (s.holders, s.queue, s.cancelling, s.to_grant, s.to_cancel, s.to_answer):
            if holder in members:
                members.remove(holder)
        self._fill()

    def _fill(self) -> None:
        s = self._s
        while s.queue and len(s.holders) < s.limit:
            holder = s.queue.pop(0)
            s.holders.append(holder)
            s.to_grant.append(holder)

    def _owes_messages(self) -> bool:
        s = self._s
        return bool(s.to_answer or s.to_grant or s.to_cancel)

    async def _tell_runs(self) -> None:
        if workflow.patched(ASK_BY_SIGNAL):
            # All at once: in a burst, one signal after the other (a workflow task each)
            # made the last run of the batch wait for all the others' round trips.
            while self._owes_messages():
                await asyncio.gather(*(self._deliver(m) for m in self._take_messages()))
            return
        while self._owes_messages():  # one after the other, as recorded histories did
            message = self._take_message()
            if message is not None:
                await self._deliver(message)

    def _take_messages(self) -> list[Message]:
        messages: list[Message] = []
        while self._owes_messages():
            message = self._take_message()
            if message is not None:
                messages.append(message)
        return messages

    def _take_message(self) -> Message | None:
        """Take the next thing owed off the state: an answer, a grant, then a cancel.

        None when that entry needs no message (an activity attempt's grant, a holder that
        left before its answer), or when nothing is owed.
        """
        s = self._s
        if s.to_answer:
            holder = s.to_answer.pop(0)
            answer = self._answer_for(holder)
            if answer is None:
                return None
            if holder in s.to_grant:  # the answer says granted: one signal is enough
                s.to_grant.remove(holder)
            run = workflow.get_external_workflow_handle(holder)
            return holder, lambda: run.signal(ANSWER_SIGNAL, answer)
        if s.to_grant:
            holder = s.to_grant.pop(0)
            if ATTEMPT_SEPARATOR in holder:
                return None  # an activity attempt: it asks the `position` query
            run = workflow.get_external_workflow_handle(holder)
            return holder, lambda: run.signal(GRANTED_SIGNAL)
        if s.to_cancel:
            holder = s.to_cancel.pop(0)
            return holder, workflow.get_external_workflow_handle(holder).cancel
        return None

    async def _deliver(self, message: Message) -> None:
        holder, send = message
        try:
            await send()
        except Exception:  # the run is gone (closed, terminated): its permit too
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
        self.answer: PermitAnswer | None = None

    async def ask_by_signal(self) -> PermitAnswer:
        """Ask with the ``ask`` signal; the limiter answers with ``permit_answer``.

        A local activity sends it (one round trip less than a task-queue activity). If a
        worker dies before the activity is recorded, the next one sends the ask again: the
        limiter answers it as the first one, so the run never takes two permits.
        """
        await workflow.execute_local_activity(
            SEND_ASK_ACTIVITY,
            self.request,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=ASK_RETRY,
        )
        await workflow.wait_condition(lambda: self.granted or self.answer is not None)
        if self.granted:
            return PermitAnswer(outcome="granted")
        assert self.answer is not None
        return self.answer

    def answered(self, answer: PermitAnswer) -> None:
        """The limiter's answer to the ask (a repeated ask gets a repeated answer: the first
        one counts, except that a grant always does)."""
        if answer.outcome == "granted":
            self.granted = True
        if self.answer is None:
            self.answer = answer

    async def ask(self) -> PermitAnswer:
        """Ask with the ``acquire`` update: how runs recorded before ``ASK_BY_SIGNAL`` asked."""
        # Its quick retries matter for bursts: Temporal lets a workflow have only a few
        # Updates in flight (10 by default), and the asks over that are refused and retried.
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
