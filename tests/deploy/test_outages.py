"""Nothing lost at the edge (issue 24): the production processes through outages.

Two ``headrace api`` and two ``headrace worker`` processes run against services of this
module's own that it stops and starts again: a Temporal dev server persisted to a file, a
Redis without persistence, and PostgreSQL behind a TCP proxy that the test cuts (the
machine's PostgreSQL is shared: it is never stopped). In each outage a webhook caller sends
a call and, as a well-behaved sender does, retries it with the same ``Idempotency-Key``
while the answer is a 503 (after its ``Retry-After``) and once more after the service is
back. Each time: exactly one completed run, never a 500, every event of the run recorded
once.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from temporalio.client import Client

from api.services.sweeper import sweep_once
from db.models import Execution
from tests.conftest import worker_tag
from tests.deploy.production import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    ApiProcess,
    ProductionStack,
    free_port,
    production_settings,
    production_stack,
    start_worker,
    wait_until_polling,
)
from tests.services import POSTGRES_ADMIN_URL, create_postgres_database, drop_postgres_database
from tests.support.outage_services import RedisServer, TemporalServer
from tests.support.runner import Runner
from tests.support.tcp_proxy import TcpProxy

TERMINAL_EVENTS = {"execution.completed", "execution.failed", "execution.cancelled"}
GREET = {
    "steps": [
        {"id": "greet", "type": "transform", "with": {"text": "hello {{ input.body.name }}"}},
        {"id": "nap", "type": "sleep", "depends_on": ["greet"], "with": {"duration": "200ms"}},
    ],
    "output": "{{ steps.greet.output.text }}",
}
# Short enough that the tests wait seconds, not minutes, for what an operator waits minutes.
OUTAGE_SETTINGS = {
    "temporal_start_timeout": "2",
    "pending_sweep_interval": "1",
    "pending_start_after": "2",
    "redis_timeout": "0.3",
    "sync_wait": "10",
}


# --- the stack -------------------------------------------------------------------------------


@dataclass
class Outages:
    stack: ProductionStack
    temporal: TemporalServer
    redis: RedisServer
    database: TcpProxy
    http: httpx.AsyncClient
    log_dir: Path
    storage: TcpProxy | None = None  # in front of the object store (moto's S3)
    database_url: str = ""  # through the proxy
    s3_endpoint: str = ""
    headers: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(scope="module")
async def outages(
    request: pytest.FixtureRequest, s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Outages]:
    log_dir = tmp_path_factory.mktemp("outages")
    name = f"headrace_outage_{worker_tag(request)}_{secrets.token_hex(3)}"
    direct_url = await create_postgres_database(name)
    host_port = POSTGRES_ADMIN_URL.split("@", 1)[1].split("/", 1)[0]
    host, port = host_port.rsplit(":", 1)
    temporal, redis = TemporalServer(log_dir), RedisServer(log_dir)
    try:
        await temporal.start_and_wait()
        redis.start_and_wait()
        client = await Client.connect(temporal.address)
        s3_host, s3_port = s3_endpoint.removeprefix("http://").rsplit(":", 1)
        with TcpProxy(host, int(port)) as proxy, TcpProxy(s3_host, int(s3_port)) as storage:
            proxied_url = direct_url.replace(host_port, f"127.0.0.1:{proxy.port}")
            proxied_s3 = f"http://127.0.0.1:{storage.port}"
            async with (
                production_stack(
                    database_url=proxied_url,
                    redis_url=redis.url,
                    s3_endpoint=proxied_s3,
                    temporal=client,
                    log_dir=log_dir,
                    extra_settings=OUTAGE_SETTINGS,
                ) as stack,
                httpx.AsyncClient(timeout=30) as http,
            ):
                running = Outages(
                    stack, temporal, redis, proxy, http, log_dir, storage, proxied_url, proxied_s3
                )
                running.headers = await _login(http, stack.apis[0])
                yield running
                # Every process lived through every outage: no crash loop, no restart.
                assert all(p.alive() for p in stack.processes), stack.logs()
    finally:
        redis.stop()
        temporal.stop()
        await drop_postgres_database(name)


async def _login(http: httpx.AsyncClient, api: ApiProcess) -> dict[str, str]:
    response = await http.post(
        f"{api.base_url}/api/v1/auth/token",
        data={"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


# --- a caller and what it can check ----------------------------------------------------------


@dataclass
class Hook:
    workflow_id: str
    url_path: str


async def create_hook(o: Outages, definition: dict[str, Any] = GREET) -> Hook:
    api = o.stack.apis[0]
    workflow = await o.http.post(
        f"{api.base_url}/api/v1/workflows",
        headers=o.headers,
        json={"name": f"outage-{uuid.uuid4().hex[:8]}", "definition": definition},
    )
    assert workflow.status_code == 201, workflow.text
    workflow_id = workflow.json()["id"]
    hook = await o.http.post(
        f"{api.base_url}/api/v1/webhooks",
        headers=o.headers,
        json={"workflow_id": workflow_id, "authentication": {"type": "none"}},
    )
    assert hook.status_code == 201, hook.text
    return Hook(workflow_id, hook.json()["url_path"])


@dataclass
class Sender:
    """A webhook sender: retries a 503 after its Retry-After, with the same key."""

    o: Outages
    hook: Hook
    key: str = field(default_factory=lambda: f"delivery-{uuid.uuid4().hex}")
    statuses: list[int] = field(default_factory=list)

    async def send(self, api: ApiProcess, *, until_accepted: bool = True) -> httpx.Response:
        deadline = time.monotonic() + 60
        while True:
            response = await self.o.http.post(
                f"{api.base_url}/hooks/{self.hook.url_path}",
                headers={"Idempotency-Key": self.key},
                json={"name": "ada"},
            )
            self.statuses.append(response.status_code)
            assert response.status_code != 500, f"{response.text}\n{self.o.stack.logs()}"
            if response.status_code != 503 or not until_accepted:
                return response
            assert response.headers.get("retry-after"), "a 503 says when to try again"
            assert time.monotonic() < deadline, self.o.stack.logs()
            await asyncio.sleep(min(1.0, float(response.headers["retry-after"])))


async def finished(o: Outages, execution_id: str, timeout: float = 60) -> dict[str, Any]:
    api = o.stack.apis[1]
    async with asyncio.timeout(timeout):
        while True:
            response = await o.http.get(
                f"{api.base_url}/api/v1/executions/{execution_id}", headers=o.headers
            )
            assert response.status_code in (200, 503), response.text
            if response.status_code == 200 and response.json()["status"] in (
                "completed",
                "failed",
                "cancelled",
            ):
                return dict(response.json())
            await asyncio.sleep(0.2)


async def only_run(o: Outages, hook: Hook) -> dict[str, Any]:
    """The webhook's one run, once it has completed, with every event recorded once."""
    listed = await o.http.get(
        f"{o.stack.apis[0].base_url}/api/v1/executions",
        headers=o.headers,
        params={"workflow_id": hook.workflow_id},
    )
    assert listed.status_code == 200, listed.text
    assert listed.json()["count"] == 1, listed.text
    execution = await finished(o, listed.json()["data"][0]["id"])
    assert execution["status"] == "completed", (execution["error_message"], execution["steps"])
    assert execution["output_data"] == "hello ada"
    logs = await o.http.get(
        f"{o.stack.apis[0].base_url}/api/v1/executions/{execution['id']}/logs",
        headers=o.headers,
        params={"limit": 500},
    )
    events = logs.json()["data"]
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    types = [e["type"] for e in events]
    assert types[0] == "execution.started"
    assert [t for t in types if t in TERMINAL_EVENTS] == ["execution.completed"]
    per_step = [(e["type"], e["step_id"]) for e in events if e["step_id"]]
    assert len(per_step) == len(set(per_step)), types  # no step event twice
    assert ("step.completed", "greet") in per_step and ("step.completed", "nap") in per_step
    return execution


