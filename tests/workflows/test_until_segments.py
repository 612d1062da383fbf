"""Long ``until`` loops run as consecutive child workflows ("segments") of at most
``until_segment_size`` tries, so no run's history outgrows Temporal's limits.

The runs are started with a tiny segment size through the Temporal client (as the API would
start them, with that one field lowered); the loop polls a loopback endpoint that counts its
calls, so every try is a real activity call the test can count.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from api.services.workflows import check_definition
from core.settings import Settings
from temporal_workflows.run_types import INTERPRETER_WORKFLOW, RunInput, RunResult
from tests.support.polling import eventually
from tests.support.target_server import TargetServer
from tests.workflows.conftest import Runner, steps_by_id


def polling(
    target: TargetServer, key: str, *, until_count: int, max_iterations: int
) -> dict[str, Any]:
    """One http step that polls a counter until it reaches ``until_count``."""
    return {
        "steps": [
            {
                "id": "poll",
                "type": "http",
                # Regular activities: the checks below count their history events.
                "local": False,
                "with": {"url": target.url(f"/count/{key}")},
                "until": f"{{{{ output.body.count >= {until_count} }}}}",
                "interval": "50ms",
                "max_iterations": max_iterations,
            }
        ],
        "output": {
            "status": "{{ steps.poll.output.status }}",
            "body": "{{ steps.poll.output.body }}",
        },
    }


class Loops:
    """Starts interpreter runs with a chosen segment size and inspects what they left."""

    def __init__(self, runner: Runner, env: WorkflowEnvironment, settings: Settings) -> None:
        self.runner = runner
        self.client = env.client
        self.task_queue = settings.task_queue

    async def start(
        self, definition: dict[str, Any], *, segment_size: int
    ) -> tuple[str, WorkflowHandle[Any, RunResult]]:
        """Start a run of a new workflow; answer the workflow id and the run's handle."""
        workflow_id = await self.runner.create(definition)
        me = await self.runner.client.get("/api/v1/auth/me", headers=self.runner.headers)
        execution_id = str(uuid.uuid4())
        handle = await self.client.start_workflow(
            INTERPRETER_WORKFLOW,
            RunInput(
                execution_id=execution_id,
                workflow_id=workflow_id,
                version=1,
                definition=check_definition(definition),
                created_by=str(me.json()["id"]),
                until_segment_size=segment_size,
            ),
            id=execution_id,
            task_queue=self.task_queue,
            result_type=RunResult,
        )
        return workflow_id, handle

    async def segments(self, workflow_id: str) -> list[dict[str, Any]]:
        """The execution rows of the workflow's until segments."""
        response = await self.runner.client.get(
            f"/api/v1/executions?workflow_id={workflow_id}&limit=100", headers=self.runner.headers
        )
        return [e for e in response.json()["data"] if e["trigger_type"] == "until"]

    async def events(self, workflow_id: str) -> list[HistoryEvent]:
        history = await self.client.get_workflow_handle(workflow_id).fetch_history()
        return list(history.events)


@pytest.fixture
def loops(runner: Runner, temporal_env: WorkflowEnvironment, settings: Settings) -> Loops:
    return Loops(runner, temporal_env, settings)


def count(events: list[HistoryEvent], attributes: str) -> int:
    return sum(1 for e in events if e.WhichOneof("attributes") == attributes)


def first(events: list[HistoryEvent], attributes: str) -> int:
    """The position of the first event with these attributes (len(events) if none)."""
    return next(
        (i for i, e in enumerate(events) if e.WhichOneof("attributes") == attributes), len(events)
    )


TIMER = "timer_started_event_attributes"
CALL = "activity_task_scheduled_event_attributes"
CHILD = "start_child_workflow_execution_initiated_event_attributes"


