"""The analytics queries on a large synthetic executions table, on SQLite and PostgreSQL.

    .venv/bin/python bench/analytics.py [--rows 1000000] [--logged 100000] [--only sqlite]
        [--keep]          # keep the filled database and print its URL
    .venv/bin/python bench/analytics.py --url URL   # time the queries on a kept database

Fills a fresh, migrated database with ``--rows`` executions (batch inserts through
SQLAlchemy Core) spread over 30 days, 100 workflows of 10 owners, and step events for
``--logged`` of them; builds the analytics rollup (``execution_stats``: bulk inserts bypass
the ORM hooks that keep it current, so it is rebuilt from the table, a day per transaction),
then times each analytics query (median of 3 runs) and prints a table.
PostgreSQL comes from ``HEADRACE_TEST_POSTGRES_URL`` (the test suite's server); a database
``headrace_bench`` is created and dropped (kept with ``--keep``, until the next PostgreSQL run
replaces it).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.services import analytics
from db.migrate import upgrade_to_head
from db.models import Execution, ExecutionLog, User, Workflow
from db.session import create_engine, create_session_factory
from tests.services import create_postgres_database, drop_postgres_database

BATCH = 10_000
WORKFLOWS, OWNERS, DAYS = 100, 10, 30
STATUSES = (
    ("completed", 0.80),
    ("failed", 0.10),
    ("cancelled", 0.03),
    ("running", 0.04),
    ("waiting", 0.02),
    ("pending", 0.01),
)
NOW = datetime.now(UTC).replace(microsecond=0)


def _users() -> list[dict[str, Any]]:
    return [
        {
            "id": uuid.uuid4(),
            "email": f"bench-{i}@example.com",
            "password_hash": "x",
            "role": "admin" if i == 0 else "developer",
            "created_at": NOW,
            "updated_at": NOW,
        }
        for i in range(OWNERS)
    ]


def _workflows(users: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "id": uuid.uuid4(),
            "owner_id": users[i % OWNERS]["id"],
            "name": f"wf-{i}",
            "shared": i % 7 == 0,
            "definition": {"steps": []},
            "created_at": NOW,
            "updated_at": NOW,
        }
        for i in range(WORKFLOWS)
    ]


def _execution(rng: random.Random, workflow_ids: list[uuid.UUID]) -> dict[str, Any]:
    created = NOW - timedelta(seconds=rng.uniform(0, DAYS * 86400))
    status = rng.choices([s for s, _ in STATUSES], [w for _, w in STATUSES])[0]
    started = created + timedelta(milliseconds=rng.uniform(5, 200))
    seconds = rng.lognormvariate(0.5, 1.2)
    done = status in ("completed", "failed", "cancelled")
    execution_id = uuid.uuid4()
    return {
        "id": execution_id,
        "workflow_id": rng.choice(workflow_ids),
        "version": 1,
        "status": status,
        "steps": {},
        "variables": {},
        "started_at": None if status == "pending" else started,
        "completed_at": started + timedelta(seconds=seconds) if done else None,
        "temporal_workflow_id": str(execution_id),
        "trigger_type": rng.choice(("manual", "schedule", "webhook")),
        "last_event_seq": 0,
        "created_at": created,
        "updated_at": created,
    }


def _step_logs(rng: random.Random, execution: dict[str, Any]) -> list[dict[str, Any]]:
    logs, at, seq = [], execution["started_at"], 0
    for step in ("fetch", "transform", "notify"):
        took = timedelta(seconds=rng.lognormvariate(-1, 1))
        for kind, ts in (("step.started", at), ("step.completed", at + took)):
            seq += 1
            logs.append(
                {
                    "execution_id": execution["id"],
                    "seq": seq,
                    "dedupe_key": f"wf:{seq}",
                    "type": kind,
                    "step_id": step,
                    "ts": ts,
                    "level": "info",
                    "message": "",
                }
            )
        at += took
    return logs


async def fill(url: str, rows: int, logged: int) -> tuple[float, float]:
    """Insert the synthetic data set and build the rollup; returns the time each took."""
    await upgrade_to_head(url)
    engine = create_engine(url)
    rng = random.Random(42)
    users = _users()
    workflows = _workflows(users)
    workflow_ids = [w["id"] for w in workflows]
    started = time.perf_counter()
    async with engine.begin() as conn:
        await conn.execute(insert(User), users)
        await conn.execute(insert(Workflow), workflows)
    done = 0
    while done < rows:
        batch = [_execution(rng, workflow_ids) for _ in range(min(BATCH, rows - done))]
        logs = [
            log
            for e in batch[: max(0, min(len(batch), logged - done))]
            if e["status"] == "completed"
            for log in _step_logs(rng, e)
        ]
        async with engine.begin() as conn:
            await conn.execute(insert(Execution), batch)
            if logs:
                await conn.execute(insert(ExecutionLog), logs)
        done += len(batch)
        print(f"\r  {done:>9,} / {rows:,} executions", end="", flush=True)
    print()
    filled = time.perf_counter() - started
    began = time.perf_counter()
    counted = await analytics.rebuild_rollup(create_session_factory(engine))
    rebuilt = time.perf_counter() - began
    print(f"  rollup rebuilt from {counted:,} ended executions in {rebuilt:.1f} s")
    # Fresh planner statistics and visibility map, as autovacuum would give a live database.
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.exec_driver_sql("VACUUM ANALYZE" if url.startswith("postgresql") else "ANALYZE")
    await engine.dispose()
    return filled, rebuilt


async def _median(run: Callable[[], Awaitable[Any]], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        await run()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


async def time_queries(url: str) -> dict[str, float]:
    engine = create_engine(url)
    sessions = create_session_factory(engine)
    async with sessions() as session:
        workflow_id = (
            await session.scalars(select(Workflow.id).order_by(Workflow.name).limit(1))
        ).one()
        users = {u.email: u.id for u in await session.scalars(select(User))}
    admin = User(id=users["bench-0@example.com"], role="admin", email="a", password_hash="x")
    developer = User(
        id=users["bench-1@example.com"], role="developer", email="d", password_hash="x"
    )
    month = analytics.make_window(NOW - timedelta(days=DAYS), NOW + timedelta(seconds=1), "day")
    week = analytics.make_window(NOW - timedelta(days=7), NOW + timedelta(seconds=1), "day")
    day = analytics.make_window(NOW - timedelta(days=1), NOW + timedelta(seconds=1), "hour")
    month_hourly = analytics.make_window(month.since, month.until, "hour")
    cases: dict[str, Callable[[AsyncSession], Awaitable[Any]]] = {
        "summary, admin, 30 days by day (all rows)": lambda s: analytics.summary(s, admin, month),
        "summary, admin, 7 days (the default window)": lambda s: analytics.summary(s, admin, week),
        "summary, admin, last 24 h by hour": lambda s: analytics.summary(s, admin, day),
        "summary, developer (own + shared), 30 days": lambda s: analytics.summary(
            s, developer, month
        ),
        "one workflow, 30 days by day": lambda s: analytics.workflow_analytics(
            s, admin, workflow_id, month
        ),
        "summary, admin, 30 days by hour (720 buckets)": lambda s: analytics.summary(
            s, admin, month_hourly
        ),
        "active executions gauge (/metrics)": analytics.active_execution_counts,
    }
    results = {}
    for name, query in cases.items():

        async def run(query: Callable[[AsyncSession], Awaitable[Any]] = query) -> None:
            async with sessions() as session:
                await query(session)

        results[name] = await _median(run)
    await engine.dispose()
    return results


async def bench(
    backend: str, rows: int, logged: int, keep: bool
) -> tuple[float, float, dict[str, float]]:
    if backend == "sqlite":
        directory = tempfile.mkdtemp(prefix="headrace-bench-")
        url = f"sqlite+aiosqlite:///{directory}/bench.db"
    else:
        url = await create_postgres_database("headrace_bench")
    try:
        fill_seconds, rebuild_seconds = await fill(url, rows, logged)
        return fill_seconds, rebuild_seconds, await time_queries(url)
    finally:
        if keep:
            print(f"  kept: {url}")
        elif backend == "sqlite":
            shutil.rmtree(directory, ignore_errors=True)
        else:
            await drop_postgres_database("headrace_bench")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--logged", type=int, default=100_000)
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    parser.add_argument("--keep", action="store_true", help="keep the filled database")
    parser.add_argument("--url", help="time the queries on a database kept by --keep")
    args = parser.parse_args()
    console = Console()
    if args.url:
        table = Table(title="Analytics (median of 3, seconds)")
        table.add_column("query")
        table.add_column(args.url.split(":", 1)[0], justify="right")
        for name, seconds in (await time_queries(args.url)).items():
            table.add_row(name, f"{seconds:.3f}")
        console.print(table)
        return
    table = Table(title=f"Analytics on {args.rows:,} executions (median of 3, seconds)")
    table.add_column("query")
    backends = [args.only] if args.only else ["sqlite", "postgresql"]
    results = {}
    for backend in backends:
        console.print(f"[bold]{backend}[/]: filling")
        results[backend] = await bench(backend, args.rows, args.logged, args.keep)
        table.add_column(backend, justify="right")
    table.add_row("fill (batch inserts)", *(f"{results[b][0]:.1f}" for b in backends))
    table.add_row("rollup rebuild (whole table)", *(f"{results[b][1]:.1f}" for b in backends))
    for name in results[backends[0]][2]:
        table.add_row(name, *(f"{results[b][2][name]:.3f}" for b in backends))
    console.print(table)


if __name__ == "__main__":
    asyncio.run(main())
