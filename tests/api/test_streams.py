"""Live event streams: SSE and WebSocket, replay then live, on the in-process bus and Redis.

Each stack is a real uvicorn server with the API, a real worker on its own task queue and a
real bus between them (one shared in-process bus, or two Redis clients as two processes
would have, reaching Redis through a proxy the tests can stop).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from activities.events import EventRecorder
from api.app import create_app
from api.services.streams import ExecutionStream
from core.events import EventBus, InProcessEventBus, RedisEventBus, StreamOptions
from core.settings import Settings
from db.models import Execution, User, Workflow
from db.session import create_engine, create_session_factory
from temporal_workflows.run_types import EventRecord
from tests.api.test_event_bus import TcpProxy
from tests.conftest import UserFactory
from tests.services import redis_or_skip
from tests.support.polling import eventually
from tests.support.target_server import TargetServer, running_target_server
from worker.main import build_worker, worker_resources

TERMINAL = {"execution.completed", "execution.failed", "execution.cancelled"}


class _Server(uvicorn.Server):
    def capture_signals(self) -> contextlib.AbstractContextManager[None]:  # type: ignore[override]
        return contextlib.nullcontext()  # pytest keeps its own signal handlers


@contextlib.asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """Serve ``app`` on a free loopback port; yield its base URL."""
    server = _Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    task = asyncio.create_task(server.serve())

    async def started() -> bool:
        assert not task.done(), "the server did not start"
        return bool(server.started)

    await eventually(started, interval=0.01, what="the server's start")
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@dataclass
class Stack:
    kind: str
    base_url: str
    api_bus: EventBus
    worker_bus: EventBus
    proxy: TcpProxy | None
    sessions: async_sessionmaker[AsyncSession]
    http: httpx.AsyncClient

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://")


@pytest.fixture(scope="module")
def target() -> Iterator[TargetServer]:
    with running_target_server() as server:
        yield server


@pytest.fixture(scope="module", params=["in-process", "redis"])
async def stack(
    request: pytest.FixtureRequest, settings: Settings, temporal_env: WorkflowEnvironment
) -> AsyncIterator[Stack]:
    proxy = None
    queue = f"streams-{uuid.uuid4().hex[:8]}"
    if request.param == "redis":
        redis_or_skip()
        proxy = TcpProxy()
        await proxy.start()
        prefix = f"test:{queue}:"
        api_bus: EventBus = RedisEventBus(proxy.url, prefix=prefix)
        worker_bus: EventBus = RedisEventBus(proxy.url, prefix=prefix)
    else:
        api_bus = worker_bus = InProcessEventBus()
    own = settings.model_copy(update={"task_queue": queue})
    engine = create_engine(settings.effective_database_url)
    app = create_app(own, temporal_client=temporal_env.client, bus=api_bus)
    async with (
        worker_resources(own, worker_bus) as resources,
        build_worker(temporal_env.client, queue, resources),
        serving(app) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=30) as http,
    ):
        yield Stack(
            request.param,
            base_url,
            api_bus,
            worker_bus,
            proxy,
            create_session_factory(engine),
            http,
        )
    await api_bus.aclose()
    if worker_bus is not api_bus:
        await worker_bus.aclose()
    await engine.dispose()
    if proxy is not None:
        await proxy.stop()


# --- clients -------------------------------------------------------------------------------


async def read_sse(
    stack: Stack, execution_id: str, headers: dict[str, str], **params: Any
) -> list[dict[str, Any]]:
    """Every event of an SSE stream until the server ends it: ``{id, event, data}``."""
    events: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    path = f"/api/v1/executions/{execution_id}/events"
    async with (
        asyncio.timeout(30),
        stack.http.stream("GET", path, headers=headers, params=params) as response,
    ):
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        async for line in response.aiter_lines():
            if not line:
                if current:
                    events.append(current)
                current = {}
            elif not line.startswith(":"):
                field, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                current[field] = json.loads(value) if field == "data" else value
    return events


async def read_ws(url: str, into: list[dict[str, Any]] | None = None) -> tuple[int | None, str]:
    """Read JSON frames until the server closes; return the close code and reason."""
    frames = into if into is not None else []
    async with asyncio.timeout(30), ws_connect(url) as socket:
        try:
            async for frame in socket:
                frames.append(json.loads(frame))
        except ConnectionClosed:
            pass
        return socket.close_code, socket.close_reason or ""


def token_of(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


async def all_logs(
    stack: Stack, execution_id: str, headers: dict[str, str]
) -> list[dict[str, Any]]:
    response = await stack.http.get(
        f"/api/v1/executions/{execution_id}/logs", params={"limit": 1000}, headers=headers
    )
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


# --- runs ----------------------------------------------------------------------------------


def parallel_run_with_retries(target: TargetServer) -> dict[str, Any]:
    flaky = target.url(f"/flaky/{uuid.uuid4().hex}?fail=2")
    return {
        "steps": [
            {"id": "gate", "type": "wait_for_event", "with": {"event": "go"}},
            {
                "id": "fetch",
                "type": "http",
                "depends_on": ["gate"],
                "with": {"url": flaky},
                "retry": {"max_attempts": 5, "initial_interval": "100ms", "backoff_coefficient": 1},
            },
            {"id": "side", "type": "transform", "depends_on": ["gate"], "with": {"x": 1}},
            {"id": "note", "type": "log", "depends_on": ["gate"], "with": {"message": "hi"}},
            {
                "id": "join",
                "type": "transform",
                "depends_on": ["fetch", "side", "note"],
                "with": {"calls": "{{ steps.fetch.output.body.calls }}"},
            },
        ]
    }


async def start_run(stack: Stack, headers: dict[str, str], definition: dict[str, Any]) -> str:
    created = await stack.http.post(
        "/api/v1/workflows", json={"name": "streams", "definition": definition}, headers=headers
    )
    assert created.status_code == 201, created.text
    started = await stack.http.post(
        f"/api/v1/workflows/{created.json()['id']}/execute",
        json={"async_mode": True},
        headers=headers,
    )
    assert started.status_code == 202, started.text
    return str(started.json()["execution_id"])


async def signal(stack: Stack, execution_id: str, headers: dict[str, str], name: str) -> None:
    await eventually(  # the run may not be waiting yet
        lambda: stack.http.post(
            f"/api/v1/executions/{execution_id}/signal", json={"name": name}, headers=headers
        ),
        lambda response: response.status_code == 202,
        what=f"the run waiting for {name!r}",
    )


@pytest.fixture
async def developer(make_user: UserFactory) -> dict[str, str]:
    return await make_user("developer")


@pytest.fixture
async def finished_run(
    stack: Stack, target: TargetServer, developer: dict[str, str]
) -> tuple[str, list[dict[str, Any]]]:
    """A completed run with parallel steps and retries, and its stored events."""
    execution_id = await start_run(stack, developer, parallel_run_with_retries(target))
    await signal(stack, execution_id, developer, "go")
    await read_sse(stack, execution_id, developer)  # returns when the run has ended
    return execution_id, await all_logs(stack, execution_id, developer)


def assert_complete(events: list[dict[str, Any]], first: int = 1) -> None:
    ids = [int(e["id"]) for e in events]
    assert ids == list(range(first, first + len(ids))), ids
    assert events[-1]["type"] in TERMINAL
    assert sum(e["type"] in TERMINAL for e in events) == 1


# --- tests ---------------------------------------------------------------------------------


class TestOrderAndCompleteness:
    async def test_a_live_client_gets_every_event_once_in_order_then_the_stream_ends(
        self, stack: Stack, target: TargetServer, developer: dict[str, str]
    ) -> None:
        execution_id = await start_run(stack, developer, parallel_run_with_retries(target))
        reader = asyncio.create_task(read_sse(stack, execution_id, developer))
        await signal(stack, execution_id, developer, "go")
        events = await reader
        logs = await all_logs(stack, execution_id, developer)

        data = [e["data"] for e in events]
        assert_complete(data)
        assert [e["event"] for e in events] == [d["type"] for d in data]
        assert [e["id"] for e in events] == [str(d["id"]) for d in data]
        assert [(d["id"], d["type"], d.get("step_id")) for d in data] == [
            (log["id"], log["type"], log["step_id"]) for log in logs
        ]
        types = [d["type"] for d in data]
        assert types[0] == "execution.started" and types[-1] == "execution.completed"
        assert [d["attempt"] for d in data if d["type"] == "step.retrying"] == [1, 2]
        completed = {d["step_id"] for d in data if d["type"] == "step.completed"}
        assert completed == {"gate", "fetch", "side", "note", "join"}
        assert all(d["execution_id"] == execution_id and d["ts"] for d in data)

    async def test_a_late_client_gets_the_whole_run(
        self,
        stack: Stack,
        finished_run: tuple[str, list[dict[str, Any]]],
        developer: dict[str, str],
    ) -> None:
        execution_id, logs = finished_run
        events = [e["data"] for e in await read_sse(stack, execution_id, developer)]
        assert_complete(events)
        assert [e["id"] for e in events] == [log["id"] for log in logs]

    async def test_resuming_from_every_last_event_id_gives_exactly_the_rest(
        self,
        stack: Stack,
        finished_run: tuple[str, list[dict[str, Any]]],
        developer: dict[str, str],
    ) -> None:
        execution_id, logs = finished_run
        everything = [e["data"] for e in await read_sse(stack, execution_id, developer)]
        for last in range(len(logs) + 1):
            headers = {**developer, "Last-Event-ID": str(last)}
            rest = [e["data"] for e in await read_sse(stack, execution_id, headers)]
            assert rest == everything[last:], last

    async def test_the_access_token_query_parameter_works_for_event_source(
        self,
        stack: Stack,
        finished_run: tuple[str, list[dict[str, Any]]],
        developer: dict[str, str],
    ) -> None:
        execution_id, logs = finished_run
        events = await read_sse(stack, execution_id, {}, access_token=token_of(developer))
        assert len(events) == len(logs)


class TestWebSocketParity:
    async def test_frames_equal_the_sse_events_live_and_replayed(
        self, stack: Stack, target: TargetServer, developer: dict[str, str]
    ) -> None:
        execution_id = await start_run(stack, developer, parallel_run_with_retries(target))
        url = (
            f"{stack.ws_url}/api/v1/ws/executions/{execution_id}?access_token={token_of(developer)}"
        )
        live: list[dict[str, Any]] = []
        ws_reader = asyncio.create_task(read_ws(url, live))
        sse_reader = asyncio.create_task(read_sse(stack, execution_id, developer))
        await signal(stack, execution_id, developer, "go")
        code, _ = await ws_reader
        sse = [e["data"] for e in await sse_reader]
        assert code == 1000
        assert_complete(live)
        assert live == sse

        for since in (0, 3, len(sse) - 1, len(sse)):
            replayed: list[dict[str, Any]] = []
            code, _ = await read_ws(url + f"&since={since}", replayed)
            assert code == 1000 and replayed == sse[since:]

    async def test_the_dashboard_socket_shows_only_what_the_caller_may_see(
        self,
        stack: Stack,
        target: TargetServer,
        developer: dict[str, str],
        admin_headers: dict[str, str],
        make_user: UserFactory,
    ) -> None:
        stranger = await make_user("developer")
        seen: dict[str, list[dict[str, Any]]] = {"owner": [], "admin": [], "stranger": []}
        who = {"owner": developer, "admin": admin_headers, "stranger": stranger}
        tasks = [
            asyncio.create_task(
                read_ws(f"{stack.ws_url}/api/v1/ws/events?access_token={token_of(h)}", seen[n])
            )
            for n, h in who.items()
        ]
        execution_id = await start_run(stack, developer, parallel_run_with_retries(target))
        # The sockets are live only: the run waits at its gate until both are.
        await until_live(stack, execution_id, [seen["owner"], seen["admin"]])
        await signal(stack, execution_id, developer, "go")
        await read_sse(stack, execution_id, developer)

        def mine(frames: list[dict[str, Any]]) -> list[str]:
            """This run's event types since the socket was known to be live."""
            probes = [i for i, f in enumerate(frames) if f["type"] == PROBE]
            after = frames[probes[-1] + 1 :] if probes else frames
            return [f["type"] for f in after if f["execution_id"] == execution_id]

        async def received() -> dict[str, list[str]]:
            return {who: mine(frames) for who, frames in seen.items()}

        await eventually(
            received,
            lambda now: now["owner"][-1:] == now["admin"][-1:] == ["execution.completed"],
            what="the end of the run on the owner's and the admin's sockets",
        )
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

        admin = mine(seen["admin"])
        assert admin == mine(seen["owner"])
        assert "step.retrying" in admin
        assert mine(seen["stranger"]) == []


