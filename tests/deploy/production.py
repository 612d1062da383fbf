"""The production processes as real subprocesses, as an operator runs them.

:func:`production_stack` runs ``headrace migrate`` once, then ``headrace api`` and
``headrace worker`` (two of each by default) from ``.venv/bin``, each in its own process
group, configured only through ``HEADRACE_*`` environment variables in production mode:
PostgreSQL, Redis, an S3 endpoint and a Temporal frontend given by the caller. It waits until
every API answers ``/readyz`` and every worker polls the task queue, and on the way out (also
after a failure, or when a start-up fails halfway) stops every process group it started:
SIGTERM, then SIGKILL for whatever is left.

An API process that dies during its first start is started once more (as a restart policy
would) and its log is kept in :attr:`ProductionStack.start_failures`, so one test can say
that it happened while the others still run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from minio import Minio
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from tests.support.polling import eventually
from tests.support.ports import free_port

ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "change-me-please"
SECRET_KEY = "production-test-secret-" + "k" * 32
S3_ACCESS_KEY = "testing"
S3_SECRET_KEY = "testing-secret"
# Small enough that a 100 KB output leaves Temporal history without making the test slow.
INLINE_LIMIT = 32 * 1024
START_TIMEOUT = 60.0
STOP_GRACE = 10.0


def headrace(*args: str) -> list[str]:
    """The ``headrace`` console script of this interpreter's venv."""
    return [str(Path(sys.executable).parent / "headrace"), *args]


@dataclass
class Process:
    """One ``headrace`` process, leader of its own process group, logging to a file."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, sig)

    def tail(self, chars: int = 2500) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return f"--- {self.name} (pid {self.pid}, exit {self.popen.poll()}) ---\n{text[-chars:]}"


@dataclass
class ApiProcess(Process):
    base_url: str = ""


@dataclass
class WorkerProcess(Process):
    metrics_url: str = ""
    health_url: str = ""  # /livez and /readyz (HEADRACE_WORKER_HEALTH_PORT)

    @property
    def identity(self) -> str:
        """The Temporal identity the SDK gives this worker by default (``pid@host``)."""
        return f"{self.pid}@{socket.gethostname()}"


@dataclass
class ProductionStack:
    apis: list[ApiProcess]
    workers: list[WorkerProcess]
    task_queue: str
    bucket: str
    s3: Minio
    temporal: Client
    processes: list[Process] = field(default_factory=list)
    # The log of each API process that died during its first start (it was started again,
    # as an orchestrator's restart policy would).
    start_failures: list[str] = field(default_factory=list)

    def logs(self) -> str:
        """The end of every process's log, for assertion messages."""
        return "\n".join(process.tail() for process in self.processes)

    def worker_with_identity(self, identity: str) -> WorkerProcess:
        for worker in self.workers:
            if worker.identity == identity:
                return worker
        raise AssertionError(f"no worker of this stack has the identity {identity!r}")

    def objects(self, prefix: str) -> list[str]:
        """Keys under ``prefix`` in the stack's bucket."""
        return [
            str(item.object_name)
            for item in self.s3.list_objects(self.bucket, prefix=prefix, recursive=True)
        ]


