"""The application factory."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles
from temporalio.client import Client

from api.context import AppContext
from api.errors import NotFound
from api.metrics import MetricsMiddleware
from api.middleware import (
    BodySizeLimitMiddleware,
    SecurityHeadersMiddleware,
    inline_script_hashes,
)
from api.openapi import install_openapi
from api.problems import install_problem_handlers
from api.rate_limit import build_limiter
from api.request_limits import RequestLimitMiddleware
from api.routers import (
    analytics,
    api_keys,
    approvals,
    artifacts,
    auth,
    codec,
    executions,
    health,
    hooks,
    integrations,
    secrets,
    streams,
    triggers,
    users,
    webhooks,
    workflows,
)
from api.routers.codec import CodecCorsMiddleware, codec_origins
from api.security import PasswordHasher
from api.services.sweeper import sweep_forever
from api.services.users import ensure_admin
from api.temporal_client import TemporalGateway
from core.database import engine_for
from core.encryption import Encryptor
from core.events import EventBus, build_event_bus
from core.logging_config import RequestIdMiddleware
from core.settings import Settings
from core.storage import build_object_store
from core.tracing import instrument_api
from db.session import create_session_factory
from express.runner import express_host

DASHBOARD_DIST = Path(__file__).resolve().parent.parent / "dashboard" / "dist"


def build_context(
    settings: Settings, temporal_client: Client | None = None, bus: EventBus | None = None
) -> AppContext:
    engine = engine_for(settings)
    ctx = AppContext(
        settings=settings,
        engine=engine,
        sessions=create_session_factory(engine),
        temporal=TemporalGateway(settings, temporal_client),
        encryptor=Encryptor(settings.signing_key),
        store=build_object_store(settings),
        passwords=PasswordHasher(settings.password_hash_concurrency),
        limiter=build_limiter(settings.redis_url, settings.redis_timeout),
        bus=bus or build_event_bus(settings),
    )
    return ctx


def create_app(
    settings: Settings, *, temporal_client: Client | None = None, bus: EventBus | None = None
) -> FastAPI:
    """Build the API. The database must already be migrated (``headrace migrate``).

    ``bus`` is shared with a worker in the same process (``headrace dev``); without it the
    app builds its own from the settings (Redis, or a polling in-process bus) and closes it.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ctx = build_context(settings, temporal_client, bus)
        app.state.ctx = ctx
        if settings.admin_email and settings.admin_password:
            async with ctx.sessions() as session:
                await ensure_admin(
                    session,
                    settings.admin_email,
                    settings.admin_password.get_secret_value(),
                    ctx.passwords,
                )
        sweeper = (
            asyncio.create_task(sweep_forever(ctx)) if settings.pending_sweep_interval > 0 else None
        )
        try:
            # Express runs run here; those a previous life of this process left are
            # marked interrupted first, those still going at shutdown end interrupted.
            async with express_host(settings, ctx.sessions, ctx.bus):
                yield
        finally:
            if sweeper is not None:
                sweeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sweeper
            if bus is None:
                await ctx.bus.aclose()
            await ctx.engine.dispose()

    app = FastAPI(
        title="Headrace",
        version="0.1.0",
        lifespan=lifespan,
        description="Durable, JSON-defined workflows on Temporal.",
    )
    install_problem_handlers(app)
    app.add_middleware(BodySizeLimitMiddleware, limit=settings.max_body)
    app.add_middleware(RequestLimitMiddleware, settings=settings)
    app.add_middleware(MetricsMiddleware)
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(CodecCorsMiddleware, origins=codec_origins(settings))
    app.add_middleware(
        SecurityHeadersMiddleware,
        hsts=settings.hsts,
        script_hashes=inline_script_hashes(DASHBOARD_DIST / "index.html"),
    )
    api = APIRouter(prefix="/api/v1")
    for module in (auth, users, api_keys, workflows, executions, streams, secrets, analytics):
        api.include_router(module.router)
    for module in (triggers, webhooks, integrations, artifacts, codec, approvals):
        api.include_router(module.router)
    app.include_router(api)
    app.include_router(health.router)
    app.include_router(hooks.router)
    app.include_router(approvals.links)
    _mount_dashboard(app)
    install_openapi(app)
    instrument_api(app, settings)
    return app


def _mount_dashboard(app: FastAPI) -> None:
    if not (DASHBOARD_DIST / "index.html").exists():

        @app.get("/", include_in_schema=False)
        async def no_dashboard() -> HTMLResponse:
            return HTMLResponse(
                "<h1>Headrace</h1><p>The dashboard is not built (run <code>make install</code>)."
                ' The API is at <a href="/docs">/docs</a>.</p>'
            )

        return
    app.mount("/assets", StaticFiles(directory=DASHBOARD_DIST / "assets"), name="assets")

    @app.get("/{path:path}", include_in_schema=False)
    async def spa(path: str) -> FileResponse:
        # Client-side routes fall back to index.html; real files are served as they are.
        if path.startswith(("api/", "hooks/", "approval-links/")):
            raise NotFound(detail=f"No route /{path}")
        candidate = (DASHBOARD_DIST / path).resolve()
        if path and candidate.is_file() and DASHBOARD_DIST in candidate.parents:
            return FileResponse(candidate)
        return FileResponse(DASHBOARD_DIST / "index.html")