class TestReplayLiveRace:
    async def test_no_gap_and_no_duplicate_when_events_arrive_during_the_replay(
        self, stack: Stack
    ) -> None:
        execution_id = await insert_execution(stack)
        recorder = EventRecorder(stack.sessions, stack.worker_bus.publish)
        total = 200
        await record(recorder, execution_id, range(1, 61))
        # A tiny page makes each replay many reads, during which the producer goes on.
        options = StreamOptions(page_size=3, idle_check=10)
        rng = random.Random(4)

        async def consume(after: int) -> tuple[int, list[int]]:
            stream = ExecutionStream(stack.sessions, stack.api_bus, execution_id, after, options)
            async with asyncio.timeout(60):
                return after, [int(m["id"]) async for m in stream]

        consumers = []

        async def produce() -> None:
            for seq in range(61, total + 1):
                await record(recorder, execution_id, [seq], terminal=seq == total)
                if seq % 10 == 0:
                    consumers.append(asyncio.create_task(consume(rng.randint(0, seq))))
                await asyncio.sleep(rng.random() * 0.004)

        consumers.append(asyncio.create_task(consume(0)))
        await produce()
        for after, ids in await asyncio.gather(*consumers):
            assert ids == list(range(after + 1, total + 1)), after

    async def test_an_event_whose_publish_was_lost_is_filled_from_the_database(
        self, stack: Stack
    ) -> None:
        execution_id = await insert_execution(stack)
        live = EventRecorder(stack.sessions, stack.worker_bus.publish)
        lost = EventRecorder(stack.sessions, None)
        stream = ExecutionStream(
            stack.sessions, stack.api_bus, execution_id, 0, StreamOptions(idle_check=30)
        )
        got: list[int] = []

        async def consume() -> None:
            async for m in stream:
                got.append(int(m["id"]))

        reader = asyncio.create_task(consume())
        await record(live, execution_id, [1, 2])
        await wait_for(lambda: got == [1, 2])
        await record(lost, execution_id, [3, 4])
        await record(live, execution_id, [5])
        await wait_for(lambda: got == [1, 2, 3, 4, 5], timeout=5)  # far less than idle_check
        await record(live, execution_id, [6], terminal=True)
        await asyncio.wait_for(reader, 5)
        assert got == [1, 2, 3, 4, 5, 6]

    async def test_a_lost_terminal_event_still_ends_the_stream(self, stack: Stack) -> None:
        execution_id = await insert_execution(stack)
        live = EventRecorder(stack.sessions, stack.worker_bus.publish)
        lost = EventRecorder(stack.sessions, None)
        stream = ExecutionStream(
            stack.sessions, stack.api_bus, execution_id, 0, StreamOptions(idle_check=0.3)
        )
        got: list[int] = []

        async def consume() -> None:
            async for m in stream:
                got.append(int(m["id"]))

        reader = asyncio.create_task(consume())
        await record(live, execution_id, [1])
        await wait_for(lambda: got == [1])  # the reader is live, and waits
        await record(lost, execution_id, [2, 3], terminal=True)
        await asyncio.wait_for(reader, 5)
        assert got == [1, 2, 3]


