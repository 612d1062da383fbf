"""Running the processes: ``headrace dev`` (everything), ``api`` and ``worker``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Generator

import uvicorn
from temporalio.client import Client
from temporalio.runtime import Runtime
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential

from api.app import create_app
from api.temporal_client import connect_temporal
from cli.devstack import temporal_dev_server
from cli.worker_process import worker_process
from core.events import EventBus, EventSink, InProcessEventBus, build_event_bus
from core.logging_config import configure_logging
from core.settings import Settings
from db.migrate import upgrade_to_head
from worker.main import build_worker, worker_resources
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


async def _serve_api(settings: Settings, bus: EventBus | None = None) -> None:
    app = create_app(settings, bus=bus)
    config = uvicorn.Config(
        app, host=settings.host, port=settings.port, log_level="warning", proxy_headers=True
    )
    server = _Server(config)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
    try:
        await server.serve()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def run_worker(settings: Settings, bus: EventSink | None = None) -> None:
    """A worker until SIGTERM/SIGINT, which lets running activities finish first.

    ``bus`` is where its events go live (``headrace dev`` passes the pipe to the API
    process); by default Redis when configured, else nowhere (readers poll the database).
    """
    _configure_logging(settings)
    # SDK and worker metrics are served by worker processes only (API replicas would clash).
    client = await _connect_until_up(settings, build_runtime(settings))
    stop_metrics = serve_worker_metrics(settings)
    loop = asyncio.get_running_loop()
    try:
        async with worker_resources(settings, bus) as resources:
            worker = build_worker(client, settings.task_queue, resources)
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, lambda: asyncio.ensure_future(worker.shutdown()))
            logger.info("worker polling %s on %s", settings.task_queue, settings.temporal_address)
            await worker.run()
    finally:
        if bus is not None:
            await bus.aclose()
        if stop_metrics is not None:
            stop_metrics()


async def _connect_until_up(settings: Settings, runtime: Runtime | None) -> Client:
    """Connect to Temporal, waiting (with back-off, up to 10 s apart) while it is away: a
    worker started before Temporal waits for it instead of exiting into a crash loop."""
    retrying = AsyncRetrying(
        retry=retry_if_exception_type(RuntimeError),  # the SDK's "Failed client connect"
        wait=wait_exponential(multiplier=0.5, max=10),
        before_sleep=lambda state: logger.warning(
            "worker: Temporal at %s is unreachable (%s); trying again",
            settings.temporal_address,
            state.outcome.exception() if state.outcome else "?",
        ),
    )
    async for attempt in retrying:
        with attempt:
            return await connect_temporal(settings, runtime=runtime)
    raise AssertionError("unreachable: AsyncRetrying retries forever")


async def run_api(settings: Settings) -> None:
    _configure_logging(settings)
    await upgrade_to_head(settings.effective_database_url)
    await _serve_api(settings)


async def run_dev(settings: Settings) -> None:
    """Temporal dev server and worker as child processes, migrations, then the API here."""
    _configure_logging(settings)
    async with temporal_dev_server(
        settings.data_dir,
        settings.temporal_address,
        settings.temporal_ui_port,
        codec_url=f"{settings.base_url}/api/v1/temporal-codec",
    ):
        await upgrade_to_head(settings.effective_database_url)
        # Events reach the API's bus through a pipe from the worker process (Redis instead,
        # if HEADRACE_REDIS_URL is set).
        bus = build_event_bus(settings) if settings.redis_url else InProcessEventBus()
        try:
            async with worker_process(settings, bus):
                print(
                    f"Headrace is up: {settings.base_url} (dashboard and API), "
                    f"Temporal Web UI: {settings.temporal_ui_base}",
                    flush=True,
                )
                await _serve_api(settings, bus)  # returns on SIGINT/SIGTERM
        finally:
            await bus.aclose()
