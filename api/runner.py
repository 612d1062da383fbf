"""Running the processes: ``headrace dev`` (everything), ``api`` and ``worker``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Generator
from contextlib import suppress

import uvicorn

from api.app import create_app
from api.devstack import temporal_dev_server
from api.events import EventBus, InProcessEventBus, build_event_bus
from api.logging_config import configure_logging
from api.settings import Settings
from api.temporal_client import connect_temporal
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


async def run_worker(settings: Settings) -> None:
    _configure_logging(settings)
    # SDK and worker metrics are served by worker processes only (API replicas would clash).
    client = await connect_temporal(settings, runtime=build_runtime(settings))
    stop_metrics = serve_worker_metrics(settings)
    try:
        async with worker_resources(settings) as resources:
            worker = build_worker(client, settings.task_queue, resources)
            logger.info("worker polling %s on %s", settings.task_queue, settings.temporal_address)
            await worker.run()
    finally:
        if stop_metrics is not None:
            stop_metrics()


async def run_api(settings: Settings) -> None:
    _configure_logging(settings)
    await upgrade_to_head(settings.effective_database_url)
    await _serve_api(settings)


async def run_dev(settings: Settings) -> None:
    """Temporal dev server (child process), migrations, then API and worker in this process."""
    _configure_logging(settings)
    async with temporal_dev_server(
        settings.data_dir,
        settings.temporal_address,
        settings.temporal_ui_port,
        codec_url=f"{settings.base_url}/api/v1/temporal-codec",
    ):
        await upgrade_to_head(settings.effective_database_url)
        client = await connect_temporal(settings)
        # One bus for the API and the worker: events go from the activity to the stream
        # without leaving the process (Redis instead, if HEADRACE_REDIS_URL is set).
        bus = build_event_bus(settings) if settings.redis_url else InProcessEventBus()
        async with worker_resources(settings, bus) as resources:
            worker = build_worker(client, settings.task_queue, resources)
            worker_task = asyncio.create_task(worker.run())
            print(
                f"Headrace is up: {settings.base_url} (dashboard and API), "
                f"Temporal Web UI: {settings.temporal_ui_base}",
                flush=True,
            )
            try:
                await _serve_api(settings, bus)  # returns on SIGINT/SIGTERM
            finally:
                await worker.shutdown()
                with suppress(asyncio.CancelledError):
                    await worker_task
                await bus.aclose()