class TestRedisOutage:
    async def test_the_run_goes_on_and_the_stream_polls_then_recovers(
        self, stack: Stack, target: TargetServer, developer: dict[str, str]
    ) -> None:
        if stack.proxy is None:
            pytest.skip("Redis only")
        proxy = stack.proxy
        execution_id = await start_run(stack, developer, two_gates())
        reader = asyncio.create_task(read_sse(stack, execution_id, developer))
        await signal(stack, execution_id, developer, "first")
        await proxy.stop()
        try:
            ready = await stack.http.get("/readyz")
            full = (await stack.http.get("/healthz", params={"full": "1"})).json()
            assert ready.status_code == 200  # Redis is no part of readiness
            assert full["checks"]["redis"].startswith("error")
            await signal(stack, execution_id, developer, "second")  # stored, not published
            run = await wait_status(stack, execution_id, developer, "waiting", step="third")
            assert run["steps"][1]["status"] == "completed"
        finally:
            await proxy.start()
        full = (await stack.http.get("/healthz", params={"full": "1"})).json()
        assert full["checks"]["redis"] == "ok"

        async def reader_back() -> bool:
            async with stack.api_bus.subscribe(execution_id) as probe:
                return probe.healthy

        await eventually(reader_back, what="the API's bus reader back on Redis")
        await signal(stack, execution_id, developer, "third")
        events = [e["data"] for e in await reader]
        assert_complete(events)
        assert [e["id"] for e in events] == [
            log["id"] for log in await all_logs(stack, execution_id, developer)
        ]

    async def test_a_stream_opened_while_redis_is_down_polls_the_database(
        self, stack: Stack
    ) -> None:
        if stack.proxy is None:
            pytest.skip("Redis only")
        execution_id = await insert_execution(stack)
        recorder = EventRecorder(stack.sessions, stack.worker_bus.publish)
        await stack.proxy.stop()
        try:
            stream = ExecutionStream(stack.sessions, stack.api_bus, execution_id, 0)
            reader = asyncio.create_task(_ids(stream))
            await record(recorder, execution_id, [1, 2, 3], terminal=True)
            assert await asyncio.wait_for(reader, 5) == [1, 2, 3]
        finally:
            await stack.proxy.start()