# --- the tests -------------------------------------------------------------------------------


class TestTemporalOutage:
    """Accepted while Temporal is away: 202 `pending`, started once it is back (the row
    is the outbox); reads and readiness unaffected."""

    async def test_a_webhook_call_during_the_outage_runs_exactly_once(
        self, outages: Outages
    ) -> None:
        o = outages
        api1, api2 = o.stack.apis
        hook = await create_hook(o)
        sender = Sender(o, hook)
        o.temporal.stop()
        try:
            accepted = await sender.send(api1)
            assert accepted.status_code == 202, accepted.text
            assert accepted.json()["status"] == "pending"
            execution_id = accepted.json()["execution_id"]
            again = await sender.send(api2)  # the sender's retry, on the other replica
            ready = await o.http.get(f"{api2.base_url}/readyz")
            read = await o.http.get(
                f"{api2.base_url}/api/v1/executions/{execution_id}", headers=o.headers
            )
            full = await o.http.get(f"{api2.base_url}/healthz", params={"full": "1"})
        finally:
            await o.temporal.start_and_wait()
        assert (again.status_code, again.json()["duplicate"]) == (202, True)
        assert again.json()["execution_id"] == execution_id
        assert ready.status_code == 200, ready.text
        assert read.status_code == 200 and read.json()["status"] == "pending"
        assert full.json()["checks"]["temporal"].startswith("error")

        after = await sender.send(api2)  # once more, now that Temporal is back
        assert after.json()["execution_id"] == execution_id
        execution = await only_run(o, hook)
        assert execution["id"] == execution_id
        assert set(sender.statuses) == {202}

    async def test_an_execute_during_the_outage_is_started_by_the_sweeper(
        self, outages: Outages
    ) -> None:
        o = outages
        api1 = o.stack.apis[0]
        hook = await create_hook(o)
        o.temporal.stop()
        try:
            response = await o.http.post(
                f"{api1.base_url}/api/v1/workflows/{hook.workflow_id}/execute",
                headers=o.headers,
                json={"input_data": {"body": {"name": "ada"}}},
            )
        finally:
            await o.temporal.start_and_wait()
        assert response.status_code == 202, response.text
        assert response.json()["status"] == "pending"
        # Nobody calls again: an API replica's sweeper starts it.
        execution = await only_run(o, hook)
        assert execution["id"] == response.json()["execution_id"]


