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
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.service import RPCError

from api.context import AppContext
from api.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    ProblemDetail,
    UpstreamUnavailable,
    invalid,
    not_found,
)
from api.problems import json_pointer
from api.schemas.triggers import (
    BackfillRequest,
    ScheduleTrigger,
    TriggerPatch,
    TriggerPublic,
    TriggerSpec,
    WebhookAuth,
    WebhookTrigger,
)
from api.schemas.webhooks import (
    SecretRotation,
    WebhookAuthPublic,
    WebhookCreate,
    WebhookPublic,
    WebhookUpdate,
)
from api.services.access import editable_workflow, visible_workflow
from api.services.schedules import Schedules, check_spec, schedule_id_for, schedule_state
from api.services.webhook_auth import DEFAULT_TOKEN_HEADER
from core.access import is_admin
from core.encryption import Encryptor
from core.settings import Settings
from db.models import Trigger, User, Webhook, Workflow
from db.repositories.triggers import TriggerRepository, WebhookRepository
from temporal_workflows.durations import parse_duration
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
        errors = [
            ProblemDetail(
                pointer + json_pointer([p for p in e["loc"][1:] if isinstance(p, str | int)]),
                e["msg"],
                e["type"],
            )
            for e in exc.errors()
        ]
        raise InvalidInput(detail=errors[0].detail, errors=errors) from exc


def stored_config(spec: TriggerSpec) -> dict[str, Any]:
    """The spec as the workflow's ``triggers`` shows it: never a secret."""
    config = spec.model_dump(exclude_none=True)
    if isinstance(config.get("authentication"), dict):
        config["authentication"].pop("secret", None)
    return config


# --- webhook rows ---------------------------------------------------------------------