def production_env(**settings: str) -> dict[str, str]:
    """This process's environment without any ``HEADRACE_*`` of its own, plus ``settings``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("HEADRACE_") and key != "PROMETHEUS_MULTIPROC_DIR"
    }
    env.update({f"HEADRACE_{key.upper()}": value for key, value in settings.items()})
    return env


def spawn(
    name: str, args: list[str], env: dict[str, str], log_dir: Path
) -> subprocess.Popen[bytes]:
    log = (log_dir / f"{name}.log").open("ab")
    try:
        return subprocess.Popen(
            args,
            env=env,
            cwd=log_dir,  # anything written relative to the working directory stays here
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        log.close()


def stop_all(processes: Iterable[Process], grace: float = STOP_GRACE) -> None:
    """SIGTERM every process group, wait up to ``grace`` seconds, SIGKILL what is left."""
    running = list(processes)
    for process in running:
        process.signal_group(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for process in running:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.popen.wait(max(0.0, deadline - time.monotonic()))
    for process in running:
        process.signal_group(signal.SIGKILL)  # the leader or a child it left behind
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.popen.wait(5)


def migrate(env: dict[str, str], log_dir: Path) -> None:
    """What a deployment runs before its processes: ``headrace migrate``, then
    ``headrace temporal setup`` (search attributes; the session's server has them already,
    so this is also its second, idempotent run)."""
    log = log_dir / "migrate.log"
    for command in (("migrate",), ("temporal", "setup")):
        with log.open("ab") as out:
            result = subprocess.run(
                headrace(*command),
                env=env,
                cwd=log_dir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=START_TIMEOUT,
                check=False,
            )
        assert result.returncode == 0, (
            f"headrace {' '.join(command)} failed:\n{log.read_text()[-3000:]}"
        )


class ExitedDuringStartup(AssertionError):
    """A process ended before it was ready."""


async def wait_until_ready(api: ApiProcess, http: httpx.AsyncClient, deadline: float) -> None:
    """Until ``/readyz`` is 200 (the database is reachable from that process).

    Raises:
        ExitedDuringStartup: The process ended first.
    """

    async def ready() -> bool:
        if not api.alive():
            raise ExitedDuringStartup(f"{api.name} exited during start-up\n{api.tail()}")
        return (await http.get(f"{api.base_url}/readyz", timeout=2)).status_code == 200

    try:
        await eventually(
            ready,
            timeout=max(0.0, deadline - time.monotonic()),
            interval=0.2,
            retry_on=(httpx.HTTPError,),
            what=f"{api.name}'s readiness",
        )
    except ExitedDuringStartup:
        raise
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{api.tail()}") from None


async def pollers(client: Client, task_queue: str) -> set[str]:
    """Identities polling ``task_queue`` for workflow tasks."""
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    return {poller.identity for poller in response.pollers}


async def wait_until_polling(
    workers: list[WorkerProcess], client: Client, task_queue: str, deadline: float
) -> None:
    expected = {worker.identity for worker in workers}

    async def polling() -> set[str]:
        for worker in workers:
            if not worker.alive():
                raise ExitedDuringStartup(f"{worker.name} exited during start-up\n{worker.tail()}")
        return await pollers(client, task_queue)

    try:
        await eventually(
            polling,
            lambda identities: expected <= identities,
            timeout=max(0.0, deadline - time.monotonic()),
            interval=0.2,
            what=f"the workers' polling of {task_queue}",
        )
    except ExitedDuringStartup:
        raise
    except AssertionError as exc:
        tails = "\n".join(worker.tail() for worker in workers)
        raise AssertionError(f"{exc}\n{tails}") from None


def production_settings(
    *,
    database_url: str,
    redis_url: str,
    s3_endpoint: str,
    bucket: str,
    temporal: Client,
    task_queue: str,
    log_dir: Path,
) -> dict[str, str]:
    """The ``HEADRACE_*`` settings every process of one stack shares (lower-case names)."""
    return {
        "environment": "production",
        "secret_key": SECRET_KEY,
        "database_url": database_url,
        "redis_url": redis_url,
        "s3_endpoint": s3_endpoint,
        "s3_access_key": S3_ACCESS_KEY,
        "s3_secret_key": S3_SECRET_KEY,
        "s3_bucket": bucket,
        "temporal_address": temporal.service_client.config.target_host,
        "temporal_namespace": temporal.namespace,
        "task_queue": task_queue,
        "inline_limit": str(INLINE_LIMIT),
        "data_dir": str(log_dir / "data"),  # unused in production; kept out of the checkout
        "host": "127.0.0.1",
        # The slow target of the crash test listens on loopback.
        "allow_private_networks": "true",
        "sync_wait": "20",
        # `headrace migrate` runs first, as a Kubernetes Job would: the APIs do not migrate.
        "migrate_on_start": "false",
    }


def start_api(
    name: str, settings: dict[str, str], log_dir: Path, port: int | None = None
) -> ApiProcess:
    port = port or free_port()
    popen = spawn(name, headrace("api"), production_env(**settings, port=str(port)), log_dir)
    return ApiProcess(name, popen, log_dir / f"{name}.log", f"http://127.0.0.1:{port}")


def start_worker(name: str, settings: dict[str, str], log_dir: Path) -> WorkerProcess:
    port, health_port = free_port(), free_port()
    env = production_env(
        **settings, worker_metrics_port=str(port), worker_health_port=str(health_port)
    )
    popen = spawn(name, headrace("worker"), env, log_dir)
    return WorkerProcess(
        name,
        popen,
        log_dir / f"{name}.log",
        f"http://127.0.0.1:{port}/metrics",
        f"http://127.0.0.1:{health_port}",
    )


@contextlib.asynccontextmanager
async def production_stack(
    *,
    database_url: str,
    redis_url: str,
    s3_endpoint: str,
    temporal: Client,
    log_dir: Path,
    apis: int = 2,
    workers: int = 2,
    extra_settings: dict[str, str] | None = None,
) -> AsyncIterator[ProductionStack]:
    """Migrate, start ``apis`` API and ``workers`` worker processes, yield them, stop them.

    ``extra_settings`` (lower-case ``HEADRACE_*`` names) are added to every process's.
    """
    task_queue = f"production-{uuid.uuid4().hex[:8]}"
    bucket = f"headrace-{uuid.uuid4().hex[:10]}"  # does not exist yet: the processes make it
    common = production_settings(
        database_url=database_url,
        redis_url=redis_url,
        s3_endpoint=s3_endpoint,
        bucket=bucket,
        temporal=temporal,
        task_queue=task_queue,
        log_dir=log_dir,
    ) | (extra_settings or {})
    stack = ProductionStack([], [], task_queue, bucket, _minio(s3_endpoint), temporal, processes=[])
    try:
        # Workers touch the database only when they run a step, so they may start (and pay
        # for their imports) while the migration runs; the APIs start after it.
        for index in range(1, workers + 1):
            worker = start_worker(f"worker{index}", common, log_dir)
            stack.workers.append(worker)
            stack.processes.append(worker)
        await asyncio.to_thread(migrate, production_env(**common), log_dir)
        # Every API gets the same settings, the admin's included, as replicas of one
        # deployment do: they all bootstrap that admin at the same moment.
        api_settings = common | {"admin_email": ADMIN_EMAIL, "admin_password": ADMIN_PASSWORD}
        for index in range(1, apis + 1):
            api = start_api(f"api{index}", api_settings, log_dir)
            stack.apis.append(api)
            stack.processes.append(api)
        deadline = time.monotonic() + START_TIMEOUT
        async with httpx.AsyncClient() as http:
            await asyncio.gather(
                *(
                    _ready_or_restarted(stack, index, api_settings, log_dir, http, deadline)
                    for index in range(apis)
                )
            )
        await wait_until_polling(stack.workers, temporal, task_queue, deadline)
        yield stack
    finally:
        await asyncio.to_thread(stop_all, stack.processes)


async def _ready_or_restarted(
    stack: ProductionStack,
    index: int,
    settings: dict[str, str],
    log_dir: Path,
    http: httpx.AsyncClient,
    deadline: float,
) -> None:
    """Wait for API ``index``; if it died starting, note why and start it once more."""
    api = stack.apis[index]
    try:
        await wait_until_ready(api, http, deadline)
        return
    except ExitedDuringStartup as exc:
        stack.start_failures.append(str(exc))
    port = int(api.base_url.rsplit(":", 1)[1])
    again = start_api(f"{api.name}-restarted", settings, log_dir, port)
    stack.apis[index] = again
    stack.processes.append(again)
    await wait_until_ready(again, http, deadline)


def _minio(endpoint: str) -> Minio:
    return Minio(
        endpoint.removeprefix("http://"),
        access_key=S3_ACCESS_KEY,
        secret_key=S3_SECRET_KEY,
        secure=False,
    )
