from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.context import AppContext
from api.deps import ContextDep
from api.metrics import ExecutionGauges, render_metrics
from api.services.analytics import active_execution_counts

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    responses={
        503: {
            "description": "Something is not reachable; `checks` names it.",
            "content": {"application/json": {}},
        }
    },
)
async def readyz(ctx: ContextDep) -> JSONResponse:
    """The database, Temporal and the event bus answer; 503 names those that do not."""
    checks = {
        "database": _check_database(ctx),
        "temporal": _check_temporal(ctx),
        "event_bus": _check_event_bus(ctx),
    }
    results = await asyncio.gather(*checks.values())
    status = dict(zip(checks, results, strict=True))
    ready = all(v == "ok" for v in status.values())
    return JSONResponse(
        {"status": "ready" if ready else "unavailable", "checks": status},
        status_code=200 if ready else 503,
    )


async def _check_database(ctx: AppContext) -> str:
    try:
        async with asyncio.timeout(5), ctx.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return "ok"
    except Exception as exc:  # any failure means "not ready"; the reason is reported
        return f"error: {type(exc).__name__}"


async def _check_temporal(ctx: AppContext) -> str:
    try:
        async with asyncio.timeout(5):
            client = await ctx.temporal.client()
            await client.service_client.check_health()
        return "ok"
    except Exception as exc:
        return f"error: {type(exc).__name__}"


async def _check_event_bus(ctx: AppContext) -> str:
    try:
        async with asyncio.timeout(5):
            await ctx.bus.ping()
        return "ok"
    except Exception as exc:
        return f"error: {type(exc).__name__}"


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request, ctx: ContextDep) -> Response:
    """Prometheus text: this process's (or all API processes') metrics and the DB gauges."""
    gauges = _execution_gauges(request, ctx)
    await gauges.refresh()
    body, content_type = render_metrics([gauges])
    return Response(body, media_type=content_type)


def _execution_gauges(request: Request, ctx: AppContext) -> ExecutionGauges:
    # One per app, so its short cache is shared by every scrape this process answers.
    gauges: ExecutionGauges | None = getattr(request.app.state, "execution_gauges", None)
    if gauges is None:

        async def load() -> dict[str, int]:
            async with ctx.sessions() as session:
                return await active_execution_counts(session)

        gauges = request.app.state.execution_gauges = ExecutionGauges(load)
    return gauges
