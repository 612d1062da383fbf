"""Live events: ``GET /executions/{id}/events`` (SSE) and the WebSocket streams.

Authorization is the same as reading the execution (404 for one the caller may not see),
and it is checked again every ``HEADRACE_STREAM_AUTH_RECHECK`` seconds while the stream is
open: when the credentials stop working (user disabled, key deleted or expired, token
expired) or the run is no longer visible, a WebSocket is closed with 1008 (policy
violation) and an SSE stream ends with an ``error`` event. These are the only routes that
take the token as ``?access_token=`` (an EventSource cannot set headers).
WebSockets cannot carry problem+json after the handshake, so a refused handshake is an
HTTP answer (the ASGI WebSocket Denial Response) with the usual problem body.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, WebSocket
from sqlalchemy.ext.asyncio import AsyncSession
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.requests import HTTPConnection
from starlette.websockets import WebSocketDisconnect, WebSocketState

from api.context import AppContext
from api.deps import ContextDep, SessionDep, StreamUser, enforce_scope, get_current_user
from api.errors import AuthenticationFailed, HeadraceError, NotFound, PermissionDenied, invalid
from api.problems import problem_response
from api.schemas.common import MAX_DB_INTEGER
from api.services.access import visible_execution
from api.services.streams import (
    AccessRevoked,
    ExecutionStream,
    ServerDraining,
    VisibleEvents,
    authorize_execution,
    while_allowed,
)
from core.events import Message, SubscriberOverflow
from db.models import User

router = APIRouter(tags=["events"])

KEEP_ALIVE_SECONDS = 15
# A client that does not take a frame for this long is gone or stuck: drop it.
SEND_TIMEOUT_SECONDS = 30
WS_TRY_AGAIN_LATER = 1013
WS_POLICY_VIOLATION = 1008
WS_SERVICE_RESTART = 1012  # RFC 6455 registry: "Service Restart"; the client reconnects
# When an SSE client told to reconnect (`retry:`) does so: soon, but not all at once.
RECONNECT_AFTER_MS = 1000


@dataclass(frozen=True)
class Credentials:
    """What a stream's client authenticated with, kept to check it again later."""

    bearer: str | None
    api_key: str | None
    access_token: str | None

    @classmethod
    def of(cls, connection: HTTPConnection) -> Credentials:
        scheme, _, token = connection.headers.get("authorization", "").partition(" ")
        return cls(
            bearer=token if scheme.lower() == "bearer" and token else None,
            api_key=connection.headers.get("x-api-key"),
            access_token=connection.query_params.get("access_token"),
        )

    async def user(self, ctx: AppContext, session: AsyncSession) -> User:
        """Authenticate like HTTP routes do; the stream needs the ``read`` scope."""
        user = await get_current_user(ctx, session, self.bearer, self.api_key, self.access_token)
        used_key = None if self.bearer or self.access_token else self.api_key
        return await enforce_scope(session, user, "read", api_key=used_key)


def _still_allowed(
    ctx: AppContext, credentials: Credentials, execution_id: uuid.UUID | None
) -> Callable[[], Awaitable[bool]]:
    async def allowed() -> bool:
        async with ctx.sessions() as session:
            try:
                user = await credentials.user(ctx, session)
                if execution_id is not None:
                    await visible_execution(session, user, execution_id)
            except (AuthenticationFailed, NotFound, PermissionDenied):
                return False
        return True

    return allowed


def _guarded(
    ctx: AppContext,
    events: AsyncIterable[Message],
    connection: HTTPConnection,
    execution_id: uuid.UUID | None,
) -> AsyncIterator[Message]:
    allowed = _still_allowed(ctx, Credentials.of(connection), execution_id)
    return while_allowed(events, allowed, ctx.settings.stream_auth_recheck, ctx.draining)


