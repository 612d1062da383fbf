"""Headrace through its REST API against hand-written Temporal workflows, on one dev server.

    .venv/bin/python bench/api_vs_native.py [--quick]

What a user pays: it starts `headrace dev` (API, worker, Temporal dev server), and beside it
a native worker process (one activity per step, one shared ``httpx.AsyncClient``, the SDK's
defaults) on the same dev server, and a loopback HTTP target. Then it runs the same work both
ways, Headrace through ``POST /workflows/{id}/execute`` (synchronous) and webhooks
(``?wait=true``), native through ``Client.execute_workflow``, and prints a table with the
ratios Headrace / native for durations (native / Headrace for rates): below 1 means Headrace
is faster.

Scenarios (issue 15): a chain of 40 ``http`` steps; 100 runs of a 3-step chain, 50 at a
time; the 3-step chain run one after the other (p50); a fan-out of 100 ``http`` steps; and a
webhook → transform → answer at 1 and 20 clients (requests/s and p50).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.worker import Worker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.interpreter import fan_out, http_chain, pct, print_table, start_http_server, timed
from bench.native import NativeFanOut, NativeHttpChain
from bench.native_activities import NativeActivities
from bench.webhooks import EMAIL, PASSWORD, free_port, start_dev, wait_until_up

NATIVE_QUEUE = "bench-native"
ECHO = {"steps": [{"id": "echo", "type": "transform", "with": {"seen": "{{ input.body.n }}"}}]}


class HeadraceApi:
    """Runs definitions through the REST API, as a user does."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.headers: dict[str, str] = {}
        self.workflows: dict[str, str] = {}

    async def log_in(self) -> None:
        token = await self.client.post(
            "/api/v1/auth/token", data={"username": EMAIL, "password": PASSWORD}
        )
        token.raise_for_status()
        self.headers = {"Authorization": f"Bearer {token.json()['access_token']}"}

    async def register(self, name: str, definition: dict[str, Any]) -> None:
        created = await self.client.post(
            "/api/v1/workflows",
            json={"name": name, "definition": definition},
            headers=self.headers,
        )
        created.raise_for_status()
        self.workflows[name] = created.json()["id"]

    async def webhook(self, name: str) -> str:
        created = await self.client.post(
            "/api/v1/webhooks",
            json={
                "workflow_id": self.workflows[name],
                "authentication": {"type": "none"},
                "rate_limit": {"requests": 1_000_000, "per": "1s"},
            },
            headers=self.headers,
        )
        created.raise_for_status()
        return f"/hooks/{created.json()['url_path']}?wait=true"

    async def execute(self, name: str) -> None:
        answer = await self.client.post(
            f"/api/v1/workflows/{self.workflows[name]}/execute",
            json={"input_data": {}},
            headers=self.headers,
        )
        if answer.status_code != 200 or answer.json()["status"] != "completed":
            raise RuntimeError(f"{name}: {answer.status_code} {answer.text[:300]}")


class Native:
    def __init__(self, client: Client) -> None:
        self.client = client

    async def run(self, workflow: str, arg: Any) -> None:
        await self.client.execute_workflow(
            workflow, arg, id=f"native-{uuid.uuid4()}", task_queue=NATIVE_QUEUE
        )


def start_native_worker(address: str) -> subprocess.Popen[bytes]:
    """The native worker in a process of its own, as Headrace's worker is."""
    return subprocess.Popen(
        [sys.executable, __file__, "--native-worker", address],
        start_new_session=True,
    )


async def native_worker(address: str) -> None:
    client = await Client.connect(address)
    async with httpx.AsyncClient() as http:
        activities = NativeActivities(http)
        worker = Worker(
            client,
            task_queue=NATIVE_QUEUE,
            workflows=[NativeHttpChain, NativeFanOut],
            activities=[activities.http_get],
        )
        await worker.run()


async def rate(call: Callable[[], Awaitable[None]], count: int, at_once: int) -> float:
    """Runs/s of ``count`` calls, at most ``at_once`` in flight."""
    gate = asyncio.Semaphore(at_once)

    async def one() -> None:
        async with gate:
            await call()

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(count)))
    return count / (time.perf_counter() - started)


