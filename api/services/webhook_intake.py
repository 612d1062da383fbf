"""Receiving a webhook call on ``/hooks/{url_path}`` (the rows live in ``triggers``).

Receiving, in order: find the active webhook (404), check the method (405), verify the
caller (401, see :mod:`api.services.webhook_auth`), count against the webhook's rate limit
(429), parse the body off the event loop within the form limits (422); then, for an
``Idempotency-Key`` seen in the last 24 h, answer with the run that key started (and start
it, if Temporal was away when it was first accepted: see
:func:`api.services.executions.start_pending`); else refuse a timestamped signature seen
before (401: seen signatures are rows of ``webhook_signatures``, so every API replica sees
them) and start the run.

Idempotency needs no table: the key maps to a deterministic execution id (UUIDv5 of the
webhook and the key), which is also the Temporal workflow id. The executions table's
primary key and Temporal's workflow-id uniqueness let exactly one of any number of
concurrent duplicates (in any number of API processes) start the run.

Why one module of this length: it is one pipeline whose order is the security property
(nothing is parsed before the caller is verified and counted, nothing is stored half).
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import json
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import parse_qsl

import anyio
from python_multipart import FormParser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import Field, File, parse_options_header
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from api.errors import (
    AuthenticationFailed,
    Conflict,
    InvalidInput,
    MethodNotAllowed,
    NotFound,
    RateLimited,
    RunFailed,
    invalid,
)
from api.rate_limit import Limiter, retry_after_header
from api.schemas.executions import ExecuteResult
from api.schemas.storable import without_lone_surrogates
from api.schemas.webhooks import HookAccepted
from api.services.executions import (
    accepted,
    start_execution,
    start_pending,
    started,
    wait_for_result,
)
from api.services.webhook_answers import TERMINAL_FAILURES, EndedRun, custom_answer, failure
from api.services.webhook_auth import AuthScheme, verify, visible_headers
from core.encryption import DecryptionError, Encryptor
from core.settings import Settings
from db.models import Execution, Trigger, Webhook, WebhookSignature, Workflow
from db.repositories.triggers import WebhookRepository, execution_by_id
from db.repositories.workflows import WorkflowRepository
from temporal_workflows.durations import parse_duration
from temporal_workflows.responses import RenderedResponse

IDEMPOTENCY_WINDOW = timedelta(hours=24)
# Fixed forever: idempotent execution ids are derived from it.
IDEMPOTENCY_NAMESPACE = uuid.UUID("0b7e4a8c-2f61-4d39-9c5e-51a3f8d2e6b4")
MAX_KEY_GENERATIONS = 10_000
CONTROL_QUERY = ("wait",)
_V = TypeVar("_V")


def accepted_secrets(webhook: Webhook, encryptor: Encryptor, now: datetime) -> list[str]:
    """The current secret, plus the rotated-out one while its grace period lasts."""
    found: list[str] = []
    config = webhook.auth_config or {}
    try:
        if webhook.secret_encrypted:
            found.append(encryptor.decrypt(webhook.secret_encrypted))
        expires = config.get("previous_expires_at")
        if expires and datetime.fromisoformat(expires) > now:
            found.append(encryptor.decrypt(config["previous_secret_encrypted"]))
    except DecryptionError:
        pass  # a secret encrypted under another HEADRACE_SECRET_KEY matches nothing
    return found


# --- receiving ------------------------------------------------------------------------


@dataclass(frozen=True)
class IncomingCall:
    """One request to ``/hooks/{url_path}``, as the router read it."""

    url_path: str
    method: str
    headers: Mapping[str, str]
    query: Sequence[tuple[str, str]]
    body: bytes
    wait: bool = False


@dataclass(frozen=True)
class HookDeps:
    client: Client
    settings: Settings
    encryptor: Encryptor
    limiter: Limiter


@dataclass(frozen=True)
class HookAnswer:
    """The answer: ``result`` with ``status_code``, unless the run's ``response`` built one."""

    result: HookAccepted
    status_code: int
    custom: RenderedResponse | None = None
    problem: RunFailed | None = None  # the run failed and the definition has no response


