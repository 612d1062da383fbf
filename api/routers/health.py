from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.context import AppContext
from api.deps import ContextDep
from api.metrics import render_metrics

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(ctx: ContextDep) -> JSONResponse:
    """The database, Temporal and the event bus answer; 503 names those that do not."""
    checks = {"database": _check_database(ctx), "temporal": _check_temporal(ctx)}
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


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    body, content_type = render_metrics()
    return Response(body, media_type=content_type)
