"""The worker's liveness and readiness endpoints (``HEADRACE_WORKER_HEALTH_PORT``).

A worker has no HTTP side of its own, so an orchestrator cannot tell a polling worker from a
wedged one. This serves two answers on ``HEADRACE_HOST``:

- ``/livez``: 200 while the process's event loop answers (a loop blocked by a runaway task
  does not, and the probe restarts the pod);
- ``/readyz``: 200 while the Temporal worker runs and is not shutting down, 503 otherwise
  (during its drain the pod leaves the Service's endpoints; a worker takes no traffic from
  Services anyway, so this mainly gates rollouts: a new pod is ready once it polls).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Generator

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


def health_app(is_ready: Callable[[], bool]) -> Starlette:
    """The two probe routes; ``is_ready`` says whether the worker is polling."""

    async def livez(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> JSONResponse:
        if is_ready():
            return JSONResponse({"status": "ok"})
        return JSONResponse({"status": "not ready"}, status_code=503)

    return Starlette(routes=[Route("/livez", livez), Route("/readyz", readyz)])


class _QuietServer(uvicorn.Server):
    """Uvicorn without signal handlers: the worker's own SIGTERM handling drains first."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


@contextlib.asynccontextmanager
async def serve_health(
    host: str, port: int | None, is_ready: Callable[[], bool]
) -> AsyncIterator[None]:
    """Serve the probes for the duration of the block (nothing when ``port`` is None)."""
    if port is None:
        yield
        return
    config = uvicorn.Config(
        health_app(is_ready), host=host, port=port, log_level="warning", access_log=False
    )
    server = _QuietServer(config)
    serving = asyncio.create_task(server.serve(), name="worker-health")
    try:
        yield
    finally:
        server.should_exit = True
        await serving
