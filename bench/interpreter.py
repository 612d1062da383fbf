"""Headrace's interpreter against hand-written native Temporal workflows, on one dev server.

    .venv/bin/python bench/interpreter.py [--quick]

Starts a Temporal dev server (WAL SQLite, eager start), a loopback HTTP server, one worker
that hosts both the native workflows and Headrace, then runs the same work both ways and
prints a table with the ratio Headrace / native (lower is better).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from rich.console import Console
from rich.table import Table
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.app import build_context
from api.schemas.users import UserCreate
from api.schemas.workflows import WorkflowCreate
from api.security import PasswordHasher
from api.services.users import create_user
from api.services.workflows import check_definition, create_workflow
from bench.native import NativeFanOut, NativeHttpChain, NativeTransformChain
from bench.native_activities import NativeActivities
from cli.devstack import temporal_binary
from core.settings import Settings
from db.migrate import upgrade_to_head
from db.models import User
from temporal_workflows.run_types import INTERPRETER_WORKFLOW, RunInput, RunResult
from temporal_workflows.visibility import SEARCH_ATTRIBUTES
from worker.main import WorkerResources, build_worker, worker_resources

QUEUE = "bench"
NATIVE_QUEUE = "bench-native"


def http_chain(url: str, length: int) -> dict[str, Any]:
    steps = [{"id": "s0", "type": "http", "with": {"url": url}}]
    steps += [
        {"id": f"s{i}", "type": "http", "depends_on": [f"s{i - 1}"], "with": {"url": url}}
        for i in range(1, length)
    ]
    return {"steps": steps}


def transform_chain(length: int) -> dict[str, Any]:
    steps = [{"id": "s0", "type": "transform", "with": {"v": 1}}]
    steps += [
        {
            "id": f"s{i}",
            "type": "transform",
            "depends_on": [f"s{i - 1}"],
            "with": {"v": f"{{{{ steps.s{i - 1}.output.v + 1 }}}}"},
        }
        for i in range(1, length)
    ]
    return {"steps": steps}


def fan_out(url: str, width: int) -> dict[str, Any]:
    return {"steps": [{"id": f"s{i}", "type": "http", "with": {"url": url}} for i in range(width)]}


def start_http_server() -> tuple[str, uvicorn.Server]:
    async def noop(_: Any) -> JSONResponse:
        return JSONResponse({"ok": True})

    config = uvicorn.Config(
        Starlette(routes=[Route("/noop", noop)]),
        host="127.0.0.1",
        port=0,
        log_level="warning",
        access_log=False,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    return f"http://127.0.0.1:{port}/noop", server


class Bench:
    def __init__(self, client: Client, settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self.context = build_context(settings, client)
        self.workflows: dict[str, tuple[str, Any]] = {}

    async def register(
        self, sessions: Any, owner: Any, name: str, definition: dict[str, Any]
    ) -> None:
        async with sessions() as session:
            workflow = await create_workflow(
                session, self.context, owner, WorkflowCreate(name=name, definition=definition)
            )
        self.workflows[name] = (str(workflow.id), check_definition(definition))

    async def headrace(self, name: str) -> None:
        workflow_id, definition = self.workflows[name]
        execution_id = str(uuid.uuid4())
        result = await self.client.execute_workflow(
            INTERPRETER_WORKFLOW,
            RunInput(
                execution_id=execution_id, workflow_id=workflow_id, version=1, definition=definition
            ),
            id=execution_id,
            task_queue=QUEUE,
            result_type=RunResult,
            request_eager_start=True,
        )
        assert result.status == "completed", result

    async def native(self, workflow: str, arg: Any) -> None:
        await self.client.execute_workflow(
            workflow,
            arg,
            id=f"native-{uuid.uuid4()}",
            task_queue=NATIVE_QUEUE,
            request_eager_start=True,
        )


async def timed(call: Callable[[], Awaitable[None]], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - started)
    return samples


async def throughput(call: Callable[[], Awaitable[None]], count: int) -> float:
    started = time.perf_counter()
    await asyncio.gather(*(call() for _ in range(count)))
    return count / (time.perf_counter() - started)


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def start_temporal(data_dir: str) -> WorkflowEnvironment:
    """A Temporal dev server for the benches: WAL SQLite, eager start, Headrace's search
    attributes registered (runs carry them)."""
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(),
        search_attributes=SEARCH_ATTRIBUTES,
        data_converter=pydantic_data_converter,
        dev_server_database_filename=str(Path(data_dir) / "temporal.db"),
        dev_server_extra_args=[
            "--sqlite-pragma",
            "journal_mode=wal",
            "--sqlite-pragma",
            "synchronous=normal",
            "--dynamic-config-value",
            "system.enableEagerWorkflowStart=true",
            "--log-level",
            "error",
        ],
    )


@dataclass
class BenchStack:
    """What a benchmark runs on: a dev server, the worker's resources, an admin owner."""

    env: WorkflowEnvironment
    resources: WorkerResources
    bench: Bench
    owner: User


