"""The production processes, end to end: two ``headrace api`` and two ``headrace worker``.

Real subprocesses started from ``.venv/bin/headrace`` in production mode, configured only by
``HEADRACE_*`` variables, against a fresh PostgreSQL database, Redis, moto's S3 server and a
Temporal dev server (see :mod:`tests.deploy.production`). The tests run the README's first
workflow and its signed webhook with every request sent to one process or the other, and
check what only several processes can get wrong: a stream on one API following a run started
on the other (through Redis), large outputs shared through the bucket, per-process metrics,
and a run that survives the SIGKILL of the worker running its step.

All tests share one stack (module scope) and one xdist worker; the crash test comes last
because it kills a worker.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import signal
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from prometheus_client.parser import text_string_to_metric_families
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect

from tests.conftest import worker_tag
from tests.deploy.production import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    INLINE_LIMIT,
    ApiProcess,
    ProductionStack,
    free_port,
    production_stack,
)
from tests.services import create_postgres_database, drop_postgres_database, redis_or_skip
from tests.support.polling import eventually
from tests.support.target_server import TargetServer

REDIS_PREFIX = "headrace:events:"  # core.events.redis_bus.RedisEventBus's default
TERMINAL = {"execution.completed", "execution.failed", "execution.cancelled"}
README_DEFINITION = {
    "steps": [
        {"id": "greet", "type": "transform", "with": {"text": "hello {{ input.name }}"}},
        {
            "id": "shout",
            "type": "transform",
            "depends_on": ["greet"],
            "with": {"text": "{{ steps.greet.output.text | upper }}"},
        },
    ],
    "output": "{{ steps.shout.output.text }}",
}


# --- the stack -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on loopback, the production processes' object store."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        from tests.services import unavailable

        unavailable("moto[server] (an S3 endpoint)", str(exc))
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(scope="module")
async def production_database(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database (``headrace migrate`` creates the schema)."""
    name = f"headrace_prod_{worker_tag(request)}_{secrets.token_hex(3)}"
    url = await create_postgres_database(name)
    yield url
    await drop_postgres_database(name)