class TestWorkerStartedBeforeTemporal:
    """A worker that starts while Temporal is away waits for it (back-off), instead of
    exiting into a restart loop."""

    async def test_it_waits_then_polls(self, outages: Outages) -> None:
        o = outages
        settings = production_settings(
            database_url=o.database_url,
            redis_url=o.redis.url,
            s3_endpoint=o.s3_endpoint,
            bucket=o.stack.bucket,
            temporal=o.stack.temporal,
            task_queue=o.stack.task_queue,
            log_dir=o.log_dir,
        )
        o.temporal.stop()
        late = start_worker("worker-late", settings, o.log_dir)
        o.stack.processes.append(late)  # stopped with the stack
        try:
            async with asyncio.timeout(60):
                while "trying again" not in late.tail():
                    assert late.alive(), late.tail()
                    await asyncio.sleep(0.2)
        finally:
            await o.temporal.start_and_wait()
        await wait_until_polling(
            [late], o.stack.temporal, o.stack.task_queue, time.monotonic() + 60
        )
        assert late.alive()


class TestRedisOutage:
    """Redis is an accelerator: limits count in-process, events go through the database."""

    async def test_a_webhook_call_without_redis_runs_exactly_once(self, outages: Outages) -> None:
        o = outages
        api1, api2 = o.stack.apis
        hook = await create_hook(o)
        sender = Sender(o, hook)
        o.redis.stop()
        try:
            accepted = await sender.send(api1)
            assert accepted.status_code == 202, accepted.text
            execution = await only_run(o, hook)  # the run's events, read without Redis
            ready = await o.http.get(f"{api1.base_url}/readyz")
            metrics = (await o.http.get(f"{api1.base_url}/metrics")).text
        finally:
            o.redis.start_and_wait()
        again = await sender.send(api2)
        assert again.json() | {"status": None} == {
            **accepted.json(),
            "status": None,
            "duplicate": True,
        }
        assert execution["id"] == accepted.json()["execution_id"]
        assert ready.status_code == 200
        assert 'operation="rate_limit"' in metrics
        assert set(sender.statuses) == {202}
        after = await create_hook(o)  # and with Redis back, all is as before
        await Sender(o, after).send(api1)
        await only_run(o, after)


class TestDatabaseOutage:
    """Without the database nothing can be recorded: 503 with Retry-After, nothing half
    done; a run in flight waits for its events to be stored and then completes."""

    async def test_a_webhook_call_during_the_outage_runs_exactly_once(
        self, outages: Outages
    ) -> None:
        o = outages
        api1, api2 = o.stack.apis
        hook = await create_hook(o)
        in_flight = await create_hook(o)
        flying = await Sender(o, in_flight).send(api2)
        assert flying.status_code == 202, flying.text
        sender = Sender(o, hook)
        o.database.cut()
        try:
            refused = await sender.send(api1, until_accepted=False)
            ready = await o.http.get(f"{api1.base_url}/readyz")
        finally:
            o.database.restore()
        assert refused.status_code == 503, refused.text
        assert refused.headers["retry-after"]
        assert ready.status_code == 503
        accepted = await sender.send(api2)
        assert accepted.status_code == 202, accepted.text
        assert accepted.json()["duplicate"] is False  # nothing was stored the first time
        await only_run(o, hook)
        await only_run(o, in_flight)
        assert 500 not in sender.statuses