class TestLongUntilLoops:
    async def test_a_loop_longer_than_a_segment_runs_in_consecutive_children(
        self, loops: Loops, target: TargetServer
    ) -> None:
        key = uuid.uuid4().hex[:8]
        # 4 tries per segment: 1-4, 5-8, then 9-12, where the 10th call meets the condition.
        definition = polling(target, key, until_count=10, max_iterations=20)
        workflow_id, handle = await loops.start(definition, segment_size=4)
        result = await handle.result()

        assert result.output == {"status": 200, "body": {"count": 10}}
        assert target.calls[f"count:{key}"] == 10
        segments = await loops.segments(workflow_id)
        assert len(segments) == 3
        assert {s["parent_execution_id"] for s in segments} == {handle.id}
        assert {s["status"] for s in segments} == {"completed"}

        parent = await loops.events(handle.id)
        assert count(parent, CHILD) == 3
        assert count(parent, CALL) == 0 and count(parent, TIMER) == 0
        assert len(parent) < 5 * 10  # what ten inline tries would have added

        # Every segment but the first waits `interval` before its first call, as inline.
        starts = []
        for segment in segments:
            events = await loops.events(segment["id"])
            starts.append("wait" if first(events, TIMER) < first(events, CALL) else "call")
        assert sorted(starts) == ["call", "wait", "wait"]

    async def test_segmented_output_equals_the_inline_loops(
        self, loops: Loops, target: TargetServer
    ) -> None:
        outputs = []
        for segment_size in (2, 7):  # 7 tries fit one segment: inline
            definition = polling(target, uuid.uuid4().hex[:8], until_count=5, max_iterations=7)
            workflow_id, handle = await loops.start(definition, segment_size=segment_size)
            outputs.append((await handle.result()).output)
            assert len(await loops.segments(workflow_id)) == (3 if segment_size == 2 else 0)
        assert outputs[0] == outputs[1] == {"status": 200, "body": {"count": 5}}

    async def test_exhaustion_across_segments_fails_after_exactly_max_iterations(
        self, loops: Loops, runner: Runner, target: TargetServer
    ) -> None:
        key = uuid.uuid4().hex[:8]
        definition = polling(target, key, until_count=100, max_iterations=7)
        workflow_id, handle = await loops.start(definition, segment_size=3)
        with pytest.raises(WorkflowFailureError):
            await handle.result()

        assert target.calls[f"count:{key}"] == 7
        execution = await runner.wait_until(handle.id, lambda e: e["status"] == "failed")
        poll = steps_by_id(execution)["poll"]
        assert poll["status"] == "failed"
        assert poll["error"] == "until condition not met after 7 iterations"
        logs = await runner.client.get(
            f"/api/v1/executions/{handle.id}/logs?limit=100", headers=runner.headers
        )
        [failed] = [e for e in logs.json()["data"] if e["type"] == "step.failed"]
        assert failed["data"]["error_type"] == "UntilExhausted"
        segments = await loops.segments(workflow_id)
        assert len(segments) == 3  # 3 + 3 + 1 tries
        assert {s["status"] for s in segments} == {"completed"}

    async def test_each_foreach_item_keeps_its_item_and_index_in_its_segments(
        self, loops: Loops, target: TargetServer
    ) -> None:
        key = uuid.uuid4().hex[:8]
        definition = {
            "steps": [
                {
                    "id": "poll",
                    "type": "http",
                    "foreach": ["a", "b"],
                    "with": {"url": target.url(f"/count/{key}-{{{{ item }}}}-{{{{ index }}}}")},
                    "until": "{{ output.body.count >= 3 + index }}",
                    "interval": "50ms",
                    "max_iterations": 6,
                }
            ],
            "output": "{{ steps.poll.output | map(attribute='body.count') | list }}",
        }
        workflow_id, handle = await loops.start(definition, segment_size=2)
        assert (await handle.result()).output == [3, 4]
        assert target.calls[f"count:{key}-a-0"] == 3
        assert target.calls[f"count:{key}-b-1"] == 4
        assert len(await loops.segments(workflow_id)) == 4  # two per item

    async def test_a_loop_that_fits_one_segment_runs_inline(
        self, runner: Runner, loops: Loops, target: TargetServer
    ) -> None:
        key = uuid.uuid4().hex[:8]
        definition = polling(target, key, until_count=3, max_iterations=5)
        workflow_id = await runner.create(definition)
        response = await runner.execute(workflow_id)  # the API's default segment size
        assert response.status_code == 200, response.text
        execution_id = response.json()["execution_id"]

        assert response.json()["result"] == {"status": 200, "body": {"count": 3}}
        assert await loops.segments(workflow_id) == []
        events = await loops.events(execution_id)
        assert count(events, CALL) == 3 and count(events, TIMER) == 2
        assert count(events, CHILD) == 0


