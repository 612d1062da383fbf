"""Triggers: rows in ``triggers`` (and ``webhooks``), kept in step with Temporal Schedules.

A workflow's ``triggers`` field and the trigger endpoints edit the same rows: the field is
rewritten from the rows after every change. A ``schedule`` trigger owns exactly one Temporal
Schedule (id ``headrace-trigger-<trigger id>``); a ``webhook`` trigger owns one webhook row.

Temporal and the database change as one unit (:func:`trigger_change`): Temporal is changed
first, so a spec it refuses is a 422 before anything is stored, and each Temporal change
records its inverse; if the request or its commit then fails, the inverses run (created
schedules are deleted, updated or paused ones put back, deleted ones re-created), so
Temporal keeps no schedule the database does not know of, and loses none it does.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.service import RPCError

from api.context import AppContext
from api.errors import (
    InvalidInput,
    NotFound,
    ProblemDetail,
    UpstreamUnavailable,
    not_found,
)
from api.schemas.triggers import (
    BackfillRequest,
    ScheduleTrigger,
    TriggerPatch,
    TriggerPublic,
    TriggerSpec,
    WebhookTrigger,
)
from api.services.access import editable_workflow, visible_workflow
from api.services.schedules import Schedules, check_spec, schedule_id_for, schedule_state
from api.services.trigger_problems import trigger_problems
from api.services.webhook_rows import WebhookRows, webhook_url
from core.encryption import Encryptor
from core.settings import Settings
from db.models import Trigger, User, Webhook, Workflow
from db.repositories.triggers import TriggerRepository, WebhookRepository
from temporal_workflows.validation import validate_definition, validate_input

log = logging.getLogger(__name__)
_spec_adapter: TypeAdapter[TriggerSpec] = TypeAdapter(TriggerSpec)


@dataclass(frozen=True)
class TriggerDeps:
    """What trigger changes need besides the session: Temporal, the encryptor, settings."""

    schedules: Schedules
    encryptor: Encryptor
    settings: Settings

    @classmethod
    def of(cls, ctx: AppContext) -> TriggerDeps:
        return cls(Schedules.of(ctx), ctx.encryptor, ctx.settings)


Undo = Callable[[], Awaitable[None]]


@dataclass
class Change:
    """One request's trigger changes and, for each Temporal change, how to undo it."""

    deps: TriggerDeps
    session: AsyncSession
    undos: list[tuple[str, Undo]] = field(default_factory=list)
    # Schedules this change already built with the workflow's current status.
    touched: set[uuid.UUID] = field(default_factory=set)
    secrets: dict[uuid.UUID, str] = field(default_factory=dict)

    def on_failure(self, trigger: Trigger, undo: Undo) -> None:
        """Remember how to undo a Temporal change made for ``trigger``."""
        self.undos.append((trigger.schedule_id or str(trigger.id), undo))

    async def undo(self) -> None:
        """Undo the Temporal changes, newest first; each runs at most once."""
        while self.undos:
            schedule_id, step = self.undos.pop()
            try:
                await step()
            except (UpstreamUnavailable, RPCError) as exc:
                # The request's own error is what the caller must see; this one is logged.
                log.warning("could not undo the change of schedule %s: %s", schedule_id, exc)


@asynccontextmanager
async def trigger_change(session: AsyncSession, deps: TriggerDeps) -> AsyncIterator[Change]:
    """Change triggers (Temporal first) inside the block, then commit the session.

    If the block raises or the commit fails, every Temporal change made through the
    :class:`Change` is undone before the error goes on.
    """
    change = Change(deps, session)
    try:
        yield change
        await session.commit()
    except BaseException:
        await change.undo()
        raise


def parse_spec(raw: dict[str, Any], pointer: str) -> TriggerSpec:
    try:
        return _spec_adapter.validate_python(raw)
    except ValidationError as exc:
        errors = trigger_problems(exc.errors(), pointer, indexed=False)
        raise InvalidInput(detail=errors[0].detail, errors=errors) from exc


def stored_config(spec: TriggerSpec) -> dict[str, Any]:
    """The spec as the workflow's ``triggers`` shows it: never a secret."""
    config = spec.model_dump(exclude_none=True)
    if isinstance(config.get("authentication"), dict):
        config["authentication"].pop("secret", None)
    return config