@router.get(
    "/executions/{execution_id}/events",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "Event stream"}},
)
async def execution_events(
    execution_id: uuid.UUID,
    request: Request,
    user: StreamUser,
    session: SessionDep,
    ctx: ContextDep,
    last_event_id: Annotated[
        int | None,
        Header(alias="Last-Event-ID", ge=0, le=MAX_DB_INTEGER, description="Resume after this id"),
    ] = None,
    since: Annotated[
        int, Query(ge=0, le=MAX_DB_INTEGER, description="Resume after this id (no header)")
    ] = 0,
) -> EventSourceResponse:
    """Server-Sent Events of one execution: what the client missed, then live, then end."""
    await authorize_execution(session, user, execution_id)
    after = last_event_id if last_event_id is not None else since
    stream = ExecutionStream(ctx.sessions, ctx.bus, execution_id, after, ctx.stream_options)
    return EventSourceResponse(
        _sse_frames(_guarded(ctx, stream, request, execution_id), stream),
        ping=KEEP_ALIVE_SECONDS,
        send_timeout=SEND_TIMEOUT_SECONDS,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _sse_frames(
    events: AsyncIterator[Message], stream: ExecutionStream
) -> AsyncIterator[ServerSentEvent]:
    try:
        async for message in events:
            yield ServerSentEvent(
                data=json.dumps(message), event=message["type"], id=str(message["id"])
            )
    except SubscriberOverflow as exc:
        yield ServerSentEvent(data=json.dumps(_overflow_reason(exc, stream.last_id)), event="error")
    except AccessRevoked:
        revoked = {"reason": "access_revoked", "detail": "Your access to this stream ended."}
        yield ServerSentEvent(data=json.dumps(revoked), event="error")
    except ServerDraining:
        # `retry:` tells the browser's EventSource when to reconnect (with Last-Event-ID, so
        # it resumes where it was, on whichever replica the balancer picks).
        restarting = {
            "reason": "server_restarting",
            "detail": "This API process is shutting down; reconnect to resume.",
            "last_event_id": stream.last_id,
        }
        yield ServerSentEvent(
            data=json.dumps(restarting), event="reconnect", retry=RECONNECT_AFTER_MS
        )


def _overflow_reason(exc: SubscriberOverflow, last_id: int) -> dict[str, object]:
    return {
        "reason": "slow_consumer",
        "detail": f"The client read too slowly ({exc}); reconnect to resume.",
        "last_event_id": last_id,
    }


@router.websocket("/ws/executions/{execution_id}")
async def execution_socket(websocket: WebSocket, execution_id: uuid.UUID) -> None:
    """The events of one execution as JSON text frames; ``?since=N`` resumes after id N."""
    ctx: AppContext = websocket.app.state.ctx
    try:
        since = _since(websocket)
        async with ctx.sessions() as session:
            user = await _socket_user(ctx, websocket, session)
            await authorize_execution(session, user, execution_id)
    except HeadraceError as error:
        await _deny(websocket, error)
        return
    stream = ExecutionStream(ctx.sessions, ctx.bus, execution_id, since, ctx.stream_options)
    await websocket.accept()
    await _pump(websocket, stream, _guarded(ctx, stream, websocket, execution_id))


@router.websocket("/ws/events")
async def all_events_socket(websocket: WebSocket) -> None:
    """Every live event of the executions the caller may see (no replay)."""
    ctx: AppContext = websocket.app.state.ctx
    try:
        async with ctx.sessions() as session:
            user = await _socket_user(ctx, websocket, session)
    except HeadraceError as error:
        await _deny(websocket, error)
        return
    await websocket.accept()
    visible = VisibleEvents(ctx.sessions, ctx.bus, user, ctx.stream_options)
    await _pump(websocket, visible, _guarded(ctx, visible, websocket, None))


async def _pump(
    websocket: WebSocket,
    source: ExecutionStream | VisibleEvents,
    events: AsyncIterator[Message],
) -> None:
    """Send events until the stream ends or the client leaves; close with a reason."""
    sender = asyncio.create_task(_send_all(websocket, source, events))
    listener = asyncio.create_task(_until_disconnect(websocket))
    done, pending = await asyncio.wait({sender, listener}, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
        with suppress(asyncio.CancelledError, WebSocketDisconnect):
            await task
    if sender in done and not sender.cancelled():
        sender.result()  # re-raise an unexpected failure; it is logged by the server


async def _send_all(
    websocket: WebSocket, source: ExecutionStream | VisibleEvents, events: AsyncIterator[Message]
) -> None:
    code, reason = 1000, "stream ended"
    try:
        async for message in events:
            async with asyncio.timeout(SEND_TIMEOUT_SECONDS):
                await websocket.send_text(json.dumps(message))
    except SubscriberOverflow as exc:
        code, reason = WS_TRY_AGAIN_LATER, f"slow consumer: {exc}; reconnect"
        if isinstance(source, ExecutionStream):
            reason += f" with since={source.last_id}"
    except AccessRevoked:
        code, reason = WS_POLICY_VIOLATION, "access revoked"
    except ServerDraining:
        code, reason = WS_SERVICE_RESTART, "server restarting; reconnect"
        if isinstance(source, ExecutionStream):
            reason += f" with since={source.last_id}"
    except (TimeoutError, WebSocketDisconnect, OSError):
        return
    if websocket.application_state == WebSocketState.CONNECTED:
        with suppress(RuntimeError, OSError, WebSocketDisconnect):
            await websocket.close(code=code, reason=reason[:120])


async def _until_disconnect(websocket: WebSocket) -> None:
    """Read (and ignore) client frames until it disconnects."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return


def _since(websocket: WebSocket) -> int:
    raw = websocket.query_params.get("since", "0")
    if not (raw.isascii() and raw.isdigit()) or int(raw) > MAX_DB_INTEGER:
        raise invalid("/query/since", "since must be a non-negative integer (an event id)")
    return int(raw)


async def _socket_user(ctx: AppContext, websocket: WebSocket, session: AsyncSession) -> User:
    """Authenticate like HTTP routes: bearer header, ``access_token`` query, or X-API-Key."""
    return await Credentials.of(websocket).user(ctx, session)


async def _deny(websocket: WebSocket, error: HeadraceError) -> None:
    """Refuse the handshake with the problem+json answer an HTTP route would give."""
    try:
        await websocket.send_denial_response(problem_response(error))
    except RuntimeError:  # the server lacks the denial extension: close with 4000 + status
        await websocket.close(code=4000 + error.status, reason=error.detail[:120])