class TestOperatorControlOfSegments:
    async def test_cancelling_the_run_cancels_its_running_segment(
        self, loops: Loops, runner: Runner, target: TargetServer
    ) -> None:
        key = uuid.uuid4().hex[:8]
        definition = polling(target, key, until_count=10_000, max_iterations=1000)
        workflow_id, handle = await loops.start(definition, segment_size=20)
        # Well into the second segment (each try takes at least the 50 ms interval).
        await _wait_for(lambda: _reached(target, key, 23))

        cancelled = await runner.post(f"/api/v1/executions/{handle.id}/cancel")
        assert cancelled.status_code == 202, cancelled.text
        await runner.wait_until(handle.id, lambda e: e["status"] == "cancelled")
        segments = sorted(await loops.segments(workflow_id), key=lambda s: s["started_at"])
        statuses = [
            (await runner.wait_until(s["id"], lambda e: e["status"] != "running"))["status"]
            for s in segments
        ]
        assert statuses == ["completed", "cancelled"]
        with pytest.raises(WorkflowFailureError):  # the run itself ends in Temporal too
            await asyncio.wait_for(handle.result(), 30)
        for execution_id, status in [
            (handle.id, WorkflowExecutionStatus.CANCELED),
            (segments[0]["id"], WorkflowExecutionStatus.COMPLETED),
            (segments[1]["id"], WorkflowExecutionStatus.CANCELED),
        ]:
            described = await loops.client.get_workflow_handle(execution_id).describe()
            assert described.status == status
        calls = target.calls[f"count:{key}"]
        assert calls < 40
        await asyncio.sleep(0.5)
        assert target.calls[f"count:{key}"] == calls  # nothing polls any more

    async def test_a_paused_run_starts_no_further_segment_until_resumed(
        self, loops: Loops, runner: Runner, target: TargetServer
    ) -> None:
        key = uuid.uuid4().hex[:8]
        definition = polling(target, key, until_count=30, max_iterations=60)
        workflow_id, handle = await loops.start(definition, segment_size=3)
        await _wait_for(lambda: _at_least(loops, workflow_id, 1))

        paused = await runner.post(f"/api/v1/executions/{handle.id}/pause")
        assert paused.status_code == 202, paused.text
        # The running segment finishes its tries; then nothing polls while the run is paused.
        calls = await _settled(lambda: target.calls[f"count:{key}"])
        assert calls % 3 == 0 and calls < 30
        segments = len(await loops.segments(workflow_id))
        assert segments == calls // 3
        assert (await runner.execution(handle.id))["status"] == "paused"

        resumed = await runner.post(f"/api/v1/executions/{handle.id}/resume")
        assert resumed.status_code == 202, resumed.text
        assert (await handle.result()).output == {"status": 200, "body": {"count": 30}}
        assert len(await loops.segments(workflow_id)) == 10


async def _at_least(loops: Loops, workflow_id: str, n: int) -> bool:
    return len(await loops.segments(workflow_id)) >= n


async def _reached(target: TargetServer, key: str, calls: int) -> bool:
    return target.calls[f"count:{key}"] >= calls


async def _wait_for(check: Callable[[], Awaitable[bool]], timeout: float = 60) -> None:
    await eventually(check, timeout=timeout, interval=0.05)


async def _settled(read: Any, quiet: float = 1.5, timeout: float = 60) -> int:
    """Wait until ``read()`` has not changed for ``quiet`` seconds; answer its value."""
    async with asyncio.timeout(timeout):
        value = read()
        while True:
            await asyncio.sleep(quiet)
            if read() == value:
                return int(value)
            value = read()
