"""What a workflow concurrency limit costs a run that never has to wait for its permit.

    .venv/bin/python bench/concurrency.py [--quick]

Starts a Temporal dev server (WAL SQLite, eager start), a loopback HTTP server and one
worker, then runs the same 3-step http chain without ``concurrency`` and with
``{"limit": 1000}`` (a permit is always free, so what is measured is the asking and the
giving back: one activity that sends the ``acquire`` update, and one ``release`` signal),
and prints a table with the ratio limited / unlimited.

Then a burst: ``--burst`` runs (100) of a one-step http workflow with ``{"limit": 2}`` start
at the same moment into that one group, and the time until all have completed is printed
(or that they had not after ``--burst-timeout`` seconds).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.interpreter import (
    QUEUE,
    Bench,
    bench_stack,
    http_chain,
    pct,
    start_http_server,
    throughput,
    timed,
)
from worker.main import build_worker

Row = tuple[str, float, float, float]  # label, unlimited, limit 1000, keyed


def limited(definition: dict[str, Any], **concurrency: Any) -> dict[str, Any]:
    return {**definition, "concurrency": concurrency}


async def main(quick: bool, burst_size: int, burst_timeout: float) -> None:
    url, http_server = start_http_server()
    sequential, concurrent = (20, 30) if quick else (100, 100)
    with tempfile.TemporaryDirectory() as data_dir:
        async with bench_stack(data_dir) as stack:
            bench = stack.bench
            chain = http_chain(url, 3)
            for name, definition in {
                "unlimited": chain,
                "limited": limited(chain, limit=1000),
                "keyed": limited(chain, limit=1000, key="{{ execution.id }}"),
                "burst": limited(http_chain(url, 1), limit=2),
            }.items():
                await bench.register(stack.resources.sessions, stack.owner, name, definition)
            async with build_worker(stack.env.client, QUEUE, stack.resources):
                rows = await scenarios(bench, sequential, concurrent)
                burst_seconds = await burst(bench, burst_size, burst_timeout)
    http_server.should_exit = True
    show(rows)
    outcome = (
        f"all completed in {burst_seconds:.1f} s"
        if burst_seconds is not None
        else f"not all completed after {burst_timeout:.0f} s (stopped)"
    )
    print(f"burst: {burst_size} runs at once into one group with limit 2: {outcome}")


async def burst(bench: Bench, size: int, timeout: float) -> float | None:
    """Seconds until ``size`` runs started at once into one group (limit 2) have all
    completed; None if they had not after ``timeout`` seconds."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            await asyncio.gather(*(bench.headrace("burst") for _ in range(size)))
    except TimeoutError:
        return None
    return time.perf_counter() - started


async def scenarios(bench: Bench, sequential: int, concurrent: int) -> list[Row]:
    for name in ("unlimited", "limited", "keyed"):  # warm up every path
        await bench.headrace(name)
    rows: list[Row] = []
    samples = {
        name: await timed(lambda n=name: bench.headrace(n), sequential)  # type: ignore[misc]
        for name in ("unlimited", "limited", "keyed")
    }
    for q in (0.5, 0.95):
        unlimited, limited_, keyed = (
            pct(samples[n], q) * 1000 for n in ("unlimited", "limited", "keyed")
        )
        label = f"3-step http chain, {sequential} sequential: p{int(q * 100)} (ms)"
        rows.append((label, unlimited, limited_, keyed))
    rates = [
        await throughput(lambda n=name: bench.headrace(n), concurrent)  # type: ignore[misc]
        for name in ("unlimited", "limited", "keyed")
    ]
    rows.append((f"{concurrent} at once (runs/s)", rates[0], rates[1], rates[2]))
    return rows


def show(rows: list[Row]) -> None:
    table = Table(title="A concurrency limit that never makes a run wait, against no limit")
    for column in (
        "scenario",
        "unlimited",
        "limit 1000",
        "ratio",
        "keyed, one group a run",
        "ratio",
    ):
        table.add_column(column, justify="left" if column == "scenario" else "right")
    for label, unlimited, limited_, keyed in rows:
        rate = "runs/s" in label
        ratios = [(unlimited / x) if rate else (x / unlimited) for x in (limited_, keyed)]
        table.add_row(
            label,
            f"{unlimited:.1f}",
            f"{limited_:.1f}",
            f"{ratios[0]:.2f}x",
            f"{keyed:.1f}",
            f"{ratios[1]:.2f}x",
        )
    Console().print(table)
    print("ratio: limited / unlimited for durations, unlimited / limited for runs/s (1 = free)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--burst", type=int, default=100, help="runs started at once")
    parser.add_argument(
        "--burst-timeout", type=float, default=180.0, help="seconds before the burst is stopped"
    )
    arguments = parser.parse_args()
    asyncio.run(main(arguments.quick, arguments.burst, arguments.burst_timeout))