# --- a workflow's whole list ----------------------------------------------------------


async def replace_workflow_triggers(
    change: Change, workflow: Workflow, raw: Sequence[dict[str, Any]]
) -> None:
    """Make the workflow's trigger rows (and schedules) match ``raw``, its ``triggers``.

    A trigger whose stored form is unchanged is kept as it is; a webhook with the same
    ``url_path`` is updated in place (its secret kept unless a new one is given); any
    other trigger is deleted and the new ones are created. Runs inside
    :func:`trigger_change`, which commits (or undoes) it.
    """
    specs = [parse_spec(dict(r), f"/triggers/{i}") for i, r in enumerate(raw)]
    existing = list(await TriggerRepository(change.session).for_workflow(workflow.id))
    if not specs and not existing:
        workflow.triggers = []
        return
    _check_schedules(workflow, [(s, f"/triggers/{i}") for i, s in enumerate(specs)])
    await _apply(change, workflow, specs, existing)


async def follow_workflow_status(change: Change, workflow: Workflow, previous_status: str) -> None:
    """Pause the workflow's schedules when it stops being active; resume them when it is again.

    Triggers the user paused stay paused either way (their ``paused`` column is untouched).
    """
    rows = await TriggerRepository(change.session).for_workflow(workflow.id)
    for trigger in rows:
        if trigger.type != "schedule" or trigger.paused or trigger.id in change.touched:
            continue
        before = schedule_state(trigger, workflow.id, previous_status)
        after = schedule_state(trigger, workflow.id, workflow.status)
        if before.paused == after.paused:
            continue
        await change.deps.schedules.set_state(trigger, after)
        change.on_failure(trigger, partial(change.deps.schedules.set_state, trigger, before))


async def _apply(
    change: Change, workflow: Workflow, specs: list[TriggerSpec], existing: list[Trigger]
) -> None:
    kept, updates, creates = _match(specs, existing)
    matched = {t.id for t in kept.values()} | {t.id for t in updates.values()}
    for trigger in existing:
        if trigger.id not in matched:
            await _delete(change, trigger)
    rows: list[Trigger] = []
    for i, spec in enumerate(specs):
        pointer = f"/triggers/{i}"
        if i in kept:
            rows.append(kept[i])
        elif i in updates:
            rows.append(await _update(change, workflow, updates[i], spec, pointer))
        else:
            assert i in creates
            rows.append(await _create(change, workflow, spec, pointer))
    workflow.triggers = [t.config for t in rows]


def _match(
    specs: list[TriggerSpec], existing: list[Trigger]
) -> tuple[dict[int, Trigger], dict[int, Trigger], set[int]]:
    free = list(existing)
    kept: dict[int, Trigger] = {}
    updates: dict[int, Trigger] = {}
    for i, spec in enumerate(specs):
        has_secret = isinstance(spec, WebhookTrigger) and spec.authentication.secret is not None
        same = next((t for t in free if t.config == stored_config(spec)), None)
        if same is not None and not has_secret:
            kept[i] = same
            free.remove(same)
    for i, spec in enumerate(specs):
        if i in kept or not isinstance(spec, WebhookTrigger) or spec.url_path is None:
            continue
        same_path = next((t for t in free if t.config.get("url_path") == spec.url_path), None)
        if same_path is not None:
            updates[i] = same_path
            free.remove(same_path)
    creates = {i for i in range(len(specs))} - set(kept) - set(updates)
    return kept, updates, creates


def _check_schedules(workflow: Workflow, specs: Sequence[tuple[TriggerSpec, str]]) -> None:
    """422 for every problem of the schedule specs, each at its pointer."""
    problems: list[ProblemDetail] = []
    for spec, pointer in specs:
        if isinstance(spec, ScheduleTrigger):
            problems += _schedule_problems(workflow, spec, pointer)
    if problems:
        raise InvalidInput(detail=problems[0].detail, errors=problems)


def _schedule_problems(
    workflow: Workflow, spec: ScheduleTrigger, pointer: str
) -> list[ProblemDetail]:
    problems = check_spec(spec, pointer)
    definition = validate_definition(workflow.definition)
    problems += [
        ProblemDetail(pointer + p.pointer, p.message, p.code)
        for p in validate_input(definition, spec.input_data)
    ]
    return problems


# --- one trigger --------------------------------------------------------------------------