async def receive(session: AsyncSession, deps: HookDeps, call: IncomingCall) -> HookAnswer:
    """Authenticate a webhook call and start its run (or find the run its key started)."""
    found = await WebhookRepository(session).receiving(call.url_path)
    if found is None or not found[0].is_active:
        raise NotFound(detail=f"No active webhook at /hooks/{call.url_path}")
    webhook, trigger, workflow = found
    if call.method != webhook.method:
        raise MethodNotAllowed(
            detail=f"This webhook accepts {webhook.method} only", headers={"Allow": webhook.method}
        )
    settings = deps.settings
    scheme = AuthScheme.of(
        webhook.auth_type, webhook.auth_config or {}, settings.webhook_timestamp_tolerance
    )
    secrets_now = accepted_secrets(webhook, deps.encryptor, datetime.now(UTC))
    verified = verify(scheme, secrets_now, call.headers, call.body, time.time())
    await _within_rate_limit(deps.limiter, webhook, trigger)
    if workflow.status != "active":
        raise Conflict(detail=f"Workflow {workflow.id} is {workflow.status}: it starts no runs")
    limits = BodyLimits(
        settings.webhook_max_form_fields,
        settings.webhook_max_field_size,
        settings.webhook_max_files,
    )
    # Parsing a large form or JSON body is CPU work: off the loop, so other calls go on.
    body = await anyio.to_thread.run_sync(
        functools.partial(parse_body, call.body, call.headers.get("content-type", ""), limits)
    )
    run_input = {
        "body": body,
        "query": _multi([(k, v) for k, v in call.query if k not in CONTROL_QUERY]),
        "headers": visible_headers(call.headers, scheme),
        "method": call.method,
        "event_type": webhook.event_type,
    }
    key = call.headers.get("idempotency-key") or verified.delivery_id
    claim = _SignatureClaim(webhook, verified.replay_key, verified.replay_ttl)
    execution, duplicate = await _start_once(
        session, deps, trigger, workflow, run_input, key, claim
    )
    return await _answer(session, deps, workflow, execution, duplicate, call.wait)


@dataclass(frozen=True)
class _SignatureClaim:
    webhook: Webhook
    replay_key: str | None
    ttl: float

    async def take(self, session: AsyncSession) -> None:
        if self.replay_key:
            await _claim_signature(session, self.webhook, self.replay_key, self.ttl)


async def _claim_signature(
    session: AsyncSession, webhook: Webhook, replay_key: str, ttl: float
) -> None:
    """Record a timestamped signature's one use; 401 if any replica recorded it before.

    The row is committed with the run's execution row (one transaction), so a call that
    fails before its run is recorded may be sent again. On PostgreSQL a concurrent use of
    the same signature waits for the first transaction, then fails here.
    """
    key = hashlib.sha256(f"{webhook.id}\n{replay_key}".encode()).hexdigest()
    expires = datetime.now(UTC) + timedelta(seconds=ttl)
    session.add(WebhookSignature(key=key, expires_at=expires))
    try:
        await session.flush()
    except IntegrityError:
        await session.rollback()
        raise AuthenticationFailed(detail="This signature was already used", headers={}) from None


async def forget_expired_signatures(session: AsyncSession) -> None:
    """Delete seen signatures whose timestamps can no longer pass the tolerance check."""
    await session.execute(
        delete(WebhookSignature).where(WebhookSignature.expires_at < datetime.now(UTC))
    )
    await session.commit()


async def _within_rate_limit(limiter: Limiter, webhook: Webhook, trigger: Trigger) -> None:
    limit = trigger.config.get("rate_limit") or {}
    requests = int(limit.get("requests", 100))
    window = parse_duration(str(limit.get("per", "1s"))).total_seconds()
    retry_after = await limiter.hit(f"hook:{webhook.id}", requests, window)
    if retry_after is not None:
        raise RateLimited(
            detail=f"More than {requests} calls per {limit.get('per', '1s')} to this webhook",
            headers={"Retry-After": retry_after_header(retry_after)},
        )


async def _start_once(
    session: AsyncSession,
    deps: HookDeps,
    trigger: Trigger,
    workflow: Workflow,
    run_input: dict[str, Any],
    key: str | None,
    claim: _SignatureClaim,
) -> tuple[Execution, bool]:
    """Start the run; with a key, the first run of that key in 24 h is the only one.

    A call whose key already has a run gets that run, even if it repeats a signed call
    word for word (a sender retrying a call whose answer it lost): it starts nothing, so
    it is no replay. Any other call claims its signature's one use first.
    """
    execution_id = None
    if key:
        execution_id, existing = await _idempotent_id(session, trigger.id, key)
        if existing is not None:
            if existing.status == "pending":
                # Accepted while Temporal was away (or its API died before starting it):
                # start it now. Harmless if the sweeper or another replica just did.
                await start_pending(session, deps.client, deps.settings, existing)
            return existing, True
    await claim.take(session)
    try:
        execution = await start_execution(
            session,
            deps.client,
            deps.settings,
            workflow.owner_id,  # webhook runs count against the owner's quota
            workflow,
            input_data=run_input,
            variables={},
            trigger_type="webhook",
            trigger_id=trigger.id,
            execution_id=execution_id,
        )
    except IntegrityError:
        # A concurrent request with the same key inserted this execution id first.
        await session.rollback()
        assert execution_id is not None
        winner = await execution_by_id(session, execution_id)
        if winner is None:
            raise
        return winner, True
    return execution, False