class TestAuthorization:
    async def test_sse_needs_credentials_and_hides_other_users_runs(
        self,
        stack: Stack,
        finished_run: tuple[str, list[dict[str, Any]]],
        make_user: UserFactory,
    ) -> None:
        execution_id, _ = finished_run
        path = f"/api/v1/executions/{execution_id}/events"
        anonymous = await stack.http.get(path)
        assert anonymous.status_code == 401
        assert anonymous.headers["content-type"].startswith("application/problem+json")
        for role in ("developer", "user"):
            other = await stack.http.get(path, headers=await make_user(role))
            assert other.status_code == 404, role
            assert other.json()["type"].endswith("/not-found")
        missing = await stack.http.get(
            f"/api/v1/executions/{uuid.uuid4()}/events", headers=await make_user("developer")
        )
        assert missing.status_code == 404

    async def test_a_malformed_last_event_id_is_a_422_with_a_pointer(
        self,
        stack: Stack,
        finished_run: tuple[str, list[dict[str, Any]]],
        developer: dict[str, str],
    ) -> None:
        execution_id, _ = finished_run
        response = await stack.http.get(
            f"/api/v1/executions/{execution_id}/events",
            headers={**developer, "Last-Event-ID": "soon"},
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["pointer"] == "/header/Last-Event-ID"

    async def test_websockets_are_refused_with_the_same_problems(
        self,
        stack: Stack,
        finished_run: tuple[str, list[dict[str, Any]]],
        developer: dict[str, str],
        make_user: UserFactory,
    ) -> None:
        execution_id, _ = finished_run
        base = f"{stack.ws_url}/api/v1/ws/executions/{execution_id}"
        stranger = token_of(await make_user("developer"))
        cases = {
            base: 401,
            f"{base}?access_token=forged": 401,
            f"{base}?access_token={stranger}": 404,
            f"{base}?access_token={token_of(developer)}&since=x": 422,
            f"{stack.ws_url}/api/v1/ws/events": 401,
        }
        for url, status in cases.items():
            with pytest.raises(InvalidStatus) as refused:
                await read_ws(url)
            assert refused.value.response.status_code == status, url
            assert json.loads(refused.value.response.body or b"{}")["status"] == status


class TestSlowConsumers:
    @pytest.fixture
    async def tight(
        self, stack: Stack, settings: Settings
    ) -> AsyncIterator[tuple[str, InProcessEventBus]]:
        """An API whose subscribers may fall only 3 events behind."""
        bus = InProcessEventBus(queue_limit=3)
        app = create_app(settings, bus=bus)
        async with app.router.lifespan_context(app), serving(app) as base_url:
            yield base_url, bus

    async def test_sse_and_websocket_clients_that_fall_behind_are_dropped_with_a_reason(
        self,
        stack: Stack,
        tight: tuple[str, InProcessEventBus],
        target: TargetServer,
        developer: dict[str, str],
    ) -> None:
        if stack.kind != "in-process":
            pytest.skip("the queue limit is the same code for both buses")
        base_url, bus = tight
        execution_id = await start_run(stack, developer, parallel_run_with_retries(target))
        await wait_status(stack, execution_id, developer, "waiting", step="gate")
        flood = [
            {"id": 1000 + i, "type": "log", "execution_id": execution_id, "ts": "t"}
            for i in range(10)
        ]
        url = f"/api/v1/executions/{execution_id}/events"
        async with (
            httpx.AsyncClient(base_url=base_url, timeout=30) as http,
            http.stream("GET", url, headers=developer) as response,
        ):
            lines = response.aiter_lines()
            while (await anext(lines)) != "":  # the replay's first event: subscribed
                pass
            await bus.publish(execution_id, flood)
            rest = [line async for line in lines]
        assert "event: error" in rest
        reason = json.loads(next(x for x in rest if "slow_consumer" in x).removeprefix("data: "))
        assert reason["last_event_id"] >= 1

        ws_url = base_url.replace("http://", "ws://") + (
            f"/api/v1/ws/executions/{execution_id}?access_token={token_of(developer)}"
        )
        async with ws_connect(ws_url) as socket:
            await socket.recv()  # the replay's first event: subscribed
            await bus.publish(execution_id, flood)
            with pytest.raises(ConnectionClosed):
                while True:
                    await asyncio.wait_for(socket.recv(), 10)
            assert socket.close_code == 1013
            assert "slow consumer" in (socket.close_reason or "")
        await signal(stack, execution_id, developer, "go")


class TestShutdown:
    async def test_open_streams_end_with_a_reconnect_hint_and_the_server_stops(
        self, stack: Stack, settings: Settings, target: TargetServer, developer: dict[str, str]
    ) -> None:
        """A rolling update: SIGTERM's handler ends every open SSE and WebSocket stream at
        once (SSE: a `reconnect` event with `retry:`; WebSocket: close 1012 with the id to
        resume from), so uvicorn, which waits for open connections, stops without waiting
        out its grace time."""
        if stack.kind != "in-process":
            pytest.skip("the same code for both buses")
        from cli.runner import _begin_shutdown

        execution_id = await start_run(stack, developer, parallel_run_with_retries(target))
        await wait_status(stack, execution_id, developer, "waiting", step="gate")
        app = create_app(settings, bus=stack.api_bus)
        server = _Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
        async with app.router.lifespan_context(app):
            serving_task = asyncio.create_task(server.serve())
            await eventually(lambda: _true_when(server.started), interval=0.01)
            base_url = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
            ws_url = base_url.replace("http://", "ws://") + (
                f"/api/v1/ws/executions/{execution_id}?access_token={token_of(developer)}"
            )
            url = f"/api/v1/executions/{execution_id}/events"
            async with (
                asyncio.timeout(30),
                httpx.AsyncClient(base_url=base_url, timeout=30) as http,
                http.stream("GET", url, headers=developer) as response,
                ws_connect(ws_url) as socket,
            ):
                lines = response.aiter_lines()
                while (await anext(lines)) != "":  # the replay's first event: subscribed
                    pass
                await socket.recv()
                _begin_shutdown(server, app)
                rest = [line async for line in lines]
                with pytest.raises(ConnectionClosed):
                    while True:
                        await socket.recv()
                await serving_task  # returns: no stream held the server open
        assert "event: reconnect" in rest and "retry: 1000" in rest
        hint = json.loads(next(x for x in rest if "server_restarting" in x).removeprefix("data: "))
        assert hint["last_event_id"] >= 1
        assert socket.close_code == 1012
        assert "since=" in (socket.close_reason or "")
        await signal(stack, execution_id, developer, "go")


async def _true_when(value: object) -> bool:
    return bool(value)


# --- helpers -------------------------------------------------------------------------------


def two_gates() -> dict[str, Any]:
    return {
        "steps": [
            {"id": "first", "type": "wait_for_event", "with": {"event": "first"}},
            {
                "id": "second",
                "type": "wait_for_event",
                "depends_on": ["first"],
                "with": {"event": "second"},
            },
            {
                "id": "third",
                "type": "wait_for_event",
                "depends_on": ["second"],
                "with": {"event": "third"},
            },
        ]
    }


async def wait_status(
    stack: Stack, execution_id: str, headers: dict[str, str], status: str, *, step: str
) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        response = await stack.http.get(f"/api/v1/executions/{execution_id}", headers=headers)
        return dict(response.json())

    def reached(run: dict[str, Any]) -> bool:
        steps = {s["id"]: s for s in run["steps"]}
        return bool(run["status"] == status and steps[step]["status"] == status)

    return await eventually(run, reached, what=f"{step} {status}")


async def insert_execution(stack: Stack) -> uuid.UUID:
    """An execution row (no Temporal run): events are then recorded by the test itself."""
    async with stack.sessions() as session:
        owner = User(email=f"race-{uuid.uuid4().hex[:8]}@example.com", password_hash="x")
        session.add(owner)
        await session.flush()
        workflow = Workflow(owner_id=owner.id, name="race", definition={"steps": []})
        session.add(workflow)
        await session.flush()
        execution = Execution(
            workflow_id=workflow.id, version=1, temporal_workflow_id=str(uuid.uuid4())
        )
        session.add(execution)
        await session.commit()
        return execution.id


async def record(
    recorder: EventRecorder, execution_id: uuid.UUID, seqs: Any, *, terminal: bool = False
) -> None:
    """Record one ``log`` event per number (the last one terminal if asked)."""
    seqs = list(seqs)
    events = [
        EventRecord(
            type="execution.completed" if terminal and s == seqs[-1] else "log",
            dedupe_key=f"test:{s}",
            message=f"event {s}",
            ts=datetime.now(UTC),
        )
        for s in seqs
    ]
    await recorder.record(str(execution_id), events)


async def _ids(stream: ExecutionStream) -> list[int]:
    return [int(m["id"]) async for m in stream]


async def wait_for(condition: Callable[[], object], timeout: float = 10) -> None:
    async def check() -> object:
        return condition()

    await eventually(check, timeout=timeout, interval=0.02)


PROBE = "test.probe"


async def until_live(stack: Stack, execution_id: str, sockets: list[list[dict[str, Any]]]) -> None:
    """Publish probe events of the run until every socket's frames hold one: they are live.

    A probe has id 0, so the run's own streams (which drop ids they have sent) ignore it.
    """
    probe = {"id": 0, "type": PROBE, "execution_id": execution_id, "ts": "probe"}

    async def probed() -> bool:
        await stack.worker_bus.publish(execution_id, [probe])
        return all(any(f["type"] == PROBE for f in frames) for frames in sockets)

    await eventually(probed, what="the sockets' subscriptions")
