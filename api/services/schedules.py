"""Schedule triggers as Temporal Schedules: one Temporal Schedule per ``schedule`` trigger.

The trigger row is the source of truth; :class:`Schedules` builds the Temporal Schedule
from it and keeps Temporal in step (create, update, pause, delete, describe, trigger,
backfill). A Temporal Schedule is paused when its trigger is (the user's choice, the
``paused`` column) *or* when its workflow is not active (see :func:`schedule_state`): the
two reasons stay apart, so reactivating a workflow resumes only the schedules nobody paused.

Spec errors are caught here first (timezone, durations, dates, cron shape) and then by the
Temporal server's own cron parser, whose refusals become 422s too.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.api.common.v1 import Payload
from temporalio.api.workflowservice.v1 import ListScheduleMatchingTimesRequest
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionStartWorkflow,
    ScheduleBackfill,
    ScheduleHandle,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.client import ScheduleState as TemporalScheduleState
from temporalio.service import RPCError, RPCStatusCode

from api.context import AppContext
from api.errors import InvalidInput, ProblemDetail, UpstreamUnavailable
from api.schemas.triggers import ScheduleAction, ScheduleState, ScheduleTrigger
from api.services.limits import run_limits
from api.temporal_client import TemporalGateway
from core.settings import Settings
from db.models import Trigger, Workflow
from temporal_workflows.durations import parse_duration
from temporal_workflows.scheduled import (
    SCHEDULED_WORKFLOW,
    ScheduledRunInput,
    execution_id_for,
)
from temporal_workflows.visibility import (
    DETAILS_BYTES,
    clip,
    markdown_text,
    workflow_search_attributes,
)

OVERLAP = {
    "skip": ScheduleOverlapPolicy.SKIP,
    "buffer_one": ScheduleOverlapPolicy.BUFFER_ONE,
    "buffer_all": ScheduleOverlapPolicy.BUFFER_ALL,
    "cancel_other": ScheduleOverlapPolicy.CANCEL_OTHER,
    "terminate_other": ScheduleOverlapPolicy.TERMINATE_OTHER,
    "allow_all": ScheduleOverlapPolicy.ALLOW_ALL,
}
CRON_MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@hourly", "@every ")
MIN_INTERVAL = timedelta(seconds=1)
SHOWN_NEXT = 5
SHOWN_RECENT = 10


SCHEDULE_ID_PREFIX = "headrace-trigger-"


def schedule_id_for(trigger_id: uuid.UUID) -> str:
    return f"{SCHEDULE_ID_PREFIX}{trigger_id}"


async def move_schedules(client: Client, task_queue: str) -> list[str]:
    """Point every schedule trigger's Temporal Schedule at ``task_queue``; the ids moved.

    A Schedule keeps the task queue it was created with, so after a deployment on a new
    queue (docs/deployment.md, "Worker versions") the old schedules would go on starting
    runs for the old workers. Schedules already on ``task_queue`` are left as they are, so
    running it twice is harmless.
    """
    moved: list[str] = []
    async for listed in await client.list_schedules():
        if not listed.id.startswith(SCHEDULE_ID_PREFIX):
            continue

        def retarget(
            current: ScheduleUpdateInput, schedule_id: str = listed.id
        ) -> ScheduleUpdate | None:
            schedule = current.description.schedule
            action = schedule.action
            if (
                not isinstance(action, ScheduleActionStartWorkflow)
                or action.task_queue == task_queue
            ):
                return None
            action.task_queue = task_queue
            moved.append(schedule_id)
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(listed.id).update(retarget)
    return moved


def check_spec(spec: ScheduleTrigger, pointer: str) -> list[ProblemDetail]:
    """What is wrong with a schedule spec that can be told without asking Temporal."""
    problems: list[ProblemDetail] = []
    if spec.cron is not None:
        fields = spec.cron.split()
        if not spec.cron.startswith(CRON_MACROS) and not 5 <= len(fields) <= 7:
            problems.append(
                ProblemDetail(
                    f"{pointer}/cron",
                    f"cron {spec.cron!r} has {len(fields)} fields; it needs 5 "
                    "(minute hour day-of-month month day-of-week), 6 or 7, or a macro (@daily)",
                    "invalid_cron",
                )
            )
    if spec.timezone is not None:
        try:
            ZoneInfo(spec.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(
                ProblemDetail(
                    f"{pointer}/timezone",
                    f"unknown time zone {spec.timezone!r} (use an IANA name: Europe/Paris)",
                    "invalid_timezone",
                )
            )
    for name in ("interval", "jitter", "catchup_window"):
        problems += _duration_problem(spec, name, pointer)
    for name in ("start_at", "end_at"):
        problems += _instant_problem(getattr(spec, name), f"{pointer}/{name}")
    return problems


def _duration_problem(spec: ScheduleTrigger, name: str, pointer: str) -> list[ProblemDetail]:
    text = getattr(spec, name)
    if text is None:
        return []
    try:
        value = parse_duration(text)
    except ValueError as exc:
        return [ProblemDetail(f"{pointer}/{name}", str(exc), "invalid_duration")]
    if name == "interval" and value < MIN_INTERVAL:
        return [ProblemDetail(f"{pointer}/{name}", "an interval must be at least 1s", "too_short")]
    return []


def _instant_problem(text: str | None, pointer: str) -> list[ProblemDetail]:
    if text is None:
        return []
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return [ProblemDetail(pointer, f"{text!r} is not an ISO 8601 date-time", "invalid_date")]
    if moment.tzinfo is None:
        return [ProblemDetail(pointer, "give a UTC offset (…Z or +02:00)", "naive_date")]
    return []


def schedule_state(trigger: Trigger, workflow_id: uuid.UUID, status: str) -> TemporalScheduleState:
    """Paused if the user paused the trigger or the workflow is not active; the note says why.

    Pausing, not deleting, keeps the schedule's identity and recent actions, and a paused
    schedule reads as such (with its reason) in the Temporal Web UI.
    """
    if trigger.paused:
        note = f"paused through the Headrace API (workflow {workflow_id})"
    elif status != "active":
        note = f"paused while workflow {workflow_id} is {status}; resumes when it is active"
    else:
        note = f"schedule trigger of workflow {workflow_id}"
    return TemporalScheduleState(paused=trigger.paused or status != "active", note=note)


def _timestamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def _duration(text: str | None) -> timedelta | None:
    return parse_duration(text) if text is not None else None


def _instant(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text is not None else None


def _plain_memo(action: ScheduleActionStartWorkflow) -> dict[str, Any] | None:
    """The action's memo as values; None for one read back from Temporal (still encoded:
    such a schedule is being put back, and keeps the memo it was created with)."""
    memo = dict(action.memo or {})
    return None if any(isinstance(v, Payload) for v in memo.values()) else memo


def schedule_memo(workflow: Workflow) -> dict[str, str]:
    """The memo of a schedule (and of its launcher runs): which workflow it starts."""
    return {"headrace_workflow_id": str(workflow.id), "headrace_workflow_name": workflow.name}


@dataclass(frozen=True)
class Schedules:
    """The Temporal Schedules of schedule triggers, on the API's Temporal client."""

    temporal: TemporalGateway
    settings: Settings

    @classmethod
    def of(cls, ctx: AppContext) -> Schedules:
        return cls(ctx.temporal, ctx.settings)

    def build(self, trigger: Trigger, spec: ScheduleTrigger, workflow: Workflow) -> Schedule:
        """The Temporal Schedule a trigger row stands for."""
        action = ScheduleActionStartWorkflow(
            SCHEDULED_WORKFLOW,
            ScheduledRunInput(
                workflow_id=str(workflow.id),
                trigger_id=str(trigger.id),
                input=spec.input_data,
                created_by=str(workflow.owner_id),
                limits=run_limits(self.settings),
                dashboard_url=self.settings.base_url,
            ),
            id=f"headrace-scheduled-{trigger.id}",
            task_queue=self.settings.task_queue,
            static_summary=f"schedule trigger of workflow {workflow.name}",
            static_details=clip(
                f"Starts a run of [{markdown_text(workflow.name)}]"
                f"({self.settings.base_url}/workflows/{workflow.id}) at each action.",
                DETAILS_BYTES,
            ),
            # The schedule itself carries the same (create/update take them from here).
            typed_search_attributes=workflow_search_attributes(
                str(workflow.id), workflow.name, "schedule", str(workflow.owner_id)
            ),
            memo=schedule_memo(workflow),
        )
        every = _duration(spec.interval)
        return Schedule(
            action=action,
            spec=ScheduleSpec(
                cron_expressions=[spec.cron] if spec.cron else [],
                intervals=[ScheduleIntervalSpec(every=every)] if every else [],
                time_zone_name=spec.timezone,
                start_at=_instant(spec.start_at),
                end_at=_instant(spec.end_at),
                jitter=_duration(spec.jitter),
            ),
            policy=SchedulePolicy(
                overlap=OVERLAP[spec.overlap], catchup_window=_duration(spec.catchup_window)
            ),
            state=schedule_state(trigger, workflow.id, workflow.status),
        )

    async def _client(self) -> Client:
        return await self.temporal.client()

    async def _handle(self, trigger: Trigger) -> ScheduleHandle:
        return (await self._client()).get_schedule_handle(trigger.schedule_id or "")

    async def create(self, trigger: Trigger, schedule: Schedule, pointer: str) -> None:
        client = await self._client()
        action = schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        create = client.create_schedule(
            trigger.schedule_id or "",
            schedule,
            search_attributes=action.typed_search_attributes,
            memo=_plain_memo(action),
        )
        await _call(create, pointer)

    async def update(self, trigger: Trigger, schedule: Schedule, pointer: str) -> Schedule:
        """Replace the whole schedule (spec, action, policy and state); returns the old one."""
        previous: list[Schedule] = []

        def replace(current: ScheduleUpdateInput) -> ScheduleUpdate:
            previous[:] = [current.description.schedule]
            action = schedule.action
            attributes = (
                action.typed_search_attributes
                if isinstance(action, ScheduleActionStartWorkflow)
                else None
            )
            return ScheduleUpdate(schedule=schedule, search_attributes=attributes)

        await _call((await self._handle(trigger)).update(replace), pointer)
        return previous[0]

    async def current(self, trigger: Trigger) -> Schedule | None:
        """The schedule as Temporal has it now (None if it has none), to put back later."""
        try:
            return (await (await self._handle(trigger)).describe()).schedule
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return None
            raise _unavailable(exc) from exc

    async def put_back(self, trigger: Trigger, schedule: Schedule) -> None:
        """Make the schedule ``schedule`` again: updated if it exists, else re-created."""
        if await self.current(trigger) is None:
            await self.create(trigger, schedule, "")
        else:
            await self.update(trigger, schedule, "")

    async def set_state(self, trigger: Trigger, state: TemporalScheduleState) -> None:
        """Pause or unpause (with the state's note as the reason), leaving the rest as is."""
        handle = await self._handle(trigger)
        if state.paused:
            await _call(handle.pause(note=state.note), "")
        else:
            await _call(handle.unpause(note=state.note), "")

    async def delete(self, trigger: Trigger) -> None:
        """Delete the Temporal Schedule; one that is already gone is fine."""
        try:
            await (await self._handle(trigger)).delete()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise _unavailable(exc) from exc

    async def run_now(self, trigger: Trigger) -> None:
        handle = await self._handle(trigger)
        await _call(handle.trigger(overlap=ScheduleOverlapPolicy.ALLOW_ALL), "")

    async def backfill(
        self, trigger: Trigger, start: datetime, end: datetime, overlap: str
    ) -> None:
        client = await self._client()
        cap = self.settings.max_backfill_runs
        if await self._count_actions(client, trigger, start, end, cap=cap) > cap:
            raise InvalidInput(
                detail=f"the window holds more than {cap} runs",
                errors=[
                    ProblemDetail(
                        "/end",
                        f"the window holds more than {cap} runs, the most one backfill may "
                        "start (HEADRACE_MAX_BACKFILL_RUNS): backfill it in parts",
                        "limit_exceeded",
                    )
                ],
            )
        handle = client.get_schedule_handle(trigger.schedule_id or "")
        await _call(handle.backfill(ScheduleBackfill(start, end, OVERLAP[overlap])), "")

    async def _count_actions(
        self, client: Client, trigger: Trigger, start: datetime, end: datetime, *, cap: int
    ) -> int:
        """How many actions the schedule takes in [start, end], counting no further than
        past ``cap``. Temporal answers a bounded page of times per call, so this asks again
        from just after the last time it was given."""
        total, since = 0, start
        while total <= cap:
            try:
                page = await client.workflow_service.list_schedule_matching_times(
                    ListScheduleMatchingTimesRequest(
                        namespace=client.namespace,
                        schedule_id=trigger.schedule_id or "",
                        start_time=_timestamp(since),
                        end_time=_timestamp(end),
                    )
                )
            except RPCError as exc:
                raise _unavailable(exc) from exc
            if not page.start_time:
                break
            total += len(page.start_time)
            since = page.start_time[-1].ToDatetime(tzinfo=UTC) + timedelta(microseconds=1)
        return total

    async def describe(self, trigger: Trigger) -> ScheduleState | None:
        """Next fire times and recent actions; None if Temporal has no such schedule."""
        try:
            description = await (await self._handle(trigger)).describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return None
            raise _unavailable(exc) from exc
        info = description.info
        return ScheduleState(
            schedule_id=description.id,
            paused=description.schedule.state.paused,
            note=description.schedule.state.note,
            next_action_times=list(info.next_action_times[:SHOWN_NEXT]),
            recent_actions=[
                ScheduleAction(
                    scheduled_at=a.scheduled_at,
                    started_at=a.started_at,
                    execution_id=(
                        execution_id_for(a.action.workflow_id)
                        if isinstance(a.action, ScheduleActionExecutionStartWorkflow)
                        else None
                    ),
                )
                for a in info.recent_actions[-SHOWN_RECENT:]
            ],
            running=len(info.running_actions),
        )


async def _call(operation: Any, pointer: str) -> None:
    """Await a Temporal call; the server's refusal of a spec is a 422 at ``pointer``."""
    try:
        await operation
    except RPCError as exc:
        if exc.status == RPCStatusCode.INVALID_ARGUMENT:
            where = "/timezone" if "time zone" in exc.message else "/cron"
            raise InvalidInput(
                detail=exc.message,
                errors=[ProblemDetail(pointer + where, exc.message, "invalid_schedule")],
            ) from exc
        raise _unavailable(exc) from exc


def _unavailable(exc: RPCError) -> UpstreamUnavailable:
    return UpstreamUnavailable(detail=f"Temporal refused the schedule change: {exc.message}")