async def _idempotent_id(
    session: AsyncSession, trigger_id: uuid.UUID, key: str
) -> tuple[uuid.UUID, Execution | None]:
    """The execution id for ``key``, and the execution already there if it is recent.

    Ids form a chain: once a key's execution is older than the window, the next id is
    derived from it, so the same key a day later starts a new run, deterministically.
    """
    candidate = uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{trigger_id}\n{key}")
    cutoff = datetime.now(UTC) - IDEMPOTENCY_WINDOW
    for _ in range(MAX_KEY_GENERATIONS):
        existing = await execution_by_id(session, candidate)
        if existing is None or existing.created_at > cutoff:
            return candidate, existing
        candidate = uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{candidate}\n{key}")
    raise Conflict(detail="This Idempotency-Key has been used too often; use a new one")


async def _answer(
    session: AsyncSession,
    deps: HookDeps,
    workflow: Workflow,
    execution: Execution,
    duplicate: bool,
    wait: bool,
) -> HookAnswer:
    if not duplicate and not started(execution):
        wait = False  # pending in the outbox: nothing to wait for until Temporal is back
    if not wait:
        status = execution.status if duplicate else accepted(execution).status
        answer = HookAccepted(execution_id=execution.id, status=status, duplicate=duplicate)
        return HookAnswer(answer, 202)
    result = await _wait(session, deps, execution)
    answer = HookAccepted(
        execution_id=execution.id,
        status=result.status,
        duplicate=duplicate,
        result=result.result,
        error=result.error,
    )
    if result.status not in ("completed", *TERMINAL_FAILURES):
        return HookAnswer(answer, 202)  # still going (waiting, paused...) when the wait ended
    definition = await _definition_of(session, workflow, execution)
    try:
        custom = custom_answer(EndedRun(execution, workflow, definition, answer))
    except RunFailed as unbuildable:
        return HookAnswer(answer, 500, problem=unbuildable)
    if custom is not None:
        return HookAnswer(answer, custom.status, custom)
    if result.status in TERMINAL_FAILURES:
        return HookAnswer(answer, 500, problem=failure(answer))
    return HookAnswer(answer, 200)


async def _definition_of(
    session: AsyncSession, workflow: Workflow, execution: Execution
) -> dict[str, Any]:
    """The definition the run started with (a duplicate's run may predate an edit)."""
    if execution.version == workflow.version:
        return workflow.definition
    version = await WorkflowRepository(session).version(workflow.id, execution.version)
    return version.definition if version is not None else {}


async def _wait(session: AsyncSession, deps: HookDeps, execution: Execution) -> ExecuteResult:
    """Like a synchronous execute; a duplicate's run may still be starting, so retry briefly."""
    deadline = time.monotonic() + deps.settings.sync_wait
    while True:
        remaining = max(0.0, deadline - time.monotonic())
        try:
            # An express run's answer does not wait for its events to be stored.
            return await wait_for_result(session, deps.client, execution, remaining, stored=False)
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            if remaining <= 0:  # not in Temporal yet: the sweeper starts it
                return ExecuteResult(execution_id=execution.id, status=execution.status)
            await asyncio.sleep(0.05)


@dataclass(frozen=True)
class BodyLimits:
    """Caps of a form body (the whole body is already capped by HEADRACE_MAX_BODY)."""

    max_fields: int = 1000  # parts of a form, files included
    max_field_size: int = 1024 * 1024  # bytes of one non-file field
    max_files: int = 20


def parse_body(body: bytes, content_type: str, limits: BodyLimits | None = None) -> Any:
    """JSON, urlencoded and multipart bodies parsed; anything else as text (or base64).

    Blocking CPU work: :func:`receive` calls it in a worker thread.
    """
    if not body:
        return None
    limits = limits or BodyLimits()
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        try:  # (Temporal's JSON cannot carry lone surrogates: U+FFFD, as stored)
            return without_lone_surrogates(json.loads(body))
        except (ValueError, RecursionError) as exc:
            raise invalid("/body", f"the body is not valid JSON: {exc}", "invalid_json") from exc
    if media == "application/x-www-form-urlencoded":
        return _multi(_urlencoded(body, limits))
    if media == "multipart/form-data":
        return parse_multipart(body, content_type, limits)
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(body).decode()}