@asynccontextmanager
async def bench_stack(data_dir: str, database_url: str | None = None) -> AsyncIterator[BenchStack]:
    """A Temporal dev server and a migrated database (SQLite in ``data_dir`` by default)
    with an admin to own the benchmark's workflows; everything stopped at the end."""
    env = await start_temporal(data_dir)
    settings = Settings(
        environment="test",
        data_dir=Path(data_dir),
        secret_key="b" * 32,
        database_url=database_url or f"sqlite+aiosqlite:///{data_dir}/headrace.db",
        allow_private_networks=True,
    )
    await upgrade_to_head(settings.effective_database_url)
    async with worker_resources(settings) as resources:
        async with resources.sessions() as session:
            owner = await create_user(
                session,
                UserCreate(email="bench@example.com", password="benchmark-password", role="admin"),
                PasswordHasher(settings.password_hash_concurrency),
            )
        bench = Bench(env.client, settings)
        yield BenchStack(env, resources, bench, owner)
        await bench.context.engine.dispose()
    await env.shutdown()


async def main(quick: bool, database_url: str | None) -> None:
    url, http_server = start_http_server()
    repeat, sequential, concurrent = (1, 20, 50) if quick else (3, 100, 200)
    with tempfile.TemporaryDirectory() as data_dir:
        async with bench_stack(data_dir, database_url) as stack:
            bench = stack.bench
            for name, definition in {
                "http40": http_chain(url, 40),
                "transform40": transform_chain(40),
                "fanout100": fan_out(url, 100),
                "http3": http_chain(url, 3),
            }.items():
                await bench.register(stack.resources.sessions, stack.owner, name, definition)
            headrace_worker = build_worker(stack.env.client, QUEUE, stack.resources)
            native_http = httpx.AsyncClient()
            native = NativeActivities(native_http)
            native_worker = Worker(
                stack.env.client,
                task_queue=NATIVE_QUEUE,
                workflows=[NativeHttpChain, NativeTransformChain, NativeFanOut],
                activities=[native.http_get, native.transform],
            )
            async with headrace_worker, native_worker:
                rows = await run_scenarios(bench, url, repeat, sequential, concurrent)
            await native_http.aclose()
    http_server.should_exit = True
    print_table(rows)


async def run_scenarios(
    bench: Bench, url: str, repeat: int, sequential: int, concurrent: int
) -> list[tuple[str, str, float, float]]:
    await bench.native("NativeHttpChain", [url, 3])  # warm up both paths
    await bench.headrace("http3")
    rows = []
    for label, native_call, headrace_call in [
        (
            "chain of 40 http steps (s)",
            lambda: bench.native("NativeHttpChain", [url, 40]),
            lambda: bench.headrace("http40"),
        ),
        (
            "chain of 40 transform steps (s)",
            lambda: bench.native("NativeTransformChain", 40),
            lambda: bench.headrace("transform40"),
        ),
        (
            "fan-out of 100 http steps (s)",
            lambda: bench.native("NativeFanOut", [url, 100]),
            lambda: bench.headrace("fanout100"),
        ),
    ]:
        rows.append(
            (
                label,
                "median",
                statistics.median(await timed(native_call, repeat)),
                statistics.median(await timed(headrace_call, repeat)),
            )
        )
    native3 = await timed(lambda: bench.native("NativeHttpChain", [url, 3]), sequential)
    headrace3 = await timed(lambda: bench.headrace("http3"), sequential)
    rows.append(
        (
            f"3-step, {sequential} sequential: p50 (ms)",
            "p50",
            pct(native3, 0.5) * 1000,
            pct(headrace3, 0.5) * 1000,
        )
    )
    rows.append(
        (
            f"3-step, {sequential} sequential: p95 (ms)",
            "p95",
            pct(native3, 0.95) * 1000,
            pct(headrace3, 0.95) * 1000,
        )
    )
    rows.append(
        (
            f"3-step, {concurrent} at once (runs/s, higher is better)",
            "rate",
            await throughput(lambda: bench.native("NativeHttpChain", [url, 3]), concurrent),
            await throughput(lambda: bench.headrace("http3"), concurrent),
        )
    )
    return rows


def print_table(
    rows: list[tuple[str, str, float, float]],
    title: str = "Headrace interpreter vs native Temporal workflows (same dev server)",
) -> None:
    """One row a scenario: ``(label, kind, native, headrace)``; ``kind`` "rate" compares
    rates (native / Headrace), "info" shows the Headrace figure alone, any other durations."""
    table = Table(title=title)
    for column in ("scenario", "native", "headrace", "headrace / native"):
        table.add_column(column, justify="right" if column != "scenario" else "left")
    for label, kind, native, headrace in rows:
        if kind == "info":
            table.add_row(label, "", f"{headrace:.1f}", "")
            continue
        ratio = (native / headrace) if kind == "rate" else (headrace / native)
        table.add_row(label, f"{native:.3f}", f"{headrace:.3f}", f"{ratio:.2f}x")
    Console().print(table)
    print(
        "ratio: time ratio for durations; for runs/s, native rate / headrace rate "
        "(so below 1 means Headrace is faster everywhere)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--database-url", help="an empty database (default: a new SQLite file)")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.quick, arguments.database_url))