@pytest.fixture(scope="module")
async def stack(
    production_database: str,
    s3_endpoint: str,
    temporal_env: WorkflowEnvironment,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[ProductionStack]:
    redis_url = redis_or_skip()
    log_dir = tmp_path_factory.mktemp("production")
    async with production_stack(
        database_url=production_database,
        redis_url=redis_url,
        s3_endpoint=s3_endpoint,
        temporal=temporal_env.client,
        log_dir=log_dir,
    ) as running:
        try:
            yield running
        finally:
            await forget_event_streams(redis_url, production_database)


async def forget_event_streams(redis_url: str, database_url: str) -> None:
    """Delete the Redis streams of this database's executions (nothing else is touched)."""
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        ids = [str(row["id"]) for row in await conn.fetch("SELECT id FROM executions")]
    finally:
        await conn.close()
    if ids:
        client = aioredis.Redis.from_url(redis_url)
        try:
            await client.delete(*(REDIS_PREFIX + i for i in ids))
        finally:
            await client.aclose()


@pytest.fixture(scope="module")
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
async def headers(stack: ProductionStack, http: httpx.AsyncClient) -> dict[str, str]:
    """The README's login, on API #1 (the token is valid on every API process)."""
    response = await http.post(
        f"{stack.apis[0].base_url}/api/v1/auth/token",
        data={"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


# --- helpers ---------------------------------------------------------------------------------


async def create_workflow(
    http: httpx.AsyncClient, api: ApiProcess, headers: dict[str, str], definition: dict[str, Any]
) -> str:
    response = await http.post(
        f"{api.base_url}/api/v1/workflows",
        headers=headers,
        json={
            "name": f"prod-{uuid.uuid4().hex[:8]}",
            "triggers": [{"type": "manual"}],
            "definition": definition,
        },
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def execute(
    http: httpx.AsyncClient, api: ApiProcess, headers: dict[str, str], workflow_id: str, **body: Any
) -> httpx.Response:
    return await http.post(
        f"{api.base_url}/api/v1/workflows/{workflow_id}/execute", headers=headers, json=body
    )


async def wait_for_status(
    http: httpx.AsyncClient,
    api: ApiProcess,
    headers: dict[str, str],
    execution_id: str,
    timeout: float = 30,
) -> dict[str, Any]:
    """The execution as ``api`` reads it, once it has ended."""
    url = f"{api.base_url}/api/v1/executions/{execution_id}"

    async def read() -> dict[str, Any]:
        response = await http.get(url, headers=headers)
        assert response.status_code == 200, response.text
        return dict(response.json())

    return await eventually(
        read,
        lambda execution: execution["status"] in {"completed", "failed", "cancelled"},
        timeout=timeout,
        interval=0.2,
        what=f"the end of execution {execution_id}",
    )


async def scrape(http: httpx.AsyncClient, url: str) -> dict[tuple[str, frozenset[Any]], float]:
    """Every sample of a Prometheus endpoint: (name, labels) → value."""
    response = await http.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def sample(samples: dict[tuple[str, frozenset[Any]], float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@dataclass
class Hook:
    workflow_id: str
    path: str
    secret: str


async def create_hmac_webhook(
    http: httpx.AsyncClient, api: ApiProcess, headers: dict[str, str]
) -> Hook:
    """The README's webhook (HMAC, generated secret) on a workflow that greets ``body.name``."""
    # The README's note: a webhook run's input is {body, query, headers, method, event_type}.
    definition = json.loads(json.dumps(README_DEFINITION).replace("input.name", "input.body.name"))
    workflow_id = await create_workflow(http, api, headers, definition)
    path = f"hello-{uuid.uuid4().hex[:8]}"
    created = await http.post(
        f"{api.base_url}/api/v1/webhooks",
        headers=headers,
        json={"workflow_id": workflow_id, "url_path": path, "authentication": {"type": "hmac"}},
    )
    assert created.status_code == 201, created.text
    return Hook(workflow_id, path, created.json()["secret"])


def listed_workflows(samples: dict[tuple[str, frozenset[Any]], float]) -> float:
    """``GET /api/v1/workflows`` answered 200, by this process.

    The route label is the matched route's template; with FastAPI 0.165 it lacks the
    ``/api/v1`` prefix of the router it is included in (``/workflows``), so either is counted.
    """
    return sum(
        sample(samples, "headrace_http_requests_total", method="GET", route=route, status="200")
        for route in ("/api/v1/workflows", "/workflows")
    )


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def read_sse(
    http: httpx.AsyncClient, api: ApiProcess, headers: dict[str, str], execution_id: str
) -> list[dict[str, Any]]:
    """Every event of the execution's SSE stream until the server ends it."""
    events: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    url = f"{api.base_url}/api/v1/executions/{execution_id}/events"
    async with asyncio.timeout(30), http.stream("GET", url, headers=headers) as response:
        assert response.status_code == 200, await response.aread()
        async for line in response.aiter_lines():
            if not line:
                if current:
                    events.append(current)
                current = {}
            elif not line.startswith(":"):
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                current[name] = json.loads(value) if name == "data" else value
    return events


async def live_events_of(socket: ClientConnection, execution_id: str) -> list[dict[str, Any]]:
    """Frames of ``/ws/events`` about one execution, up to its terminal event."""
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(30):
        while True:
            message = json.loads(await socket.recv())
            if message["execution_id"] != execution_id:
                continue  # another run of this Redis (other tests share the global stream)
            seen.append(message)
            if message["type"] in TERMINAL:
                return seen


# --- the tests -------------------------------------------------------------------------------


class TestStartingTogether:
    async def test_every_api_came_up_at_its_first_start(self, stack: ProductionStack) -> None:
        """Both APIs started at once on a fresh database, with the same admin configured
        (``docker-compose up --scale api=2`` after ``migrate``): neither may crash."""
        assert stack.start_failures == [], "\n".join(stack.start_failures)


class TestTheReadmeAcrossTwoApiProcesses:
    async def test_a_token_from_one_api_works_on_the_other_and_a_sync_run_says_hello(
        self, stack: ProductionStack, http: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        api1, api2 = stack.apis
        me = await http.get(f"{api2.base_url}/api/v1/auth/me", headers=headers)
        assert me.status_code == 200, me.text
        assert me.json()["email"] == ADMIN_EMAIL

        workflow_id = await create_workflow(http, api1, headers, README_DEFINITION)
        response = await execute(http, api2, headers, workflow_id, input_data={"name": "ada"})

        assert response.status_code == 200, f"{response.text}\n{stack.logs()}"
        answer = response.json()
        assert answer["status"] == "completed"
        assert answer["result"] == "HELLO ADA"
        assert answer["error"] is None
        stored = await wait_for_status(http, api1, headers, answer["execution_id"])
        assert stored["status"] == "completed"
        assert stored["output_data"] == "HELLO ADA"
        assert [step["status"] for step in stored["steps"]] == ["completed", "completed"]

    async def test_a_signed_webhook_repeated_on_the_other_api_returns_the_first_run(
        self, stack: ProductionStack, http: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        api1, api2 = stack.apis
        hook = await create_hmac_webhook(http, api1, headers)
        path, body = hook.path, b'{"name": "grace"}'
        call = {
            "content-type": "application/json",
            "X-Headrace-Signature": sign(hook.secret, body),
            "Idempotency-Key": "greet-grace-1",
        }
        first = await http.post(f"{api1.base_url}/hooks/{path}", headers=call, content=body)
        again = await http.post(f"{api2.base_url}/hooks/{path}", headers=call, content=body)
        waited = await http.post(
            f"{api2.base_url}/hooks/{path}", params={"wait": "true"}, headers=call, content=body
        )
        forged = await http.post(
            f"{api2.base_url}/hooks/{path}",
            headers={**call, "X-Headrace-Signature": sign("not-the-secret", body)},
            content=body,
        )

        assert first.status_code == 202, first.text
        assert first.json()["duplicate"] is False
        execution_id = first.json()["execution_id"]
        assert again.status_code == 202, again.text
        assert again.json()["duplicate"] is True
        assert again.json()["execution_id"] == execution_id
        assert waited.status_code == 200, waited.text
        assert waited.json()["execution_id"] == execution_id
        assert waited.json()["status"] == "completed"
        assert waited.json()["result"] == "HELLO GRACE"
        assert forged.status_code == 401
        assert forged.headers["content-type"] == "application/problem+json"

        runs = await http.get(
            f"{api1.base_url}/api/v1/executions",
            headers=headers,
            params={"workflow_id": hook.workflow_id},
        )
        assert runs.json()["count"] == 1, runs.text
        execution = await wait_for_status(http, api1, headers, execution_id)
        assert execution["input_data"]["body"] == {"name": "grace"}


class TestWhatProcessesShare:
    async def test_streams_on_api2_follow_a_run_started_on_api1_through_redis(
        self, stack: ProductionStack, http: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        api1, api2 = stack.apis
        definition = {
            "steps": [
                {"id": "nap", "type": "sleep", "with": {"duration": "1s"}},
                {"id": "done", "type": "transform", "depends_on": ["nap"], "with": {"ok": True}},
            ]
        }
        workflow_id = await create_workflow(http, api1, headers, definition)
        ws_url = api2.base_url.replace("http://", "ws://") + "/api/v1/ws/events"
        # /ws/events is live only (no replay from the database): API #2 can only learn of
        # events that workers publish to Redis.
        async with ws_connect(ws_url, additional_headers=headers) as socket:
            started = await execute(
                http, api1, headers, workflow_id, input_data={}, async_mode=True
            )
            assert started.status_code == 202, started.text
            execution_id = started.json()["execution_id"]
            sse, live = await asyncio.gather(
                read_sse(http, api2, headers, execution_id),
                live_events_of(socket, execution_id),
            )

        types = [event["event"] for event in sse]
        assert types[0] == "execution.started"
        assert types[-1] == "execution.completed"
        assert {"step.completed"} <= set(types)
        ids = [int(event["id"]) for event in sse]
        assert ids == list(range(1, len(ids) + 1))
        # The live socket joined before the run started; it sees the run's events, in order,
        # at least from the end of the 1 s sleep on.
        assert live, "API #2's live socket got no event of the run"
        by_id = [(int(event["id"]), event["type"]) for event in live]
        tail = [(int(event["id"]), event["event"]) for event in sse][-len(by_id) :]
        assert by_id == tail
        assert by_id[-1][1] == "execution.completed"
        assert any(e["type"] == "step.completed" and e.get("step_id") == "done" for e in live)
        redis_client = aioredis.Redis.from_url(redis_or_skip())
        try:
            published = await redis_client.xlen(REDIS_PREFIX + execution_id)
        finally:
            await redis_client.aclose()
        assert published == len(sse)

    async def test_a_large_output_goes_through_the_bucket(
        self, stack: ProductionStack, http: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        api1, api2 = stack.apis
        size = 100_000
        assert size > INLINE_LIMIT
        definition = {
            "steps": [
                {"id": "big", "type": "transform", "with": {"text": f"{{{{ 'x' * {size} }}}}"}}
            ],
            "output": "{{ steps.big.output.text }}",
        }
        workflow_id = await create_workflow(http, api1, headers, definition)

        # A worker encodes the result into the bucket; API #2 reads it back from there.
        response = await execute(http, api2, headers, workflow_id, input_data={})

        assert response.status_code == 200, f"{response.text}\n{stack.logs()}"
        answer = response.json()
        assert answer["status"] == "completed"
        assert answer["result"] == "x" * size
        stored = stack.objects(f"payloads/{answer['execution_id']}/")
        assert stored, f"nothing of the run in bucket {stack.bucket}"
        # The database keeps a preview of outputs above the limit (docs/storage.md).
        execution = await wait_for_status(http, api1, headers, answer["execution_id"])
        assert execution["output_data"]["_headrace_truncated"] is True
        assert execution["output_data"]["size_bytes"] == size + 2  # the JSON string's quotes

    async def test_workers_answer_their_liveness_and_readiness_probes(
        self, stack: ProductionStack, http: httpx.AsyncClient
    ) -> None:
        for worker in stack.workers:
            assert (await http.get(f"{worker.health_url}/livez")).status_code == 200
            ready = await http.get(f"{worker.health_url}/readyz")
            assert ready.status_code == 200, ready.text  # the Temporal worker is polling

    async def test_both_apis_are_ready_and_count_their_own_requests(
        self, stack: ProductionStack, http: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        for api in stack.apis:
            ready = await http.get(f"{api.base_url}/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json() == {"status": "ready", "checks": {"database": "ok"}}
            full = await http.get(f"{api.base_url}/healthz", params={"full": "1"})
            assert full.json() == {
                "status": "ok",
                "checks": {"database": "ok", "temporal": "ok", "redis": "ok"},
            }
        api1, api2 = stack.apis
        workers_before = [await scrape(http, worker.metrics_url) for worker in stack.workers]
        before = [await scrape(http, f"{api.base_url}/metrics") for api in stack.apis]

        for _ in range(3):
            listed = await http.get(f"{api2.base_url}/api/v1/workflows", headers=headers)
            assert listed.status_code == 200
        workflow_id = await create_workflow(http, api1, headers, README_DEFINITION)
        ran = await execute(http, api1, headers, workflow_id, input_data={"name": "bob"})
        assert ran.json()["result"] == "HELLO BOB", ran.text

        after = [await scrape(http, f"{api.base_url}/metrics") for api in stack.apis]
        listings = [listed_workflows(after[i]) - listed_workflows(before[i]) for i in range(2)]
        assert listings == [0, 3]
        # The execution gauges come from the database: both processes report the same.
        running = "headrace_executions_running"
        assert sample(after[0], running) == sample(after[1], running)
        # Workers count the runs they finished (whichever of them ran the run's workflow task).
        workers_after = [await scrape(http, worker.metrics_url) for worker in stack.workers]
        finished = "headrace_executions_finished_total"
        done = {"trigger_type": "manual", "outcome": "completed"}
        moved = sum(
            sample(a, finished, **done) - sample(b, finished, **done)
            for a, b in zip(workers_after, workers_before, strict=True)
        )
        assert moved == 1

    async def test_each_api_counts_the_webhook_calls_it_answered(
        self, stack: ProductionStack, http: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        api1, api2 = stack.apis
        hook = await create_hmac_webhook(http, api1, headers)
        body = b'{"name": "lin"}'
        call = {
            "content-type": "application/json",
            "X-Headrace-Signature": sign(hook.secret, body),
            "Idempotency-Key": f"count-{uuid.uuid4().hex[:8]}",
        }
        forged = {**call, "X-Headrace-Signature": sign("not-the-secret", body)}
        before = [await scrape(http, f"{api.base_url}/metrics") for api in stack.apis]

        answers = [
            await http.post(f"{api1.base_url}/hooks/{hook.path}", headers=call, content=body),
            await http.post(f"{api2.base_url}/hooks/{hook.path}", headers=call, content=body),
            await http.post(f"{api2.base_url}/hooks/{hook.path}", headers=call, content=body),
            await http.post(f"{api2.base_url}/hooks/{hook.path}", headers=forged, content=body),
        ]

        assert [a.status_code for a in answers] == [202, 202, 202, 401]
        after = [await scrape(http, f"{api.base_url}/metrics") for api in stack.apis]
        counted = "headrace_webhook_requests_total"
        outcomes = [
            {
                outcome: sample(after[i], counted, outcome=outcome)
                - sample(before[i], counted, outcome=outcome)
                for outcome in ("accepted", "duplicate", "unauthorized")
            }
            for i in range(2)
        ]
        assert outcomes == [
            {"accepted": 1, "duplicate": 0, "unauthorized": 0},
            {"accepted": 0, "duplicate": 2, "unauthorized": 1},
        ]


class TestAWorkerDies:
    async def test_a_run_completes_on_the_other_worker_after_a_sigkill_mid_step(
        self,
        stack: ProductionStack,
        http: httpx.AsyncClient,
        headers: dict[str, str],
        target: TargetServer,
    ) -> None:
        api1, api2 = stack.apis
        assert all(worker.alive() for worker in stack.workers), stack.logs()
        key = f"prod-crash-{uuid.uuid4().hex[:8]}"
        definition = {
            "steps": [
                {
                    "id": "slow",
                    "type": "http",
                    # The first attempt is lost with its worker; Temporal gives up on it after
                    # the timeout and runs attempt 2 on the surviving worker. A regular
                    # activity, so the server knows which worker holds it.
                    "local": False,
                    "timeout": "2s",
                    "retry": {"max_attempts": 3, "initial_interval": "200ms"},
                    "with": {"url": target.url(f"/slow/{key}?seconds=1")},
                },
                {
                    "id": "after",
                    "type": "transform",
                    "depends_on": ["slow"],
                    "with": {"slept": "{{ steps.slow.output.body.slept }}"},
                },
            ]
        }
        workflow_id = await create_workflow(http, api1, headers, definition)
        started = await execute(http, api1, headers, workflow_id, input_data={}, async_mode=True)
        assert started.status_code == 202, started.text
        execution_id = started.json()["execution_id"]
        handle = stack.temporal.get_workflow_handle(execution_id)

        async def calls() -> int:
            return target.calls[key]

        # the first attempt is inside the slow call
        await eventually(calls, lambda n: n >= 1, timeout=20, interval=0.05)
        description = await handle.describe()
        pending = description.raw_description.pending_activities
        assert len(pending) == 1, pending
        victim = stack.worker_with_identity(pending[0].last_worker_identity)
        survivor = next(worker for worker in stack.workers if worker is not victim)
        victim.signal_group(signal.SIGKILL)  # no graceful shutdown: the attempt is lost
        await asyncio.to_thread(victim.popen.wait, 10)

        execution = await wait_for_status(http, api2, headers, execution_id, timeout=40)

        assert execution["status"] == "completed", f"{execution}\n{stack.logs()}"
        assert execution["output_data"]["after"] == {"slept": True}
        slow = next(step for step in execution["steps"] if step["id"] == "slow")
        assert slow["attempts"] == 2
        assert target.calls[key] == 2
        assert survivor.alive()
        attempts = [
            event.activity_task_started_event_attributes
            async for event in handle.fetch_history_events()
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
        ]
        assert [a.identity for a in attempts] == [survivor.identity]
        assert [a.attempt for a in attempts] == [2]