async def clients_hammering(
    client: httpx.AsyncClient, path: str, clients: int, seconds: float
) -> tuple[float, float]:
    """``clients`` loops posting to ``path`` for ``seconds``: (requests/s, p50 in ms)."""
    latencies: list[float] = []
    stop = time.perf_counter() + seconds

    async def loop(offset: int) -> None:
        n = offset
        while time.perf_counter() < stop:
            started = time.perf_counter()
            answer = await client.post(path, json={"n": n})
            if answer.status_code != 200:
                raise RuntimeError(f"webhook: {answer.status_code} {answer.text[:300]}")
            latencies.append(time.perf_counter() - started)
            n += clients

    started = time.perf_counter()
    await asyncio.gather(*(loop(i) for i in range(clients)))
    return len(latencies) / (time.perf_counter() - started), pct(latencies, 0.5) * 1000


async def main(quick: bool) -> None:
    repeat, sequential, seconds = (2, 20, 5.0) if quick else (5, 50, 15.0)
    url, http_server = start_http_server()
    with tempfile.TemporaryDirectory(prefix="headrace-bench-") as data_dir:
        port, temporal_port = free_port(), free_port()
        dev = start_dev(Path(data_dir), port, temporal_port)
        native_process: subprocess.Popen[bytes] | None = None
        try:
            limits = httpx.Limits(max_connections=100)
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}", timeout=120, limits=limits
            ) as http:
                await wait_until_up(http, dev)
                native_process = start_native_worker(f"127.0.0.1:{temporal_port}")
                api = HeadraceApi(http)
                await api.log_in()
                for name, definition in {
                    "http40": http_chain(url, 40),
                    "http3": http_chain(url, 3),
                    "fanout100": fan_out(url, 100),
                    "echo": ECHO,
                }.items():
                    await api.register(name, definition)
                hook = await api.webhook("echo")
                native = Native(await Client.connect(f"127.0.0.1:{temporal_port}"))
                rows = await scenarios(api, native, url, repeat, sequential)
                rows += await webhook_rows(http, hook, seconds)
        finally:
            if native_process is not None:
                native_process.terminate()
            dev.terminate()
            dev.wait(timeout=60)
            http_server.should_exit = True
    print_table(rows, "Headrace (REST API of headrace dev) vs native Temporal, same dev server")


async def scenarios(
    api: HeadraceApi, native: Native, url: str, repeat: int, sequential: int
) -> list[tuple[str, str, float, float]]:
    await native.run("NativeHttpChain", [url, 3])  # warm both paths up
    await api.execute("http3")
    rows = []
    for label, native_call, headrace_call in [
        (
            "chain of 40 http steps (s)",
            lambda: native.run("NativeHttpChain", [url, 40]),
            lambda: api.execute("http40"),
        ),
        (
            "fan-out of 100 http steps (s)",
            lambda: native.run("NativeFanOut", [url, 100]),
            lambda: api.execute("fanout100"),
        ),
    ]:
        native_s = statistics.median(await timed(native_call, repeat))
        headrace_s = statistics.median(await timed(headrace_call, repeat))
        rows.append((label, "time", native_s, headrace_s))
    native3 = await timed(lambda: native.run("NativeHttpChain", [url, 3]), sequential)
    headrace3 = await timed(lambda: api.execute("http3"), sequential)
    rows.append(
        (
            "3-step, sequential: p50 (ms)",
            "time",
            pct(native3, 0.5) * 1000,
            pct(headrace3, 0.5) * 1000,
        )
    )
    rows.append(
        (
            "100 runs of 3 steps, 50 at a time (runs/s)",
            "rate",
            await rate(lambda: native.run("NativeHttpChain", [url, 3]), 100, 50),
            await rate(lambda: api.execute("http3"), 100, 50),
        )
    )
    return rows


async def webhook_rows(
    http: httpx.AsyncClient, hook: str, seconds: float
) -> list[tuple[str, str, float, float]]:
    """Webhook → transform → answer; no native twin, so the ratio is against n8n's figures
    measured on this machine (docs/performance.md): 56-62 req/s at 1 client, 80-91 at 20."""
    rows = []
    for clients, n8n_rate in ((1, 56.0), (20, 80.0)):
        requests, p50 = await clients_hammering(http, hook, clients, seconds)
        rows.append(
            (f"webhook ?wait=true, {clients} client(s) (req/s; n8n)", "rate", n8n_rate, requests)
        )
        rows.append((f"webhook ?wait=true, {clients} client(s): p50 (ms)", "info", 0.0, p50))
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, shorter loads")
    parser.add_argument("--native-worker", metavar="ADDRESS", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.native_worker:
        asyncio.run(native_worker(args.native_worker))
    else:
        asyncio.run(main(args.quick))
