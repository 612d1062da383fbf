"""The worker of ``headrace dev`` as a supervised child process.

Why a process of its own: workflow tasks are CPU work that holds the GIL, and the API's
requests are latency work made of many short awaits. In one process every await of a
webhook call can wait a GIL switch interval behind a workflow task, so intake latency grows
with the run load. In its own process, at a lower CPU priority, the worker takes what the
API leaves; Temporal queues the runs meanwhile, and nothing is lost if the worker falls
behind or dies (the supervisor starts another, which resumes the runs from their history).

Events still go straight to the API's in-process bus: the child (``headrace worker
--events-fd N``) sends each published batch through a pipe (a ``multiprocessing``
connection), and a reader thread in the API process hands it to the bus on the API's event
loop. With ``HEADRACE_REDIS_URL`` the child publishes to Redis
itself and no pipe is used.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import queue
import sys
import threading
from collections.abc import AsyncIterator
from multiprocessing.connection import Connection

from cli.devstack import RESTART_DELAY, stop_with_parent, terminate_child
from core.events import EventBus, Message
from core.settings import Settings

logger = logging.getLogger("headrace.worker")

WORKER_NICENESS = 10  # lower CPU priority than the API, which answers people and callers


class PipePublisher:
    """The child's side of the bus: each published batch goes into the pipe, in order.

    ``publish`` only enqueues (a pipe write can block while the API is busy, and an
    activity must not); one sender thread writes. A batch that cannot be sent is dropped:
    the events are stored already, and stream readers fill gaps from the database.
    """

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._outbox: queue.SimpleQueue[tuple[str, list[Message]] | None] = queue.SimpleQueue()
        self._sender = threading.Thread(target=self._send_all, name="event-pipe", daemon=True)
        self._sender.start()

    async def publish(self, execution_id: str, messages: list[Message]) -> None:
        self._outbox.put((execution_id, messages))

    def _send_all(self) -> None:
        while (batch := self._outbox.get()) is not None:
            try:
                self._connection.send(batch)
            except (OSError, ValueError):
                return  # the API process is gone; so will we be, by PDEATHSIG

    async def ping(self) -> None:
        return None

    async def aclose(self) -> None:
        self._outbox.put(None)
        await asyncio.to_thread(self._sender.join, 5)
        self._connection.close()


def _child_setup() -> None:
    """In the child, before exec: die with the API process, yield the CPU to it."""
    stop_with_parent()
    os.nice(WORKER_NICENESS)


def publisher_from_fd(fd: int) -> PipePublisher:
    """The child's publisher on the pipe the parent passed as file descriptor ``fd``."""
    return PipePublisher(Connection(fd, readable=False))


class WorkerProcess:
    """Starts ``headrace worker`` as a child, relays its events to ``bus``, restarts it.

    The child reads its settings from the environment, which ``headrace dev`` has filled.
    """

    def __init__(self, settings: Settings, bus: EventBus | None) -> None:
        self._bus = bus if settings.redis_url is None else None
        self._process: asyncio.subprocess.Process | None = None
        self._stopping = False
        self.starts = 0

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    async def supervise(self) -> None:
        """Run the child until stopped, starting a new one whenever it exits."""
        while not self._stopping:
            process, relay = await self._start()
            code = await process.wait()
            if relay is not None:
                await asyncio.to_thread(relay.join, 5)
            if not self._stopping:
                logger.warning(
                    "the worker process exited (code %s); starting another in %.0f s",
                    code,
                    RESTART_DELAY,
                )
                await asyncio.sleep(RESTART_DELAY)

    async def _start(self) -> tuple[asyncio.subprocess.Process, threading.Thread | None]:
        command = [sys.executable, "-m", "cli.main", "worker"]
        if self._bus is None:
            self._process = await asyncio.create_subprocess_exec(*command, preexec_fn=_child_setup)
            self.starts += 1
            return self._process, None
        receiver, sender = multiprocessing.Pipe(duplex=False)
        with sender:  # the child holds the write end: EOF then means it is gone
            self._process = await asyncio.create_subprocess_exec(
                *command,
                "--events-fd",
                str(sender.fileno()),
                pass_fds=(sender.fileno(),),
                preexec_fn=_child_setup,
            )
        self.starts += 1
        return self._process, self._relay(receiver, asyncio.get_running_loop())

    def _relay(self, receiver: Connection, loop: asyncio.AbstractEventLoop) -> threading.Thread:
        assert self._bus is not None
        bus = self._bus

        def forward() -> None:
            with receiver:
                while True:
                    try:
                        execution_id, messages = receiver.recv()
                    except (EOFError, OSError):
                        return
                    asyncio.run_coroutine_threadsafe(bus.publish(execution_id, messages), loop)

        thread = threading.Thread(target=forward, name="event-relay", daemon=True)
        thread.start()
        return thread

    async def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (the child lets running activities finish), SIGKILL after ``timeout``."""
        self._stopping = True
        if self._process is not None:
            await terminate_child(self._process, timeout)


@contextlib.asynccontextmanager
async def worker_process(settings: Settings, bus: EventBus | None) -> AsyncIterator[WorkerProcess]:
    """The supervised worker child for the duration of the block."""
    worker = WorkerProcess(settings, bus)
    supervisor = asyncio.create_task(worker.supervise())
    try:
        yield worker
    finally:
        await worker.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await supervisor
