"""The codec server for the Temporal Web UI: ``POST /api/v1/temporal-codec/{decode,encode}``.

The Web UI (``--ui-codec-endpoint`` / ``TEMPORAL_CODEC_ENDPOINT`` pointing at
``<api>/api/v1/temporal-codec``) posts the payloads of the history it shows; ``/decode``
answers with the real payloads behind claim-check references (:mod:`core.storage.codec`).
The UI calls it from the browser, at another origin, so :class:`CodecCorsMiddleware` allows
the configured Temporal UI origin on these routes only.

Who may call it: an admin or a developer (Bearer token or ``X-API-Key``), since decoded
payloads may belong to any run. ``headrace dev`` also lets credential-less calls from
loopback through: its Web UI (unauthenticated itself) cannot send a Headrace token.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.context import AppContext
from api.deps import (
    ContextDep,
    ScopedDependency,
    SessionDep,
    api_key_scheme,
    enforce_scope,
    get_current_user,
    oauth2_scheme,
)
from api.errors import PermissionDenied, UpstreamUnavailable, invalid
from api.schemas.codec import CodecPayloads
from core.settings import Settings
from core.storage import StorageError
from core.storage.codec import ClaimCheckCodec, CodecRequestError, decode_for_ui, encode_for_ui
from db.models import User

PREFIX = "/temporal-codec"
ROUTE_PREFIX = "/api/v1" + PREFIX + "/"
CODEC_ROLES = ("admin", "developer")

router = APIRouter(prefix=PREFIX, tags=["temporal-codec"])


class CodecAccess(ScopedDependency):
    """An admin or developer holding ``read``; ``None`` for a credential-less call to
    ``headrace dev`` from loopback."""

    required_scope = "read"

    async def __call__(
        self,
        request: Request,
        ctx: ContextDep,
        session: SessionDep,
        bearer: Annotated[str | None, Depends(oauth2_scheme)],
        api_key: Annotated[str | None, Depends(api_key_scheme)],
    ) -> User | None:
        if not bearer and not api_key and _dev_loopback(ctx.settings, request):
            return None
        user = await get_current_user(ctx, session, bearer, api_key)
        if user.role not in CODEC_ROLES:
            raise PermissionDenied(detail="Decoding payloads needs the admin or developer role")
        used_key = None if bearer else api_key
        return await enforce_scope(session, user, self.required_scope, api_key=used_key)


CodecCaller = Annotated[User | None, Depends(CodecAccess())]


@router.post("/decode", response_model=CodecPayloads, response_model_exclude_none=True)
async def decode(body: CodecPayloads, ctx: ContextDep, _: CodecCaller) -> CodecPayloads:
    """Replace claim-check references by the payloads they stand for."""
    return await _convert(body, _codec(ctx), encode=False)


@router.post("/encode", response_model=CodecPayloads, response_model_exclude_none=True)
async def encode(body: CodecPayloads, ctx: ContextDep, _: CodecCaller) -> CodecPayloads:
    """Store payloads over the inline limit and answer with references to them."""
    return await _convert(body, _codec(ctx), encode=True)


async def _convert(body: CodecPayloads, codec: ClaimCheckCodec, *, encode: bool) -> CodecPayloads:
    items = [item.model_dump(exclude={"external_payloads"}) for item in body.payloads]
    try:
        converted = await (encode_for_ui if encode else decode_for_ui)(codec, items)
    except CodecRequestError as exc:
        raise invalid(exc.pointer, str(exc), "invalid_payload") from None
    except StorageError as exc:
        raise UpstreamUnavailable(detail=f"Object storage is unavailable: {exc}") from exc
    return CodecPayloads.model_validate({"payloads": converted})


def _codec(ctx: AppContext) -> ClaimCheckCodec:
    return ClaimCheckCodec(ctx.store, ctx.settings.inline_limit)


def _dev_loopback(settings: Settings, request: Request) -> bool:
    if settings.environment != "dev" or request.client is None:
        return False
    try:
        return ipaddress.ip_address(request.client.host).is_loopback
    except ValueError:
        return False


# --- CORS for the Web UI, on the codec routes only -------------------------------------------


def codec_origins(settings: Settings) -> frozenset[str]:
    """The Web UI's origin (and, in dev, its localhost/127.0.0.1 twin)."""
    parts = urlsplit(settings.temporal_ui_base)
    origins = {f"{parts.scheme}://{parts.netloc}"}
    if settings.environment == "dev" and parts.hostname in ("127.0.0.1", "localhost"):
        port = f":{parts.port}" if parts.port else ""
        origins |= {f"{parts.scheme}://127.0.0.1{port}", f"{parts.scheme}://localhost{port}"}
    return frozenset(origins)


class CodecCorsMiddleware:
    """CORS for :data:`ROUTE_PREFIX` only: preflights answered, responses marked."""

    ALLOW_HEADERS = "Authorization, Content-Type, X-API-Key, X-Namespace"

    def __init__(self, app: ASGIApp, origins: frozenset[str]) -> None:
        self.app = app
        self.origins = origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(ROUTE_PREFIX):
            await self.app(scope, receive, send)
            return
        origin = Headers(scope=scope).get("origin")
        if origin not in self.origins:
            await self.app(scope, receive, send)
            return
        cors = {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Credentials": "true",
            "Vary": "Origin",
        }
        if scope["method"] == "OPTIONS":
            preflight = {
                **cors,
                "Access-Control-Allow-Methods": "POST, OPTIONS",
                "Access-Control-Allow-Headers": self.ALLOW_HEADERS,
                "Access-Control-Max-Age": "600",
            }
            await Response(status_code=204, headers=preflight)(scope, receive, send)
            return

        async def marked(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                headers += [(k.lower().encode(), v.encode()) for k, v in cors.items()]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, marked)
