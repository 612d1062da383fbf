"""Event latency, emit → client, through the real path: recorder → bus → SSE → client.

    .venv/bin/python bench/stream.py [--quick] [--redis redis://127.0.0.1:6379/0]

For each bus (in-process, and Redis when it answers) and each number of subscribers (1, 100,
500): the API is served by uvicorn in this process; a child process opens that many SSE
streams of one execution; this process then records events with the worker's
``EventRecorder`` (a database write, then a publish), each carrying its emit time; the
clients note when each arrives. Latency is arrival - emit, so it includes the database
write, the bus, the stream's gap check, SSE framing and the client's parsing. Prints p50,
p99 and max in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import uvicorn
from rich.console import Console
from rich.table import Table

from activities.events import EventRecorder
from api.app import create_app
from api.security import create_token
from core.events import EventBus, InProcessEventBus, RedisEventBus
from core.settings import Settings
from db.migrate import upgrade_to_head
from db.models import Execution, User, Workflow
from db.session import create_engine, create_session_factory
from temporal_workflows.run_types import EventRecord

SECRET_KEY = "bench-secret-key-" + "x" * 32


class _Server(uvicorn.Server):
    def capture_signals(self) -> contextlib.AbstractContextManager[None]:  # type: ignore[override]
        return contextlib.nullcontext()


# --- the client side (a child process) ------------------------------------------------------


async def clients(url: str, token: str, count: int) -> None:
    """Open ``count`` SSE streams; say "ready" when all got the warm-up; print latencies.

    A bare asyncio reader rather than httpx: the figure should be the server's latency,
    not the parsing cost of 500 Python HTTP clients sharing one core.
    """
    latencies: list[float] = []
    warmed = 0
    warm = asyncio.Event()
    target = httpx.URL(url)
    request = (
        f"GET {target.raw_path.decode()} HTTP/1.1\r\nHost: {target.host}\r\n"
        f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"
    ).encode()

    async def one() -> None:
        nonlocal warmed
        reader, writer = await asyncio.open_connection(target.host, target.port)
        writer.write(request)
        while line := await reader.readline():
            if not line.startswith(b"data:"):
                if line.startswith(b"0\r\n"):
                    break  # the last chunk: the stream ended
                continue
            event = json.loads(line[5:])
            emitted = (event.get("data") or {}).get("emitted")
            if emitted is None:
                warmed += 1
                if warmed == count:
                    warm.set()
            else:
                latencies.append(time.time() - emitted)
            if event["type"] == "execution.completed":
                break
        writer.close()

    tasks = [asyncio.create_task(one()) for _ in range(count)]
    await warm.wait()
    print("ready", flush=True)
    await asyncio.gather(*tasks)
    print(json.dumps(latencies), flush=True)


# --- the server side ------------------------------------------------------------------------


async def prepare(db_url: str) -> tuple[str, str]:
    """A user, workflow and execution row; returns (execution id, access token)."""
    await upgrade_to_head(db_url)
    engine = create_engine(db_url)
    async with create_session_factory(engine)() as session:
        user = User(
            email=f"bench-{uuid.uuid4().hex[:6]}@example.com", password_hash="x", role="admin"
        )
        session.add(user)
        await session.flush()
        workflow = Workflow(owner_id=user.id, name="bench", definition={"steps": []})
        session.add(workflow)
        await session.flush()
        execution = Execution(
            workflow_id=workflow.id, version=1, temporal_workflow_id=str(uuid.uuid4())
        )
        session.add(execution)
        await session.commit()
        ids = str(execution.id), user.id
    await engine.dispose()
    token = create_token(ids[1], "access", SECRET_KEY, timedelta(hours=1))
    return ids[0], token


def event(seq: int, *, measured: bool, last: bool = False) -> EventRecord:
    data: dict[str, Any] = {"emitted": time.time()} if measured else {}
    return EventRecord(
        type="execution.completed" if last else "log",
        dedupe_key=f"bench:{seq}",
        data=data,
        ts=datetime.now(UTC),
    )


async def measure(
    kind: str, redis_url: str | None, subscribers: int, events: int, interval: float
) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        execution_id, token = await prepare(db_url)
        settings = Settings(
            environment="test", database_url=db_url, secret_key=SECRET_KEY, data_dir=Path(tmp)
        )
        api_bus: EventBus
        if kind == "redis":
            assert redis_url
            prefix = f"bench:{uuid.uuid4().hex[:6]}:"
            api_bus = RedisEventBus(redis_url, prefix=prefix, queue_limit=10_000)
            worker_bus: EventBus = RedisEventBus(redis_url, prefix=prefix)
        else:
            api_bus = worker_bus = InProcessEventBus(queue_limit=10_000)
        app = create_app(settings, bus=api_bus)
        listener = socket.create_server(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        server = _Server(uvicorn.Config(app, log_level="error"))
        # The socket listens already: clients that connect early wait in its backlog.
        serving = asyncio.create_task(server.serve(sockets=[listener]))
        engine = create_engine(db_url, serialize_writes=True)
        recorder = EventRecorder(create_session_factory(engine), worker_bus.publish)
        url = f"http://127.0.0.1:{port}/api/v1/executions/{execution_id}/events"
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--client",
            url,
            token,
            str(subscribers),
            stdout=asyncio.subprocess.PIPE,
            limit=2**26,
        )
        assert child.stdout is not None
        await recorder.record(execution_id, [event(0, measured=False)])
        assert (await child.stdout.readline()).strip() == b"ready"
        for seq in range(1, events + 1):
            await recorder.record(execution_id, [event(seq, measured=True, last=seq == events)])
            await asyncio.sleep(interval)
        latencies = json.loads(await child.stdout.readline())
        await child.wait()
        server.should_exit = True
        await serving
        await engine.dispose()
        await api_bus.aclose()
        if worker_bus is not api_bus:
            await worker_bus.aclose()
    return [x * 1000 for x in latencies]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main(args: argparse.Namespace) -> None:
    kinds = ["in-process"]
    try:
        import redis

        redis.Redis.from_url(args.redis, socket_connect_timeout=1).ping()
        kinds.append("redis")
    except Exception as exc:
        print(f"Redis at {args.redis} does not answer ({exc}); in-process only", file=sys.stderr)
    events = 20 if args.quick else 100
    table = Table(title=f"Event latency emit → SSE client ({events} events, 20 per second)")
    for column in ("bus", "subscribers", "deliveries", "p50 ms", "p99 ms", "max ms"):
        table.add_column(column, justify="right")
    for kind in kinds:
        for subscribers in (1, 100, 500):
            values = await measure(kind, args.redis, subscribers, events, 0.05)
            table.add_row(
                kind,
                str(subscribers),
                str(len(values)),
                f"{statistics.median(values):.1f}",
                f"{percentile(values, 0.99):.1f}",
                f"{max(values):.1f}",
            )
    Console().print(table)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        asyncio.run(clients(sys.argv[2], sys.argv[3], int(sys.argv[4])))
    else:
        parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
        parser.add_argument("--quick", action="store_true", help="20 events instead of 100")
        parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
        asyncio.run(main(parser.parse_args()))
