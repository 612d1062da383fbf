"""The worker's event recorder alone: a fan-out's events written to the database.

    PYTHONPATH=$PWD .venv/bin/python bench/recorder.py [--steps 100] [--runs 5]
        [--baseline REF] [--database-url URL]

What a fan-out of ``--steps`` http steps asks of the recorder: every step's activity records
``step.started`` at once, then every one records ``step.completed`` with its output (each
``record()`` call waits for its commit, as the activities do). Measured per run: the CPU the
process spent (``time.process_time``, the worker's cost) and the wall time, median of
``--runs`` fresh executions after one warm-up.

``--baseline REF`` also loads ``activities/events.py`` as it is at git ``REF`` and measures
it in the same process, interleaved run by run with the current recorder, on the same
database, so both see the same machine load; the table then has the ratio current /
baseline. SQLite (a fresh file, the ``headrace dev`` setup) unless ``--database-url`` names
an empty PostgreSQL database (``postgresql+asyncpg://…``; it is migrated here).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import activities.events as current_events
from db.migrate import upgrade_to_head
from db.models import Execution, ExecutionLog, User, Workflow
from db.session import create_engine, create_session_factory
from temporal_workflows.run_types import EventRecord

ROOT = Path(__file__).resolve().parent.parent


def baseline_module(ref: str) -> ModuleType:
    """``activities/events.py`` as committed at ``ref``, loaded under another name."""
    source = subprocess.run(
        ["git", "show", f"{ref}:activities/events.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "baseline_events.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("baseline_events", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


async def new_execution(sessions: async_sessionmaker[AsyncSession], workflow_id: uuid.UUID) -> str:
    async with sessions() as session, session.begin():
        execution = Execution(
            workflow_id=workflow_id,
            version=1,
            status="running",
            temporal_workflow_id=str(uuid.uuid4()),
        )
        session.add(execution)
    return str(execution.id)


def step_event(kind: str, step: int) -> EventRecord:
    data: dict[str, Any] = {"step_type": "http"}
    if kind == "completed":
        data["output"] = {
            "status": 200,
            "headers": {"content-type": "application/json"},
            "body": {"id": step, "name": f"item {step}", "tags": ["a", "b"]},
        }
    return EventRecord(
        type=f"step.{kind}",
        dedupe_key=f"act:{step}:{kind}",
        step_id=f"s{step}",
        attempt=1,
        data=data,
        ts=datetime.now(UTC),
    )


async def fan_out(recorder: Any, execution_id: str, steps: int) -> tuple[float, float]:
    """(CPU ms, wall ms) of recording a fan-out's started then completed events."""
    cpu, wall = time.process_time(), time.perf_counter()
    for kind in ("started", "completed"):
        await asyncio.gather(
            *(recorder.record(execution_id, [step_event(kind, i)]) for i in range(steps))
        )
    return (time.process_time() - cpu) * 1000, (time.perf_counter() - wall) * 1000


async def stored(sessions: async_sessionmaker[AsyncSession], execution_id: str) -> int:
    async with sessions() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(ExecutionLog)
            .where(ExecutionLog.execution_id == uuid.UUID(execution_id))
        )
        execution = await session.get(Execution, uuid.UUID(execution_id))
        assert execution is not None
        done = sum(1 for s in execution.steps.values() if s.get("status") == "completed")
        assert count is not None and done == count // 2, (done, count)
        return count


async def measure(url: str, steps: int, runs: int, baseline: ModuleType | None) -> None:
    await upgrade_to_head(url)
    engine = create_engine(url, serialize_writes=True)
    sessions = create_session_factory(engine)
    async with sessions() as session, session.begin():
        user = User(email=f"bench-{uuid.uuid4().hex[:6]}@example.com", password_hash="x")
        session.add(user)
        await session.flush()
        workflow = Workflow(owner_id=user.id, name="bench", definition={"steps": []})
        session.add(workflow)
    recorders: dict[str, Any] = {"current": current_events.EventRecorder(sessions)}
    if baseline is not None:
        recorders["baseline"] = baseline.EventRecorder(sessions)
    figures: dict[str, list[tuple[float, float]]] = {name: [] for name in recorders}
    for round_ in range(runs + 1):  # round 0 warms up
        for name, recorder in recorders.items():
            execution_id = await new_execution(sessions, workflow.id)
            cpu, wall = await fan_out(recorder, execution_id, steps)
            assert await stored(sessions, execution_id) == 2 * steps
            if round_:
                figures[name].append((cpu, wall))
    for recorder in recorders.values():
        if hasattr(recorder, "aclose"):
            await recorder.aclose()
    await engine.dispose()

    table = Table(title=f"fan-out of {steps} steps' events ({url.split(':', 1)[0]}, {runs} runs)")
    table.add_column("recorder")
    table.add_column("CPU ms (median)", justify="right")
    table.add_column("wall ms (median)", justify="right")
    table.add_column("CPU vs baseline", justify="right")
    medians = {
        name: (statistics.median(c for c, _ in rows), statistics.median(w for _, w in rows))
        for name, rows in figures.items()
    }
    for name, (cpu, wall) in medians.items():
        ratio = f"{cpu / medians['baseline'][0]:.2f}x" if "baseline" in medians else "—"
        table.add_row(name, f"{cpu:.0f}", f"{wall:.0f}", ratio)
    Console().print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--baseline", metavar="REF", help="also measure the recorder at git REF")
    parser.add_argument("--database-url", help="an empty PostgreSQL database (default: SQLite)")
    args = parser.parse_args()
    baseline = baseline_module(args.baseline) if args.baseline else None
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{tmp}/bench.db"
        asyncio.run(measure(url, args.steps, args.runs, baseline))


if __name__ == "__main__":
    main()