def _urlencoded(body: bytes, limits: BodyLimits) -> list[tuple[str, str]]:
    try:
        pairs = parse_qsl(
            body.decode("utf-8", "replace"),
            keep_blank_values=True,
            max_num_fields=limits.max_fields,
        )
    except ValueError as exc:  # more fields than max_num_fields
        raise _too_many_fields(limits) from exc
    for name, value in pairs:
        _check_field_size(name, value, limits)
    return pairs


def _too_many_fields(limits: BodyLimits) -> InvalidInput:
    detail = f"the form has more than {limits.max_fields} fields"
    return invalid("/body", detail, "too_many_fields")


def _check_field_size(name: str, value: str, limits: BodyLimits) -> None:
    if len(value) > limits.max_field_size:
        detail = f"form field {name!r} is larger than {limits.max_field_size} bytes"
        raise invalid("/body", detail, "field_too_large")


class _FormRefused(Exception):
    """A limit of :class:`BodyLimits` was passed while the form was being parsed."""

    def __init__(self, problem: InvalidInput) -> None:
        super().__init__(problem.detail)
        self.problem = problem


def parse_multipart(
    body: bytes, content_type: str, limits: BodyLimits | None = None
) -> dict[str, Any]:
    """``multipart/form-data`` as ``{name: value}``; a name given more than once maps to a list.

    A field's value is its text (bytes that are not UTF-8 become U+FFFD); a file part (one
    with a ``filename``) becomes ``{filename, content_type, size, content_base64}``, since the
    run's input is JSON. A body the parser refuses, or one that stops before the closing
    boundary, is a 422 at ``/body``: never a run with half a form. So is one past ``limits``
    (the parser stops at the first part over a limit).
    """
    limits = limits or BodyLimits()
    parts: list[tuple[str, Any]] = []
    files: list[bool] = []
    ended: list[bool] = []

    def on_field(field: Field) -> None:
        name, value = _field_part(field)
        try:
            _check_field_size(name, value, limits)
        except InvalidInput as exc:
            raise _FormRefused(exc) from None
        add(name, value)

    def on_file(upload: File) -> None:
        files.append(True)
        if len(files) > limits.max_files:
            detail = f"the form has more than {limits.max_files} files"
            raise _FormRefused(invalid("/body", detail, "too_many_files"))
        add(*_file_part(upload))

    def add(name: str, value: Any) -> None:
        if len(parts) >= limits.max_fields:
            raise _FormRefused(_too_many_fields(limits))
        parts.append((name, value))

    _, params = parse_options_header(content_type)
    try:
        parser = FormParser(
            "multipart/form-data",
            on_field,
            on_file,
            on_end=lambda: ended.append(True),
            boundary=params.get(b"boundary"),
            # The body is already in memory and size-limited (HEADRACE_MAX_BODY): no temp files.
            config={"MAX_MEMORY_FILE_SIZE": float("inf")},
        )
        parser.write(body)
        parser.finalize()
    except _FormRefused as refused:
        raise refused.problem from None
    except FormParserError as exc:
        detail = f"the multipart body is malformed: {exc}"
        raise invalid("/body", detail, "invalid_multipart") from exc
    if not ended:  # the parser does not check that the closing boundary came
        detail = "the multipart body ends before its closing boundary"
        raise invalid("/body", detail, "invalid_multipart")
    return _multi(parts)


def _field_part(field: Field) -> tuple[str, str]:
    return _text(field.field_name or b""), _text(field.value or b"")


def _file_part(upload: File) -> tuple[str, dict[str, Any]]:
    upload.file_object.seek(0)
    content = upload.file_object.read()
    return _text(upload.field_name or b""), {
        "filename": _text(upload.file_name or b""),
        "content_type": upload.content_type or "application/octet-stream",
        "size": len(content),
        "content_base64": base64.b64encode(content).decode(),
    }


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def _multi(pairs: Sequence[tuple[str, _V]]) -> dict[str, _V | list[_V]]:
    """Pairs as a dict; a name given more than once maps to the list of its values."""
    grouped: dict[str, list[_V]] = {}
    for name, value in pairs:
        grouped.setdefault(name, []).append(value)
    return {name: values[0] if len(values) == 1 else values for name, values in grouped.items()}