async def _create(change: Change, workflow: Workflow, spec: TriggerSpec, pointer: str) -> Trigger:
    trigger_id = uuid.uuid4()
    trigger = Trigger(
        id=trigger_id,
        workflow_id=workflow.id,
        type=spec.type,
        config=stored_config(spec),
        paused=isinstance(spec, ScheduleTrigger) and spec.paused,
        schedule_id=schedule_id_for(trigger_id) if isinstance(spec, ScheduleTrigger) else None,
    )
    await TriggerRepository(change.session).add(trigger)
    if isinstance(spec, WebhookTrigger):
        rows = WebhookRows(change.session, change.deps.encryptor)
        webhook, secret = await rows.create(workflow, trigger, spec, pointer)
        trigger.config = {**trigger.config, "url_path": webhook.url_path}
        if secret is not None:
            change.secrets[trigger.id] = secret
    elif isinstance(spec, ScheduleTrigger):
        schedule = change.deps.schedules.build(trigger, spec, workflow)
        await change.deps.schedules.create(trigger, schedule, pointer)
        change.on_failure(trigger, partial(change.deps.schedules.delete, trigger))
        change.touched.add(trigger.id)
    return trigger


async def _update(
    change: Change, workflow: Workflow, trigger: Trigger, spec: TriggerSpec, pointer: str
) -> Trigger:
    if isinstance(spec, WebhookTrigger):
        rows = WebhookRows(change.session, change.deps.encryptor)
        webhook = await WebhookRepository(change.session).for_trigger(trigger.id)
        if webhook is None:
            raise not_found("Webhook of trigger", trigger.id)
        secret = await rows.update(webhook, spec, pointer)
        if secret is not None:
            change.secrets[trigger.id] = secret
        trigger.config = {**stored_config(spec), "url_path": webhook.url_path}
    elif isinstance(spec, ScheduleTrigger):
        trigger.config, trigger.paused = stored_config(spec), spec.paused
        schedule = change.deps.schedules.build(trigger, spec, workflow)
        # An update replaces the state too, so this also pauses or unpauses it.
        previous = await change.deps.schedules.update(trigger, schedule, pointer)
        change.on_failure(trigger, partial(change.deps.schedules.put_back, trigger, previous))
        change.touched.add(trigger.id)
    else:
        trigger.config = stored_config(spec)
    return trigger


async def _delete(change: Change, trigger: Trigger) -> None:
    if trigger.type == "schedule":
        await _delete_schedule(change, trigger)
    await TriggerRepository(change.session).delete(trigger)


async def _delete_schedule(change: Change, trigger: Trigger) -> None:
    schedules = change.deps.schedules
    previous = await schedules.current(trigger)
    await schedules.delete(trigger)
    if previous is not None:
        change.on_failure(trigger, partial(schedules.put_back, trigger, previous))


async def _refresh_workflow(session: AsyncSession, workflow: Workflow) -> None:
    rows = await TriggerRepository(session).for_workflow(workflow.id)
    workflow.triggers = [t.config for t in rows]


# --- the trigger endpoints -------------------------------------------------------------


async def list_triggers(
    session: AsyncSession, deps: TriggerDeps, user: User, workflow_id: uuid.UUID
) -> list[TriggerPublic]:
    workflow = await visible_workflow(session, user, workflow_id)
    rows = await TriggerRepository(session).for_workflow(workflow.id)
    webhooks = await WebhookRepository(session).for_triggers([t.id for t in rows])
    return [await _public(deps, t, webhooks.get(t.id)) for t in rows]


async def get_trigger(
    session: AsyncSession, deps: TriggerDeps, user: User, trigger_id: uuid.UUID
) -> TriggerPublic:
    trigger, _ = await _visible_trigger(session, user, trigger_id)
    webhook = await WebhookRepository(session).for_trigger(trigger.id)
    return await _public(deps, trigger, webhook)


async def add_trigger(
    session: AsyncSession,
    deps: TriggerDeps,
    user: User,
    workflow_id: uuid.UUID,
    raw: dict[str, Any],
) -> TriggerPublic:
    workflow = await editable_workflow(session, user, workflow_id)
    spec = parse_spec(raw, "")
    _check_schedules(workflow, [(spec, "")])
    async with trigger_change(session, deps) as change:
        trigger = await _create(change, workflow, spec, "")
        await _refresh_workflow(session, workflow)
    webhook = await WebhookRepository(session).for_trigger(trigger.id)
    public = await _public(deps, trigger, webhook)
    return public.model_copy(update={"secret": change.secrets.get(trigger.id)})


