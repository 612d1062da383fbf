"""Concurrency permits survive crashes: ``headrace dev`` as real processes, the worker killed.

A permit is state in its group's limiter workflow, and the run holding it is a workflow
too: a SIGKILLed worker loses neither, and the restarted worker carries both on. A run
that closes without giving its permit back (terminated in Temporal) is found by the
limiter's periodic check, and its permit goes to the next run in the queue.
"""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from tests.support.dev_stack import DevStack, dev_stack_in
from tests.support.polling import eventually_sync
from tests.support.target_server import TargetServer

HOLD = {
    "concurrency": {"limit": 1},
    "steps": [{"id": "nap", "type": "sleep", "with": {"duration": "4s"}}],
}


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DevStack]:
    # The limiter looks for runs that closed without releasing every second, not every 30.
    monkeypatch.setenv("HEADRACE_CONCURRENCY_RECLAIM_SECONDS", "1")
    monkeypatch.setenv("HEADRACE_ALLOW_PRIVATE_NETWORKS", "true")  # the loopback target
    with dev_stack_in(tmp_path) as running:
        running.start()
        yield running


def _start(stack: DevStack, headers: dict[str, str], workflow_id: str) -> str:
    started = stack.api(
        "POST", f"/workflows/{workflow_id}/execute", headers, json={"async_mode": True}
    )
    assert started.status_code == 202, started.text
    return str(started.json()["execution_id"])


def _workflow(stack: DevStack, headers: dict[str, str], definition: dict[str, Any]) -> str:
    created = stack.api(
        "POST", "/workflows", headers, json={"name": "held", "definition": definition}
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def test_a_worker_killed_while_a_run_holds_the_permit_does_not_leak_it(stack: DevStack) -> None:
    headers = stack.login()
    workflow_id = _workflow(stack, headers, HOLD)
    holder = _start(stack, headers, workflow_id)
    stack.wait_for_status(holder, headers, "running")
    queued = _start(stack, headers, workflow_id)
    stack.wait_for_status(queued, headers, "queued")

    os.kill(stack.worker_pid(), signal.SIGKILL)  # headrace dev starts a new worker

    stack.wait_for_status(holder, headers, "completed", timeout=90)
    stack.wait_for_status(queued, headers, "completed", timeout=90)
    after = _start(stack, headers, workflow_id)  # the group is free again
    stack.wait_for_status(after, headers, "completed", timeout=60)
    assert "the worker process exited (code -9)" in (stack.data_dir / "dev.log").read_text()


async def test_a_run_terminated_in_temporal_gives_its_permit_back(stack: DevStack) -> None:
    headers = stack.login()
    long_hold = {**HOLD, "steps": [{"id": "nap", "type": "sleep", "with": {"duration": "1h"}}]}
    workflow_id = _workflow(stack, headers, long_hold)
    holder = _start(stack, headers, workflow_id)
    stack.wait_for_status(holder, headers, "running")
    queued = _start(stack, headers, workflow_id)
    stack.wait_for_status(queued, headers, "queued")

    temporal = await Client.connect(f"127.0.0.1:{stack.temporal_port}")
    # Terminated: no code of the run runs again, so it never sends its release.
    await temporal.get_workflow_handle(holder).terminate(reason="test: a lost run")

    stack.wait_for_status(queued, headers, "running", timeout=60)
    await temporal.get_workflow_handle(queued).cancel()
    stack.wait_for_status(queued, headers, "cancelled", timeout=60)


def test_a_worker_killed_mid_request_frees_its_connection_permit(
    stack: DevStack, target: TargetServer
) -> None:
    """The killed attempt held the connection's only permit: once Temporal times it out and
    retries, the limiter sees the attempt is gone and the retry gets the permit."""
    headers = stack.login()
    name = f"slow-{uuid.uuid4().hex[:6]}"
    created = stack.api(
        "POST",
        "/integrations",
        headers,
        json={
            "type": "http",
            "name": name,
            "config": {"base_url": target.base_url, "max_concurrency": 1},
        },
    )
    assert created.status_code == 201, created.text
    key = uuid.uuid4().hex
    definition = {
        "steps": [
            {
                "id": "call",
                "type": "http",
                "timeout": "3s",
                "retry": {"max_attempts": 3, "initial_interval": "100ms"},
                "with": {"connection": name, "path": f"/slow/{key}?seconds=2"},
            }
        ]
    }
    execution_id = _start(stack, headers, _workflow(stack, headers, definition))
    eventually_sync(lambda: target.calls[key] >= 1, timeout=30, what="the first request")
    os.kill(stack.worker_pid(), signal.SIGKILL)
    stack.wait_for_status(execution_id, headers, "completed", timeout=90)
    assert target.calls[key] >= 2  # the retry, after the killed attempt
