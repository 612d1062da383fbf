"""Running the processes: ``headrace dev`` (everything), ``api`` and ``worker``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Generator

import uvicorn
from fastapi import FastAPI
from temporalio.client import Client
from temporalio.runtime import Runtime
from temporalio.service import RPCError, RPCStatusCode
from tenacity import AsyncRetrying, retry_if_exception, wait_exponential

from api.app import create_app
from api.temporal_client import connect_temporal
from cli.devstack import temporal_dev_server
from cli.worker_process import worker_process
from core.events import EventBus, EventSink, InProcessEventBus, build_event_bus
from core.logging_config import configure_logging
from core.settings import Settings
from core.temporal_setup import (
    SearchAttributesMissing,
    ensure_search_attributes,
    register_search_attributes,
)
from core.tracing import configure_tracing
from db.migrate import upgrade_to_head
from worker.health import serve_health
from worker.main import WorkerTuning, build_worker, worker_resources
from worker.retention import ensure_retention_schedule
from worker.telemetry import build_runtime, serve_worker_metrics

logger = logging.getLogger("headrace")


def _configure_logging(settings: Settings) -> None:
    configure_logging(settings)


class _Server(uvicorn.Server):
    """Uvicorn without its own signal handling: ours stops the worker and Temporal first.

    (Uvicorn re-raises SIGTERM after its shutdown, which would kill the process before the
    worker and the dev server's child process are stopped.)
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


async def _serve_api(
    settings: Settings, bus: EventBus | None = None, client: Client | None = None
) -> None:
    app = create_app(settings, bus=bus, temporal_client=client)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        proxy_headers=True,
        # After this, requests still open (long polls, streams) are cancelled: a rolling
        # update never waits on a client that does not hang up.
        timeout_graceful_shutdown=settings.api_shutdown_grace,
    )
    server = _Server(config)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: _begin_shutdown(server, app))
    try:
        await server.serve()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def _begin_shutdown(server: uvicorn.Server, app: FastAPI) -> None:
    """Stop accepting, and end open event streams now with a reconnect hint: uvicorn waits
    for open connections, and a stream would otherwise hold it for the whole grace time."""
    server.should_exit = True
    ctx = getattr(app.state, "ctx", None)
    if ctx is not None:
        ctx.draining.set()


async def run_worker(settings: Settings, bus: EventSink | None = None) -> None:
    """A worker until SIGTERM/SIGINT, which lets running activities finish first.

    ``bus`` is where its events go live (``headrace dev`` passes the pipe to the API
    process); by default Redis when configured, else nowhere (readers poll the database).
    """
    _configure_logging(settings)
    configure_tracing(settings, "headrace-worker")
    # SDK and worker metrics are served by worker processes only (API replicas would clash).
    client = await _connect_until_up(settings, build_runtime(settings))
    stop_metrics = serve_worker_metrics(settings)
    loop = asyncio.get_running_loop()
    try:
        async with worker_resources(settings, bus) as resources:
            worker = build_worker(
                client, settings.task_queue, resources, tuning=WorkerTuning.from_settings(settings)
            )
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, lambda: asyncio.ensure_future(worker.shutdown()))
            try:
                await ensure_retention_schedule(client, settings)
            except Exception:  # e.g. a Temporal Cloud key without schedule rights
                # Runs matter more than cleanup: keep working, say so loudly.
                logger.exception("worker: could not create or update the retention schedule")
            logger.info("worker polling %s on %s", settings.task_queue, settings.temporal_address)
            async with serve_health(
                settings.host,
                settings.worker_health_port,
                lambda: worker.is_running and not worker.is_shutdown,
            ):
                await worker.run()
    finally:
        if bus is not None:
            await bus.aclose()
        if stop_metrics is not None:
            stop_metrics()


def _temporal_away(exc: BaseException) -> bool:
    """The SDK's "Failed client connect", or a server that does not answer yet."""
    if isinstance(exc, RPCError):
        return exc.status == RPCStatusCode.UNAVAILABLE
    return isinstance(exc, RuntimeError) and not isinstance(exc, SearchAttributesMissing)


async def _connect_until_up(settings: Settings, runtime: Runtime | None) -> Client:
    """Connect to Temporal, waiting (with back-off, up to 10 s apart) while it is away: a
    worker started before Temporal waits for it instead of exiting into a crash loop.

    Raises:
        SearchAttributesMissing: the namespace lacks Headrace's search attributes (every
            start would be refused): the message names the command that registers them.
    """
    retrying = AsyncRetrying(
        retry=retry_if_exception(_temporal_away),
        wait=wait_exponential(multiplier=0.5, max=10),
        before_sleep=lambda state: logger.warning(
            "worker: Temporal at %s is unreachable (%s); trying again",
            settings.temporal_address,
            state.outcome.exception() if state.outcome else "?",
        ),
    )
    async for attempt in retrying:
        with attempt:
            client = await connect_temporal(settings, runtime=runtime)
            await ensure_search_attributes(client)
            return client
    raise AssertionError("unreachable: AsyncRetrying retries forever")


async def run_api(settings: Settings) -> None:
    _configure_logging(settings)
    configure_tracing(settings, "headrace-api")
    if settings.migrate_on_start:
        await upgrade_to_head(settings.effective_database_url)
    else:
        logger.info("not migrating at start (HEADRACE_MIGRATE_ON_START=false)")
    await _serve_api(settings)


@contextlib.asynccontextmanager
async def inline_worker(settings: Settings, bus: EventBus, client: Client) -> AsyncIterator[None]:
    """``HEADRACE_DEV_WORKER=inline``: the worker on the API's event loop, publishing
    straight to its bus (no pipe, no second interpreter); stopped when the API stops.

    ``client`` is the API's own: a start that asks for eager start then hands the run's
    first workflow task to this worker without a round trip through the task queue.
    """
    async with worker_resources(settings, bus) as resources:
        worker = build_worker(
            client, settings.task_queue, resources, tuning=WorkerTuning.from_settings(settings)
        )
        try:
            await ensure_retention_schedule(client, settings)
        except Exception:
            logger.exception("worker: could not create or update the retention schedule")
        async with worker:
            yield


async def run_dev(settings: Settings) -> None:
    """Temporal dev server and worker as child processes (or the worker inline, on this
    loop: ``HEADRACE_DEV_WORKER``), migrations, then the API here."""
    _configure_logging(settings)
    async with temporal_dev_server(
        settings.data_dir,
        settings.temporal_address,
        settings.temporal_ui_port,
        codec_url=f"{settings.base_url}/api/v1/temporal-codec",
    ):
        await upgrade_to_head(settings.effective_database_url)
        # A dev server this command started has them already; one it found running may not.
        await register_search_attributes(await connect_temporal(settings))
        # Events reach the API's bus through a pipe from the worker process (Redis instead,
        # if HEADRACE_REDIS_URL is set).
        bus = build_event_bus(settings) if settings.redis_url else InProcessEventBus()
        client = None
        worker: contextlib.AbstractAsyncContextManager[object]
        if settings.dev_worker == "inline":
            client = await connect_temporal(settings)
            worker = inline_worker(settings, bus, client)
        else:
            worker = worker_process(settings, bus)
        try:
            async with worker:
                print(
                    f"Headrace is up: {settings.base_url} (dashboard and API), "
                    f"Temporal Web UI: {settings.temporal_ui_base}",
                    flush=True,
                )
                await _serve_api(settings, bus, client)  # returns on SIGINT/SIGTERM
        finally:
            await bus.aclose()
