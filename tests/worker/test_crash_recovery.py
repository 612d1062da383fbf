"""A worker process killed mid-run loses nothing: the run finishes on a new worker, and no
step that had completed runs again."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from api.services.workflows import check_definition
from core.settings import Settings
from temporal_workflows.run_types import INTERPRETER_WORKFLOW, RunInput, RunResult
from tests.conftest import SECRET_KEY
from tests.support.polling import eventually
from tests.support.target_server import TargetServer
from tests.workflows.conftest import Runner


def start_worker_process(settings: Settings, task_queue: str, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "HEADRACE_ENVIRONMENT": "production",
        "HEADRACE_SECRET_KEY": SECRET_KEY,
        "HEADRACE_DATABASE_URL": settings.effective_database_url,
        "HEADRACE_TEMPORAL_ADDRESS": settings.temporal_address,
        "HEADRACE_TASK_QUEUE": task_queue,
        "HEADRACE_ALLOW_PRIVATE_NETWORKS": "true",
    }
    headrace = Path(sys.executable).parent / "headrace"
    return subprocess.Popen(
        [str(headrace), "worker"],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


async def wait_for(predicate: Callable[[], object], timeout: float = 30) -> None:
    async def check() -> object:
        return predicate()

    await eventually(check, timeout=timeout, interval=0.05)


async def start_on(
    temporal_env: WorkflowEnvironment, runner: Runner, queue: str, definition: dict[str, object]
) -> str:
    workflow_id = await runner.create(definition)
    execution_id = str(uuid.uuid4())
    await temporal_env.client.start_workflow(
        INTERPRETER_WORKFLOW,
        RunInput(
            execution_id=execution_id,
            workflow_id=workflow_id,
            version=1,
            definition=check_definition(definition),
        ),
        id=execution_id,
        task_queue=queue,
        result_type=RunResult,
    )
    return execution_id


class TestWorkerCrash:
    async def test_killed_worker_resumes_on_restart_without_rerunning_completed_steps(
        self,
        runner: Runner,
        target: TargetServer,
        settings: Settings,
        temporal_env: WorkflowEnvironment,
        tmp_path: Path,
    ) -> None:
        key = f"crash-{uuid.uuid4().hex[:8]}"
        definition = {
            "steps": [
                {
                    "id": "first",
                    "type": "http",
                    "local": False,  # a regular activity: recorded as soon as it completes
                    "with": {"url": target.url(f"/flaky/{key}-first?fail=0")},
                },
                {
                    "id": "slow",
                    "type": "http",
                    "local": False,
                    "depends_on": ["first"],
                    "timeout": "3s",
                    "with": {"url": target.url(f"/slow/{key}?seconds=1")},
                },
                {
                    "id": "last",
                    "type": "transform",
                    "depends_on": ["slow"],
                    "with": {"first_calls": "{{ steps.first.output.body.calls }}"},
                },
            ]
        }
        queue = f"crash-{uuid.uuid4().hex[:8]}"
        worker = start_worker_process(settings, queue, tmp_path / "worker.log")
        try:
            execution_id = await start_on(temporal_env, runner, queue, definition)
            handle = temporal_env.client.get_workflow_handle(execution_id, result_type=RunResult)
            await wait_for(lambda: target.calls[key] == 1)  # `slow` is running now
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(10)
            assert target.calls[f"{key}:done"] == 0
            worker = start_worker_process(settings, queue, tmp_path / "worker.log")
            result = await asyncio.wait_for(handle.result(), 30)
        finally:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(10)
        assert result.status == "completed"
        assert result.output["last"] == {"first_calls": 1}
        assert target.calls[f"{key}-first"] == 1  # completed before the crash: never again
        assert target.calls[key] == 2  # interrupted, so Temporal ran it again
        execution = await runner.execution(execution_id)
        assert execution["status"] == "completed"
        assert [s["status"] for s in execution["steps"]] == ["completed"] * 3

    async def test_local_steps_run_at_least_once_and_record_their_events_once(
        self,
        runner: Runner,
        target: TargetServer,
        settings: Settings,
        temporal_env: WorkflowEnvironment,
        tmp_path: Path,
    ) -> None:
        """Local steps (the default for short ones) are recorded when their workflow task
        ends: a crash before that runs the ones it completed again (docs/performance.md),
        and their events stay one per step."""
        key = f"local-{uuid.uuid4().hex[:8]}"
        definition = {
            "steps": [
                {
                    "id": "first",
                    "type": "http",
                    "with": {"url": target.url(f"/flaky/{key}?fail=0")},
                },
                {
                    "id": "slow",
                    "type": "http",
                    "depends_on": ["first"],
                    "timeout": "3s",
                    "with": {"url": target.url(f"/slow/{key}?seconds=1")},
                },
            ]
        }
        queue = f"crash-{uuid.uuid4().hex[:8]}"
        worker = start_worker_process(settings, queue, tmp_path / "worker.log")
        try:
            execution_id = await start_on(temporal_env, runner, queue, definition)
            handle = temporal_env.client.get_workflow_handle(execution_id, result_type=RunResult)
            await wait_for(lambda: target.calls[key] >= 1)  # `slow` is running now
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(10)
            worker = start_worker_process(settings, queue, tmp_path / "worker.log")
            result = await asyncio.wait_for(handle.result(), 30)
        finally:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(10)
        assert result.status == "completed"
        # /flaky and /slow count into the same key: each step ran once or twice, never lost.
        assert 2 < target.calls[key] <= 4
        history = await handle.fetch_history()
        markers = [e for e in history.events if e.HasField("marker_recorded_event_attributes")]
        assert markers, "the steps ran as local activities"
        assert not any(
            e.HasField("activity_task_scheduled_event_attributes") for e in history.events
        )
        logs = await runner.client.get(
            f"/api/v1/executions/{execution_id}/logs", headers=runner.headers
        )
        events = logs.json()["data"]
        for step_id in ("first", "slow"):
            completed = [
                e for e in events if e["type"] == "step.completed" and e["step_id"] == step_id
            ]
            assert len(completed) == 1, (step_id, completed)

    async def test_paused_and_parked_runs_survive_a_worker_crash(
        self,
        runner: Runner,
        target: TargetServer,
        settings: Settings,
        temporal_env: WorkflowEnvironment,
        tmp_path: Path,
    ) -> None:
        queue = f"crash-{uuid.uuid4().hex[:8]}"
        worker = start_worker_process(settings, queue, tmp_path / "worker.log")
        try:
            paused_id = await start_on(
                temporal_env,
                runner,
                queue,
                {
                    "steps": [
                        {"id": "nap", "type": "sleep", "with": {"duration": "500ms"}},
                        {
                            "id": "next",
                            "type": "transform",
                            "depends_on": ["nap"],
                            "with": {"v": 1},
                        },
                    ]
                },
            )
            parked_id = await start_on(
                temporal_env,
                runner,
                queue,
                {
                    "steps": [
                        {
                            "id": "call",
                            "type": "http",
                            "on_error": "park",
                            "retry": {"max_attempts": 1},
                            "with": {"url": target.url("/status/500")},
                        },
                        {
                            "id": "after",
                            "type": "transform",
                            "depends_on": ["call"],
                            "with": {"got": "{{ steps.call.output }}"},
                        },
                    ]
                },
            )
            await runner.wait_for_row(paused_id)
            await runner.wait_for_row(parked_id)
            await runner.wait_until(paused_id, lambda e: e["status"] == "running")
            assert (await runner.post(f"/api/v1/executions/{paused_id}/pause")).status_code == 202
            await runner.wait_until(parked_id, lambda e: e["status"] == "waiting")
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(10)
            worker = start_worker_process(settings, queue, tmp_path / "worker.log")
            resumed = await runner.post(f"/api/v1/executions/{paused_id}/resume")
            assert resumed.status_code == 202, resumed.text
            resolved = await runner.post(
                f"/api/v1/executions/{parked_id}/steps/call/resolve",
                {"action": "skip", "output": "by hand"},
            )
            assert resolved.status_code == 202, resolved.text
            paused_done = await runner.wait_until(paused_id, lambda e: e["status"] == "completed")
            parked_done = await runner.wait_until(parked_id, lambda e: e["status"] == "completed")
        finally:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(10)
        assert paused_done["output_data"]["next"] == {"v": 1}
        assert parked_done["output_data"]["after"] == {"got": "by hand"}
