"""Soak (``-m slow``): sustained webhook traffic into ``headrace dev`` while its worker is killed.

Every call answered 202 must become exactly one execution that completes, and every
execution's event log must be whole: ids 1..n without a gap, one ``execution.started``, one
``execution.completed``, each step started and completed. Run with
``.venv/bin/python -m pytest -m slow tests/soak``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.dev_stack import DevStack, dev_stack_in

pytestmark = pytest.mark.slow

RATE = 20  # calls per second
SECONDS = 30
KILL_AT = (10, 20)  # seconds into the load: SIGKILL the worker process
DEFINITION = {
    "steps": [
        {"id": "read", "type": "transform", "with": {"n": "{{ input.body.n }}"}},
        {"id": "nap", "type": "sleep", "depends_on": ["read"], "with": {"duration": "200ms"}},
        {
            "id": "done",
            "type": "transform",
            "depends_on": ["nap"],
            "with": {"n": "{{ steps.read.output.n }}"},
        },
    ],
    "output": "{{ steps.done.output.n }}",
}


@pytest.fixture
def dev_stack(tmp_path: Path) -> Iterator[DevStack]:
    with dev_stack_in(tmp_path) as stack:
        stack.start()
        yield stack


async def send_calls(client: httpx.AsyncClient, path: str, stack: DevStack) -> dict[int, str]:
    """Open-loop calls (call ``n`` at ``n / RATE`` s), killing the worker on the way."""
    answered: dict[int, str] = {}

    async def call(n: int) -> None:
        response = await client.post(
            f"/hooks/{path}", json={"n": n}, headers={"Idempotency-Key": f"soak-{n}"}
        )
        assert response.status_code == 202, response.text
        answered[n] = response.json()["execution_id"]

    start = time.monotonic()
    kills = list(KILL_AT)
    tasks = []
    for n in range(RATE * SECONDS):
        await asyncio.sleep(max(0.0, start + n / RATE - time.monotonic()))
        if kills and time.monotonic() - start >= kills[0]:
            kills.pop(0)
            os.kill(stack.worker_pid(), signal.SIGKILL)
        tasks.append(asyncio.create_task(call(n)))
    await asyncio.gather(*tasks)
    return answered


async def all_executions(client: httpx.AsyncClient, workflow_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    offset: int | None = 0
    while offset is not None:
        page = (
            await client.get(
                "/api/v1/executions",
                params={"workflow_id": workflow_id, "limit": 500, "offset": offset},
            )
        ).json()
        found += page["data"]
        offset = page["next_offset"]
    return found


async def event_log(client: httpx.AsyncClient, execution_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/api/v1/executions/{execution_id}/logs", params={"limit": 1000})
    events: list[dict[str, Any]] = response.json()["data"]
    return events


async def test_no_run_and_no_event_is_lost_while_the_worker_is_killed(dev_stack: DevStack) -> None:
    headers = dev_stack.login()
    async with httpx.AsyncClient(base_url=dev_stack.url, headers=headers, timeout=60) as client:
        workflow = (
            await client.post("/api/v1/workflows", json={"name": "soak", "definition": DEFINITION})
        ).json()
        hook = await client.post(
            "/api/v1/webhooks",
            json={
                "workflow_id": workflow["id"],
                "authentication": {"type": "none"},
                "rate_limit": {"requests": 10_000, "per": "1s"},
            },
        )
        assert hook.status_code == 201, hook.text
        answered = await send_calls(client, hook.json()["url_path"], dev_stack)

        deadline = time.monotonic() + 180
        while True:
            executions = await all_executions(client, workflow["id"])
            statuses = Counter(e["status"] for e in executions)
            if statuses["completed"] == len(answered) or time.monotonic() > deadline:
                break
            await asyncio.sleep(2)

        assert len(answered) == RATE * SECONDS
        assert {e["id"] for e in executions} == set(answered.values())
        assert statuses == {"completed": RATE * SECONDS}, statuses
        for execution in executions:
            events = await event_log(client, execution["id"])
            ids = [e["id"] for e in events]
            assert ids == list(range(1, len(ids) + 1)), execution["id"]
            kinds = Counter((e["type"], e.get("step_id")) for e in events)
            assert kinds[("execution.started", None)] == 1, events
            assert kinds[("execution.completed", None)] == 1, events
            for step in ("read", "nap", "done"):
                assert kinds[("step.started", step)] >= 1, events
                assert kinds[("step.completed", step)] == 1, events
    assert "the worker process exited (code -9)" in (dev_stack.data_dir / "dev.log").read_text()
