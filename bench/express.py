"""Express vs durable runs (and n8n) for webhook → transform → answer, in one run.

    .venv/bin/python bench/express.py [--seconds 15] [--n8n-install /opt/n8n] [--database-url URL]

Starts ``headrace dev`` (API, worker, Temporal dev server) on free ports with a fresh data
dir, creates the same one-step workflow twice, ``execution_mode: durable`` and ``express``,
each behind a webhook, and hammers both with ``?wait=true`` calls from 1 and then 20 clients
(each client posts, waits for the answer, posts again), for ``--seconds`` each. It prints
requests/s and p50 per mode, with the ratios express / durable and express / n8n.

n8n: with ``--n8n-install`` (a directory holding ``node_modules/.bin/n8n``, see
tests/integrations/real_n8n.py for the install), n8n 1.x is started on PostgreSQL and the
same work, webhook → Set → answer (tests/integrations/fixtures/echo_set.json), is measured
in the same run. Without it, the n8n columns say "not run": nothing is estimated.

``--database-url`` gives Headrace an empty database (e.g. PostgreSQL, as n8n uses) instead
of ``headrace dev``'s SQLite file; it is migrated at start.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.api_vs_native import HeadraceApi, clients_hammering
from bench.webhooks import free_port, start_dev, wait_until_up

ROOT = Path(__file__).resolve().parent.parent
ECHO_STEPS = [{"id": "echo", "type": "transform", "with": {"seen": "{{ input.body.n }}"}}]
CLIENTS = (1, 20)
N8N_FIXTURE = ROOT / "tests" / "integrations" / "fixtures" / "echo_set.json"

Figures = dict[tuple[str, int], tuple[float, float]]  # (system, clients) -> (req/s, p50 ms)


async def headrace_hooks(http: httpx.AsyncClient) -> dict[str, str]:
    api = HeadraceApi(http)
    await api.log_in()
    hooks = {}
    for mode in ("durable", "express"):
        await api.register(mode, {"execution_mode": mode, "steps": ECHO_STEPS})
        hooks[mode] = await api.webhook(mode)
    return hooks


@contextlib.asynccontextmanager
async def n8n_hook(install: Path | None) -> AsyncIterator[tuple[str, str] | None]:
    """(n8n base URL, webhook path) of an activated webhook → Set workflow, or None."""
    if install is None:
        yield None
        return
    from tests.integrations.real_n8n import start, stop

    data = Path(tempfile.mkdtemp(prefix="headrace-bench-n8n-"))
    url, key = start(install, free_port(), data, timeout=180)
    try:
        raw = json.loads(N8N_FIXTURE.read_text())
        suffix = uuid.uuid4().hex[:8]
        nodes = []
        for node in raw["nodes"]:
            parameters = dict(node["parameters"])
            if node["type"] == "n8n-nodes-base.webhook":
                parameters["path"] = f"{parameters['path']}-{suffix}"
            nodes.append({**node, "parameters": parameters})
        body = {
            "name": f"bench {suffix}",
            "nodes": nodes,
            "connections": raw["connections"],
            "settings": raw["settings"],
        }
        async with httpx.AsyncClient(base_url=url, headers={"X-N8N-API-KEY": key}) as n8n:
            created = await n8n.post("/api/v1/workflows", json=body)
            created.raise_for_status()
            workflow_id = created.json()["id"]
            (await n8n.post(f"/api/v1/workflows/{workflow_id}/activate")).raise_for_status()
        yield url, f"/webhook/echo-set-{suffix}"
    finally:
        stop(data)


async def measure(
    http: httpx.AsyncClient, path: str, clients: int, seconds: float
) -> tuple[float, float]:
    await clients_hammering(http, path, clients, min(2.0, seconds))  # warm-up
    return await clients_hammering(http, path, clients, seconds)


async def main(seconds: float, n8n_install: Path | None, database_url: str | None) -> None:
    if database_url:
        os.environ["HEADRACE_DATABASE_URL"] = database_url  # start_dev passes the environment
    figures: Figures = {}
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    with tempfile.TemporaryDirectory(prefix="headrace-bench-") as data_dir:
        port = free_port()
        dev = start_dev(Path(data_dir), port)
        try:
            async with (
                httpx.AsyncClient(
                    base_url=f"http://127.0.0.1:{port}", timeout=120, limits=limits
                ) as http,
                n8n_hook(n8n_install) as n8n,
            ):
                await wait_until_up(http, dev)
                hooks = await headrace_hooks(http)
                for clients in CLIENTS:
                    for mode, path in hooks.items():
                        figures[mode, clients] = await measure(http, path, clients, seconds)
                    if n8n is not None:
                        async with httpx.AsyncClient(
                            base_url=n8n[0], timeout=120, limits=limits
                        ) as other:
                            figures["n8n", clients] = await measure(other, n8n[1], clients, seconds)
        finally:
            dev.send_signal(signal.SIGINT)
            try:
                dev.wait(30)
            except subprocess.TimeoutExpired:
                dev.kill()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(dev.pid, signal.SIGTERM)
    report(figures, seconds, n8n_install is not None, database_url or "SQLite (headrace dev)")


def report(figures: Figures, seconds: float, with_n8n: bool, database: str) -> None:
    table = Table(
        title=f"webhook ?wait=true → transform → answer, {seconds:g} s per cell (one run), "
        f"Headrace on {database.split('@')[-1]}"
    )
    for column in (
        "clients",
        "durable req/s",
        "express req/s",
        "n8n req/s",
        "express / durable",
        "express / n8n",
        "p50 ms durable",
        "p50 ms express",
        "p50 ms n8n",
    ):
        table.add_column(column, justify="right")
    for clients in CLIENTS:
        durable, express = figures["durable", clients], figures["express", clients]
        n8n = figures.get(("n8n", clients))
        table.add_row(
            str(clients),
            f"{durable[0]:.1f}",
            f"{express[0]:.1f}",
            f"{n8n[0]:.1f}" if n8n else "not run",
            f"{express[0] / durable[0]:.2f}x",
            f"{express[0] / n8n[0]:.2f}x" if n8n else "not run",
            f"{durable[1]:.1f}",
            f"{express[1]:.1f}",
            f"{n8n[1]:.1f}" if n8n else "not run",
        )
    Console(width=160).print(table)
    if not with_n8n:
        print("n8n not measured: pass --n8n-install DIR (see tests/integrations/real_n8n.py)")


def _args(argv: list[str] | None = None) -> Any:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="load per cell")
    parser.add_argument(
        "--n8n-install",
        type=Path,
        default=os.environ.get("HEADRACE_N8N_INSTALL") or None,
        help="directory with node_modules/.bin/n8n (n8n 1.x); without it n8n is not run",
    )
    parser.add_argument("--database-url", help="an empty database for Headrace")
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = _args()
    asyncio.run(main(arguments.seconds, arguments.n8n_install, arguments.database_url))