class TestObjectStoreOutage:
    """Large payloads go to the object store; while it is away the run waits (Temporal
    retries the worker's task) and finishes once it is back, nothing lost or doubled."""

    async def test_a_run_with_a_large_output_finishes_after_the_outage(
        self, outages: Outages
    ) -> None:
        o = outages
        assert o.storage is not None
        big = {
            "steps": [
                {"id": "greet", "type": "transform",
                 "with": {"text": "hello {{ input.body.name }}",
                          **{f"blob{i}": "{{ 'x' * 90000 }}" for i in range(4)}}},
                {"id": "nap", "type": "sleep", "depends_on": ["greet"],
                 "with": {"duration": "200ms"}},
            ],
            "output": "{{ steps.greet.output.text }}",
        }  # fmt: skip
        hook = await create_hook(o, big)
        sender = Sender(o, hook)
        o.storage.cut()
        try:
            accepted = await sender.send(o.stack.apis[0])
            assert accepted.status_code == 202, accepted.text
            await asyncio.sleep(3)  # the worker meets the outage: its task fails and is retried
            waiting = await o.http.get(
                f"{o.stack.apis[1].base_url}/api/v1/executions/{accepted.json()['execution_id']}",
                headers=o.headers,
            )
        finally:
            o.storage.restore()
        assert waiting.status_code == 200 and waiting.json()["status"] != "completed"
        execution = await only_run(o, hook)
        greet = {s["id"]: s for s in execution["steps"]}["greet"]
        assert greet["status"] == "completed"
        assert set(sender.statuses) == {202}


class TestStaleOutbox:
    """An API that died between saving the row and starting the run left it pending:
    the sweep starts it (Temporal says "not found")."""

    async def test_the_sweep_starts_a_pending_row_that_temporal_never_saw(
        self, app: FastAPI, runner: Runner
    ) -> None:
        workflow_id = await runner.create(
            {"steps": [{"id": "a", "type": "transform", "with": {"ok": True}}]}
        )
        execution_id = uuid.uuid4()
        long_ago = datetime.now(UTC) - timedelta(minutes=5)
        ctx = app.state.ctx
        async with ctx.sessions() as session:
            session.add(
                Execution(
                    id=execution_id,
                    temporal_workflow_id=str(execution_id),
                    workflow_id=uuid.UUID(workflow_id),
                    version=1,
                    status="pending",
                    input_data={},
                    created_at=long_ago,
                    updated_at=long_ago,
                )
            )
            await session.commit()
        # This sweep, or the app's own background one if it came first (the row is claimed
        # by one of them), starts it.
        await sweep_once(ctx)
        execution = await runner.wait_until(
            str(execution_id), lambda e: e["status"] in ("completed", "failed")
        )
        assert execution["status"] == "completed"
        assert execution["output_data"] == {"a": {"ok": True}}

    async def test_a_row_that_cannot_start_fails_and_does_not_block_the_rows_behind_it(
        self, app: FastAPI, runner: Runner
    ) -> None:
        """A pending row whose definition is gone (its version missing) is failed with the
        reason; the sweep goes on to the rows after it instead of stopping there forever."""
        workflow_id = uuid.UUID(
            await runner.create({"steps": [{"id": "a", "type": "transform", "with": {"ok": 1}}]})
        )
        ctx = app.state.ctx
        long_ago = datetime.now(UTC) - timedelta(minutes=5)
        broken, good = uuid.uuid4(), uuid.uuid4()
        async with ctx.sessions() as session:
            for execution_id, version, age in ((broken, 99, 1), (good, 1, 0)):
                session.add(
                    Execution(
                        id=execution_id,
                        temporal_workflow_id=str(execution_id),
                        workflow_id=workflow_id,
                        version=version,
                        status="pending",
                        input_data={},
                        created_at=long_ago - timedelta(seconds=age),
                        updated_at=long_ago,
                    )
                )
            await session.commit()
        await sweep_once(ctx)
        async with ctx.sessions() as session:
            failed = await session.get(Execution, broken)
        assert failed is not None and failed.status == "failed"
        assert "Version 99" in (failed.error_message or "")
        started = await runner.wait_until(
            str(good), lambda e: e["status"] in ("completed", "failed")
        )
        assert started["status"] == "completed"
