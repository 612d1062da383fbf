from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.context import AppContext
from api.deps import ContextDep
from api.metrics import ExecutionGauges, render_metrics
from api.services.analytics import active_execution_counts
from core.metrics import set_dependency_up

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz(
    ctx: ContextDep,
    full: Annotated[
        bool, Query(description="Also report the dependencies (database, Temporal, Redis)")
    ] = False,
) -> JSONResponse:
    """The process is up (200 whatever its dependencies do); ``?full=1`` names them too."""
    if not full:
        return JSONResponse({"status": "ok"})
    checks = await dependency_checks(ctx)
    degraded = any(v != "ok" for v in checks.values())
    return JSONResponse({"status": "degraded" if degraded else "ok", "checks": checks})


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
    """This process can serve: its database answers (503 otherwise).

    Temporal and Redis are not part of it: every replica shares them, so their loss would
    take every replica out of the load balancer at once (reads included), while the API
    serves reads, keeps accepted runs pending until Temporal is back and falls back from
    Redis. Their state is in ``/healthz?full=1`` and ``headrace_dependency_up``.
    """
    database = await _check_database(ctx)
    set_dependency_up("database", database == "ok")
    ready = database == "ok"
    return JSONResponse(
        {"status": "ready" if ready else "unavailable", "checks": {"database": database}},
        status_code=200 if ready else 503,
    )


async def dependency_checks(ctx: AppContext) -> dict[str, str]:
    """Each dependency's state (``ok`` or ``error: …``), also set as ``headrace_dependency_up``."""
    checks = {"database": _check_database(ctx), "temporal": _check_temporal(ctx)}
    if ctx.bus.name == "redis":
        checks["redis"] = _check_event_bus(ctx)
    results = dict(zip(checks, await asyncio.gather(*checks.values()), strict=True))
    for dependency, result in results.items():
        set_dependency_up(dependency, result == "ok")
    return results


async def _check_database(ctx: AppContext) -> str:
    try:
        async with asyncio.timeout(3), ctx.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return "ok"
    except Exception as exc:  # any failure means "not ready"; the reason is reported
        return f"error: {type(exc).__name__}"


async def _check_temporal(ctx: AppContext) -> str:
    try:
        async with asyncio.timeout(3):
            client = await ctx.temporal.client()
            await client.service_client.check_health()
        return "ok"
    except Exception as exc:
        return f"error: {type(exc).__name__}"


async def _check_event_bus(ctx: AppContext) -> str:
    try:
        async with asyncio.timeout(3):
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
