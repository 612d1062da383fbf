"""Webhook intake against ``headrace dev``: p95 of the 202 and webhook → run-started rate.

    .venv/bin/python bench/webhooks.py [--rate 50] [--duration 20]

Starts ``headrace dev`` on free ports with a fresh data dir, creates a one-step workflow
and an HMAC-signed webhook, then sends signed calls open-loop at ``--rate`` per second for
``--duration`` seconds (each call at its scheduled instant, whether or not earlier ones
answered, so a slow server cannot hide by slowing the client). It reports the latency of
the 202s, and, from the executions' ``started_at``, how long a call took to become a
running run and how many runs started per second. Target: p95 < 50 ms at 50 calls/s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.services.webhook_auth import headrace_signature

ROOT = Path(__file__).resolve().parent.parent
EMAIL, PASSWORD = "bench@example.com", "bench-password-1234"
WORKFLOW = {
    "steps": [{"id": "ack", "type": "transform", "with": {"seen": "{{ input.body.n }}"}}],
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Sent:
    n: int
    sent_at: float  # wall clock, comparable with the executions' started_at
    latency: float
    status: int
    execution_id: str | None


def start_dev(
    data_dir: Path, port: int, temporal_port: int | None = None
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "HEADRACE_DATA_DIR": str(data_dir),
        "HEADRACE_PORT": str(port),
        "HEADRACE_TEMPORAL_ADDRESS": f"127.0.0.1:{temporal_port or free_port()}",
        "HEADRACE_TEMPORAL_UI_PORT": str(free_port()),
        "HEADRACE_ADMIN_EMAIL": EMAIL,
        "HEADRACE_ADMIN_PASSWORD": PASSWORD,
        "HEADRACE_LOG_LEVEL": "WARNING",
    }
    log = (data_dir / "dev.log").open("wb")
    return subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "headrace"), "dev"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
        start_new_session=True,  # its own process group, so nothing it starts outlives it
    )


async def wait_until_up(client: httpx.AsyncClient, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("headrace dev exited; see dev.log in the data dir")
        try:
            if (await client.get("/readyz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.5)
    raise RuntimeError("headrace dev did not become ready in 120 s")


async def set_up(client: httpx.AsyncClient) -> tuple[dict[str, str], str, dict[str, Any]]:
    token = await client.post("/api/v1/auth/token", data={"username": EMAIL, "password": PASSWORD})
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    workflow = await client.post(
        "/api/v1/workflows", json={"name": "bench", "definition": WORKFLOW}, headers=headers
    )
    workflow_id = workflow.json()["id"]
    webhook = await client.post(
        "/api/v1/webhooks",
        json={
            "workflow_id": workflow_id,
            "authentication": {"type": "hmac"},
            "rate_limit": {"requests": 1_000_000, "per": "1s"},
        },
        headers=headers,
    )
    assert webhook.status_code == 201, webhook.text
    return headers, workflow_id, webhook.json()


async def send(client: httpx.AsyncClient, hook: dict[str, Any], n: int) -> Sent:
    body = json.dumps({"n": n}).encode()
    headers = {
        "content-type": "application/json",
        "X-Headrace-Signature": headrace_signature(hook["secret"], body),
    }
    sent_at, began = time.time(), time.perf_counter()
    try:
        response = await client.post(f"/hooks/{hook['url_path']}", content=body, headers=headers)
    except httpx.TransportError:
        return Sent(n, sent_at, time.perf_counter() - began, 0, None)  # counted as failed
    latency = time.perf_counter() - began
    execution_id = response.json().get("execution_id") if response.status_code == 202 else None
    return Sent(n, sent_at, latency, response.status_code, execution_id)


async def load(
    client: httpx.AsyncClient, hook: dict[str, Any], rate: float, seconds: float
) -> list[Sent]:
    """Open loop: call ``n`` goes out at ``n / rate`` seconds, answered or not."""
    start = time.perf_counter()
    tasks = []
    for n in range(int(rate * seconds)):
        delay = start + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send(client, hook, n)))
    return list(await asyncio.gather(*tasks))


async def started_times(
    client: httpx.AsyncClient, headers: dict[str, str], workflow_id: str, expected: int
) -> dict[str, float]:
    """execution id → started_at (unix), once every run has started (or 60 s passed)."""
    deadline = time.monotonic() + 60
    while True:
        found: dict[str, float] = {}
        offset = 0
        while True:
            page = (
                await client.get(
                    "/api/v1/executions",
                    params={"workflow_id": workflow_id, "limit": 500, "offset": offset},
                    headers=headers,
                )
            ).json()
            for row in page["data"]:
                if row["started_at"]:
                    found[row["id"]] = datetime.fromisoformat(row["started_at"]).timestamp()
            if page["next_offset"] is None:
                break
            offset = page["next_offset"]
        if len(found) >= expected or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.5)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far (Linux /proc; 0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def cpu_snapshot(process: subprocess.Popen[bytes]) -> dict[str, float]:
    """CPU seconds of ``headrace dev`` (the API) and of its children, by what they are."""
    found = {"api": cpu_seconds(process.pid), "worker": 0.0, "temporal": 0.0}
    for child in children(process.pid):
        with contextlib.suppress(OSError):
            command = Path(f"/proc/{child}/cmdline").read_bytes()
            found["worker" if b"worker" in command else "temporal"] += cpu_seconds(child)
    return found


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(
    results: list[Sent],
    started: dict[str, float],
    rate: float,
    seconds: float,
    cpu: dict[str, float],
) -> None:
    accepted = [r for r in results if r.status == 202]
    latencies = [r.latency * 1000 for r in accepted]
    lags = [
        (started[r.execution_id] - r.sent_at) * 1000 for r in accepted if r.execution_id in started
    ]
    first_sent = min(r.sent_at for r in results)
    last_start = max(started.values()) if started else first_sent
    table = Table(title=f"webhook intake at {rate:g} calls/s for {seconds:g} s (headrace dev)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("calls sent / answered 202", f"{len(results)} / {len(accepted)}")
    table.add_row("202 latency p50 (ms)", f"{statistics.median(latencies):.1f}")
    table.add_row("202 latency p95 (ms)", f"{percentile(latencies, 0.95):.1f}")
    table.add_row("202 latency p99 (ms)", f"{percentile(latencies, 0.99):.1f}")
    table.add_row("202 latency max (ms)", f"{max(latencies):.1f}")
    table.add_row("runs started", f"{len(lags)}")
    table.add_row("call → run started p50 (ms)", f"{statistics.median(lags):.1f}")
    table.add_row("call → run started p95 (ms)", f"{percentile(lags, 0.95):.1f}")
    table.add_row("runs started per second", f"{len(lags) / (last_start - first_sent):.1f}")
    for part, seconds in cpu.items():
        table.add_row(f"CPU ms per call: {part}", f"{seconds * 1000 / len(results):.1f}")
    Console().print(table)


async def main(rate: float, seconds: float, keep: bool) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="headrace-bench-"))
    process = start_dev(data_dir, port := free_port())
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", timeout=60, limits=limits
        ) as client:
            await wait_until_up(client, process)
            headers, workflow_id, hook = await set_up(client)
            await load(client, hook, rate, 2)  # warm-up: connections, caches, first imports
            warm = len(await started_times(client, headers, workflow_id, int(rate * 2)))
            before = cpu_snapshot(process)
            results = await load(client, hook, rate, seconds)
            started = await started_times(client, headers, workflow_id, warm + len(results))
            after = cpu_snapshot(process)
            cpu = {part: after[part] - before.get(part, 0.0) for part in after}
            ids = {r.execution_id for r in results}
            report(results, {k: v for k, v in started.items() if k in ids}, rate, seconds, cpu)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)  # whatever of its group is left
        if keep:
            print(f"data dir and dev.log kept in {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=50, help="calls per second")
    parser.add_argument("--duration", type=float, default=20, help="seconds of load")
    parser.add_argument("--keep", action="store_true", help="keep the data dir and its logs")
    args = parser.parse_args()
    asyncio.run(main(args.rate, args.duration, args.keep))