async def update_trigger(
    session: AsyncSession, deps: TriggerDeps, user: User, trigger_id: uuid.UUID, patch: TriggerPatch
) -> TriggerPublic:
    trigger, workflow = await _editable_trigger(session, user, trigger_id)
    merged = {**trigger.config, **patch.model_dump(exclude_unset=True)}
    spec = parse_spec(merged, "")
    _check_schedules(workflow, [(spec, "")])
    async with trigger_change(session, deps) as change:
        await _update(change, workflow, trigger, spec, "")
        await _refresh_workflow(session, workflow)
    webhook = await WebhookRepository(session).for_trigger(trigger.id)
    public = await _public(deps, trigger, webhook)
    return public.model_copy(update={"secret": change.secrets.get(trigger.id)})


async def delete_trigger(
    session: AsyncSession, deps: TriggerDeps, user: User, trigger_id: uuid.UUID
) -> None:
    trigger, workflow = await _editable_trigger(session, user, trigger_id)
    async with trigger_change(session, deps) as change:
        await _delete(change, trigger)
        await _refresh_workflow(session, workflow)


async def delete_workflow_triggers(change: Change, workflow: Workflow) -> None:
    """Before a workflow is deleted: delete its Temporal Schedules (rows go by cascade)."""
    rows = await TriggerRepository(change.session).for_workflow(workflow.id)
    for trigger in rows:
        if trigger.type == "schedule":
            await _delete_schedule(change, trigger)


async def schedule_trigger(session: AsyncSession, user: User, trigger_id: uuid.UUID) -> Trigger:
    """A schedule trigger the caller may run (run-now, backfill); 409 for other types."""
    trigger, _ = await _visible_trigger(session, user, trigger_id)
    if trigger.type != "schedule":
        raise InvalidInput(
            detail="Only schedule triggers can be run now or backfilled",
            errors=[ProblemDetail("/path/trigger_id", "not a schedule trigger", "wrong_type")],
        )
    await editable_workflow(session, user, trigger.workflow_id)
    return trigger


async def _visible_trigger(
    session: AsyncSession, user: User, trigger_id: uuid.UUID
) -> tuple[Trigger, Workflow]:
    trigger = await TriggerRepository(session).get(trigger_id)
    if trigger is None:
        raise not_found("Trigger", trigger_id)
    try:
        workflow = await visible_workflow(session, user, trigger.workflow_id)
    except NotFound:
        raise not_found("Trigger", trigger_id) from None
    return trigger, workflow


async def _editable_trigger(
    session: AsyncSession, user: User, trigger_id: uuid.UUID
) -> tuple[Trigger, Workflow]:
    trigger, _ = await _visible_trigger(session, user, trigger_id)
    return trigger, await editable_workflow(session, user, trigger.workflow_id)


async def _public(deps: TriggerDeps, trigger: Trigger, webhook: Webhook | None) -> TriggerPublic:
    public = TriggerPublic.model_validate(trigger)
    if trigger.type == "schedule":
        with suppress(UpstreamUnavailable):  # the row is worth showing without Temporal
            public.schedule = await deps.schedules.describe(trigger)
    if webhook is not None:
        public.webhook_id = webhook.id
        public.url = webhook_url(deps.settings, webhook.url_path)
    return public


# --- run-now and backfill ---------------------------------------------------------------


async def run_now(
    session: AsyncSession, deps: TriggerDeps, user: User, trigger_id: uuid.UUID
) -> Trigger:
    """Fire the schedule once now (whatever its overlap policy and even when paused)."""
    trigger = await schedule_trigger(session, user, trigger_id)
    await deps.schedules.run_now(trigger)
    return trigger


async def backfill(
    session: AsyncSession,
    deps: TriggerDeps,
    user: User,
    trigger_id: uuid.UUID,
    request: BackfillRequest,
) -> Trigger:
    """Run every action the schedule would have taken between ``start`` and ``end``."""
    trigger = await schedule_trigger(session, user, trigger_id)
    await deps.schedules.backfill(trigger, request.start, request.end, request.overlap)
    return trigger