def webhook_url(settings: Settings, url_path: str) -> str:
    return f"{settings.base_url}/hooks/{url_path}"


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def _auth_config(auth: WebhookAuth, previous: Mapping[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if auth.type == "header":
        config["header"] = auth.header or DEFAULT_TOKEN_HEADER
    if auth.type == "hmac":
        config.update(
            preset=auth.preset, tolerance=auth.tolerance, require_timestamp=auth.require_timestamp
        )
    if auth.type != "none" and "previous_secret_encrypted" in previous:
        config["previous_secret_encrypted"] = previous["previous_secret_encrypted"]
        config["previous_expires_at"] = previous["previous_expires_at"]
    return config


class WebhookRows:
    """Creating and changing webhook rows; secrets are stored encrypted, shown once."""

    def __init__(self, session: AsyncSession, encryptor: Encryptor) -> None:
        self.session = session
        self.encryptor = encryptor
        self.repo = WebhookRepository(session)

    async def create(
        self, workflow: Workflow, trigger: Trigger, spec: WebhookTrigger, pointer: str
    ) -> tuple[Webhook, str | None]:
        """The webhook row of a new trigger, and its secret if it was generated."""
        url_path = spec.url_path or secrets.token_hex(12)
        await self._check_path(url_path, None, pointer)
        auth = spec.authentication
        secret = None if auth.type == "none" else (auth.secret or new_secret())
        webhook = Webhook(
            workflow_id=workflow.id,
            trigger_id=trigger.id,
            url_path=url_path,
            method=spec.method,
            event_type=spec.event_type,
            auth_type=auth.type,
            auth_config=_auth_config(auth, {}),
            secret_encrypted=self.encryptor.encrypt(secret) if secret else None,
            is_active=spec.is_active,
        )
        try:
            await self.repo.add(webhook)
        except IntegrityError as exc:  # a concurrent request took the path first
            raise _path_taken(url_path) from exc
        return webhook, secret if auth.secret is None else None

    async def update(self, webhook: Webhook, spec: WebhookTrigger, pointer: str) -> str | None:
        """Apply a changed spec; returns a secret only if one had to be generated."""
        if spec.url_path and spec.url_path != webhook.url_path:
            await self._check_path(spec.url_path, webhook.id, pointer)
            webhook.url_path = spec.url_path
        webhook.method, webhook.event_type = spec.method, spec.event_type
        webhook.is_active = spec.is_active
        auth = spec.authentication
        generated = None
        if auth.type == "none":
            webhook.secret_encrypted = None
        elif auth.secret is not None:
            webhook.secret_encrypted = self.encryptor.encrypt(auth.secret)
        elif webhook.secret_encrypted is None:
            generated = new_secret()
            webhook.secret_encrypted = self.encryptor.encrypt(generated)
        webhook.auth_type = auth.type
        webhook.auth_config = _auth_config(auth, webhook.auth_config or {})
        return generated

    async def rotate(self, webhook: Webhook, rotation: SecretRotation) -> str | None:
        """A new secret; the old one stays valid for the grace period. Returns it if generated."""
        if webhook.auth_type == "none" or webhook.secret_encrypted is None:
            raise Conflict(detail="This webhook has no secret to rotate (authentication none)")
        try:
            grace = parse_duration(rotation.grace_period)
        except ValueError as exc:
            raise invalid("/grace_period", str(exc), "invalid_duration") from exc
        config = {
            k: v for k, v in (webhook.auth_config or {}).items() if not k.startswith("previous_")
        }
        if grace > timedelta(0):
            config["previous_secret_encrypted"] = webhook.secret_encrypted
            config["previous_expires_at"] = (datetime.now(UTC) + grace).isoformat()
        secret = rotation.secret or new_secret()
        webhook.secret_encrypted = self.encryptor.encrypt(secret)
        webhook.auth_config = config
        return None if rotation.secret else secret

    async def _check_path(self, url_path: str, except_id: uuid.UUID | None, pointer: str) -> None:
        if await self.repo.path_taken(url_path, except_id=except_id):
            raise _path_taken(url_path)


def _path_taken(url_path: str) -> Conflict:
    return Conflict(detail=f"The webhook path {url_path!r} is already in use")


def webhook_public(
    settings: Settings, webhook: Webhook, trigger: Trigger | None, secret: str | None = None
) -> WebhookPublic:
    config = webhook.auth_config or {}
    expires = config.get("previous_expires_at")
    auth = WebhookAuthPublic(
        type=webhook.auth_type,
        header=config.get("header"),
        preset=config.get("preset"),
        tolerance=config.get("tolerance"),
        require_timestamp=config.get("require_timestamp"),
        previous_secret_expires_at=datetime.fromisoformat(expires) if expires else None,
    )
    return WebhookPublic(
        id=webhook.id,
        workflow_id=webhook.workflow_id,
        trigger_id=webhook.trigger_id,
        url_path=webhook.url_path,
        url=webhook_url(settings, webhook.url_path),
        method=webhook.method,
        event_type=webhook.event_type,
        authentication=auth,
        rate_limit=(trigger.config.get("rate_limit") if trigger else None) or {},
        is_active=webhook.is_active,
        created_at=webhook.created_at,
        updated_at=webhook.updated_at,
        secret=secret,
    )


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


# --- /api/v1/webhooks: webhook triggers seen as webhooks ---------------------------------


async def create_webhook(
    session: AsyncSession, deps: TriggerDeps, user: User, data: WebhookCreate
) -> WebhookPublic:
    raw = data.model_dump(exclude={"workflow_id"}, exclude_none=True)
    public = await add_trigger(session, deps, user, data.workflow_id, {"type": "webhook", **raw})
    return await get_webhook(session, deps, user, _webhook_id(public), secret=public.secret)


async def list_webhooks(
    session: AsyncSession,
    deps: TriggerDeps,
    user: User,
    *,
    workflow_id: uuid.UUID | None,
    limit: int,
    offset: int,
) -> tuple[list[WebhookPublic], int]:
    owner = None if is_admin(user) else user.id
    rows, total = await WebhookRepository(session).page(
        owner_id=owner, workflow_id=workflow_id, limit=limit, offset=offset
    )
    triggers = TriggerRepository(session)
    data = [
        webhook_public(deps.settings, w, await triggers.get(w.trigger_id) if w.trigger_id else None)
        for w in rows
    ]
    return data, total


async def get_webhook(
    session: AsyncSession,
    deps: TriggerDeps,
    user: User,
    webhook_id: uuid.UUID,
    *,
    secret: str | None = None,
) -> WebhookPublic:
    webhook, trigger = await _visible_webhook(session, user, webhook_id)
    return webhook_public(deps.settings, webhook, trigger, secret)


async def update_webhook(
    session: AsyncSession, deps: TriggerDeps, user: User, webhook_id: uuid.UUID, data: WebhookUpdate
) -> WebhookPublic:
    _, trigger = await _visible_webhook(session, user, webhook_id)
    patch = TriggerPatch.model_validate(data.model_dump(exclude_unset=True))
    public = await update_trigger(session, deps, user, trigger.id, patch)
    return await get_webhook(session, deps, user, webhook_id, secret=public.secret)


async def delete_webhook(
    session: AsyncSession, deps: TriggerDeps, user: User, webhook_id: uuid.UUID
) -> None:
    _, trigger = await _visible_webhook(session, user, webhook_id)
    await delete_trigger(session, deps, user, trigger.id)


async def rotate_webhook_secret(
    session: AsyncSession,
    deps: TriggerDeps,
    user: User,
    webhook_id: uuid.UUID,
    rotation: SecretRotation,
) -> WebhookPublic:
    webhook, trigger = await _visible_webhook(session, user, webhook_id)
    await editable_workflow(session, user, webhook.workflow_id)
    secret = await WebhookRows(session, deps.encryptor).rotate(webhook, rotation)
    await session.commit()
    return webhook_public(deps.settings, webhook, trigger, secret)


async def _visible_webhook(
    session: AsyncSession, user: User, webhook_id: uuid.UUID
) -> tuple[Webhook, Trigger]:
    webhook = await WebhookRepository(session).get(webhook_id)
    trigger = (
        await TriggerRepository(session).get(webhook.trigger_id)
        if webhook and webhook.trigger_id
        else None
    )
    if webhook is None or trigger is None:
        raise not_found("Webhook", webhook_id)
    try:
        await visible_workflow(session, user, webhook.workflow_id)
    except NotFound:
        raise not_found("Webhook", webhook_id) from None
    return webhook, trigger


def _webhook_id(public: TriggerPublic) -> uuid.UUID:
    assert public.webhook_id is not None
    return public.webhook_id


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
