"""Determinism guard: committed histories of representative runs must replay on today's code.

A change to the interpreter that would break runs already in flight fails here. Such a change
must be guarded with ``workflow.patched(...)``; then record new histories next to the old ones
(keep the old ones: they stand for runs started before the change):

    HEADRACE_RECORD_HISTORIES=1 .venv/bin/python -m pytest tests/workflows/test_replay.py -k record -p no:xdist

The same holds for ``HeadraceScheduledRun``, the launcher every schedule fire starts: its
histories (``scheduled_*``) are recorded from real schedule fires.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionStartWorkflow,
    ScheduleSpec,
    ScheduleState,
    WorkflowFailureError,
    WorkflowHistory,
)
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from api.services.workflows import check_definition
from core.settings import Settings
from temporal_workflows.concurrency import ConcurrencyGroup
from temporal_workflows.interpreter import HeadraceRun
from temporal_workflows.run_types import INTERPRETER_WORKFLOW, RunInput, RunResult
from temporal_workflows.scheduled import (
    SCHEDULED_WORKFLOW,
    HeadraceScheduledRun,
    ScheduledRunInput,
)
from tests.support.fake_openai import API_KEY, running_fake_openai
from tests.support.polling import eventually
from tests.support.target_server import TargetServer
from tests.workflows.conftest import Runner
from worker.main import workflow_runner

HISTORIES = Path(__file__).parent / "histories"


def representative_runs(target: TargetServer) -> dict[str, tuple[dict[str, Any], Any]]:
    """Definitions that together use every interpreter path: name -> (definition, input)."""
    url = target.base_url
    return {
        "http_when_output": (
            {
                "variables": {"base": url},
                "steps": [
                    {
                        "id": "user",
                        "type": "http",
                        "with": {"url": "{{ vars.base }}/users/{{ input.id }}"},
                    },
                    {
                        "id": "vip",
                        "type": "transform",
                        "depends_on": ["user"],
                        "when": "{{ steps.user.output.body.tier == 'vip' }}",
                        "with": {"discount": "{{ steps.user.output.body.spend * 0.1 }}"},
                    },
                    {
                        "id": "note",
                        "type": "log",
                        "depends_on": ["vip"],
                        "with": {"message": "done"},
                    },
                ],
                "output": {"discount": "{{ steps.vip.output.discount }}"},
            },
            {"id": "v1"},
        ),
        "retry_foreach_join": (
            {
                "steps": [
                    {
                        "id": "flaky",
                        "type": "http",
                        "with": {"url": f"{url}/flaky/replay-{{{{ execution.id }}}}?fail=1"},
                        "retry": {"max_attempts": 3, "initial_interval": "100ms"},
                    },
                    {
                        "id": "each",
                        "type": "transform",
                        "foreach": "{{ [1, 2, 3] }}",
                        "concurrency": 2,
                        "with": {"double": "{{ item * 2 }}"},
                    },
                    {
                        "id": "bad",
                        "type": "http",
                        "on_error": "continue",
                        "with": {"url": f"{url}/status/404"},
                    },
                    {
                        "id": "join",
                        "type": "transform",
                        "depends_on": ["flaky", "each", "bad"],
                        "when": "{{ steps.bad.status == 'failed' }}",
                        "with": {"sum": "{{ steps.each.output | map(attribute='double') | sum }}"},
                    },
                    {"id": "skipped", "type": "transform", "depends_on": ["bad"], "with": {}},
                ]
            },
            None,
        ),
        "sleep_until_fail": (
            {
                "steps": [
                    {"id": "nap", "type": "sleep", "with": {"duration": "100ms"}},
                    {
                        "id": "poll",
                        "type": "transform",
                        "depends_on": ["nap"],
                        "with": {"v": 1},
                        "until": "{{ output.v == 1 }}",
                        "interval": "50ms",
                    },
                    {
                        "id": "stop",
                        "type": "fail",
                        "depends_on": ["poll"],
                        "with": {"message": "stop"},
                    },
                ]
            },
            None,
        ),
    }


def replayer() -> Replayer:
    return Replayer(
        workflows=[HeadraceRun, HeadraceScheduledRun, ConcurrencyGroup],
        workflow_runner=workflow_runner(),
        data_converter=pydantic_data_converter,
    )


def history_of(path: Path) -> WorkflowHistory:
    """A committed history; its ``workflowId`` (if kept) is the id the run had.

    The launcher derives its child's id from its own workflow id, so its histories replay
    only under the id they were recorded with; the interpreter's replay under any id.
    """
    recorded = json.loads(path.read_text())
    return WorkflowHistory.from_json(recorded.pop("workflowId", path.stem), recorded)


def committed_histories() -> list[Path]:
    return sorted(HISTORIES.glob("*.json"))


@pytest.mark.parametrize("path", committed_histories(), ids=lambda p: p.stem)
async def test_committed_history_replays_on_current_code(path: Path) -> None:
    history = history_of(path)
    result = await replayer().replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name} no longer replays: {result.replay_failure}"


def test_every_representative_run_has_a_committed_history() -> None:
    names = {p.stem.rsplit("-", 1)[0] for p in committed_histories()}
    assert {
        "http_when_output",
        "retry_foreach_join",
        "sleep_until_fail",
        "wait_and_approval",
        "scheduled_ok",
        "scheduled_child_failed",
        "scheduled_workflow_missing",
        "until_segments",
        "until_segment_child",
        "cancelled_run",
        "llm_agent",
        "concurrency_queued",
        "concurrency_limiter",
    } <= names


@pytest.mark.skipif(
    os.environ.get("HEADRACE_RECORD_HISTORIES") != "1",
    reason="records new histories only when HEADRACE_RECORD_HISTORIES=1",
)
async def test_record_histories(
    runner: Runner, target: TargetServer, db_url: str, temporal_env: WorkflowEnvironment
) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("one recording is enough")
    tag = os.environ.get("HEADRACE_HISTORY_TAG", "v1")
    for name, (definition, input_data) in representative_runs(target).items():
        execution = await runner.run(definition, input_data)
        await _save(temporal_env, execution["id"], f"{name}-{tag}")
    execution_id = await runner.start(
        {
            "steps": [
                {"id": "paid", "type": "wait_for_event", "with": {"event": "paid"}},
                {"id": "ok", "type": "approval", "depends_on": ["paid"]},
            ]
        }
    )
    await runner.wait_until(execution_id, lambda e: e["status"] == "waiting")
    await runner.post(f"/api/v1/executions/{execution_id}/signal", {"name": "paid", "payload": 1})
    await runner.wait_until(
        execution_id,
        lambda e: any(s["id"] == "ok" and s["status"] == "waiting" for s in e["steps"]),
    )
    await runner.post(f"/api/v1/executions/{execution_id}/approve", {"comment": "fine"})
    await runner.wait_until(execution_id, lambda e: e["status"] == "completed")
    await _save(temporal_env, execution_id, f"wait_and_approval-{tag}")


@pytest.mark.skipif(
    os.environ.get("HEADRACE_RECORD_HISTORIES") != "1",
    reason="records new histories only when HEADRACE_RECORD_HISTORIES=1",
)
async def test_record_until_segment_and_cancel_histories(
    runner: Runner,
    target: TargetServer,
    db_url: str,
    temporal_env: WorkflowEnvironment,
    settings: Settings,
) -> None:
    """A long until loop run as child segments (the parent, and a later segment, which
    waits before its first try), and a run cancelled while it sleeps."""
    if not db_url.startswith("sqlite"):
        pytest.skip("one recording is enough")
    tag = os.environ.get("HEADRACE_HISTORY_TAG", "v1")
    definition = {
        "steps": [
            {
                "id": "poll",
                "type": "http",
                "with": {"url": f"{target.base_url}/count/replay-{uuid.uuid4().hex[:8]}"},
                "until": "{{ output.body.count >= 5 }}",
                "interval": "50ms",
                "max_iterations": 8,
            }
        ]
    }
    workflow_id = await runner.create(definition)
    execution_id = str(uuid.uuid4())
    await temporal_env.client.execute_workflow(
        INTERPRETER_WORKFLOW,
        RunInput(
            execution_id=execution_id,
            workflow_id=workflow_id,
            version=1,
            definition=check_definition(definition),
            until_segment_size=2,  # tries 1-2, 3-4, then 5 meets the condition
        ),
        id=execution_id,
        task_queue=settings.task_queue,
        result_type=RunResult,
    )
    await _save(temporal_env, execution_id, f"until_segments-{tag}")
    history = await temporal_env.client.get_workflow_handle(execution_id).fetch_history()
    children = [
        e.start_child_workflow_execution_initiated_event_attributes.workflow_id
        for e in history.events
        if e.HasField("start_child_workflow_execution_initiated_event_attributes")
    ]
    assert len(children) == 3
    await _save(temporal_env, children[1], f"until_segment_child-{tag}")

    cancelled = await runner.start(
        {"steps": [{"id": "nap", "type": "sleep", "with": {"duration": "1h"}}]}
    )
    await runner.wait_until(cancelled, lambda e: e["steps"][0]["status"] == "running")
    await runner.post(f"/api/v1/executions/{cancelled}/cancel")
    with pytest.raises(WorkflowFailureError):
        await temporal_env.client.get_workflow_handle(cancelled).result()
    await _save(temporal_env, cancelled, f"cancelled_run-{tag}")


@pytest.mark.skipif(
    os.environ.get("HEADRACE_RECORD_HISTORIES") != "1",
    reason="records new histories only when HEADRACE_RECORD_HISTORIES=1",
)
async def test_record_ai_histories(
    runner: Runner, target: TargetServer, db_url: str, temporal_env: WorkflowEnvironment
) -> None:
    """An llm step, then an agent whose turn calls an http tool and a workflow tool."""
    if not db_url.startswith("sqlite"):
        pytest.skip("one recording is enough")
    tag = os.environ.get("HEADRACE_HISTORY_TAG", "v1")
    with running_fake_openai() as openai:
        created = await runner.post(
            "/api/v1/integrations",
            {
                "type": "llm",
                "name": "ai",
                "config": {"base_url": openai.base_url, "model": "replay"},
                "credentials": {"api_key": API_KEY},
            },
        )
        assert created.status_code == 201, created.text
        tool = await runner.create(
            {"steps": [{"id": "t", "type": "transform", "with": {"v": "{{ input.n }}"}}]}
        )
        openai.script(
            "replay",
            [
                {"text": '{"topic": "users"}'},
                {
                    "tool_calls": [
                        {"name": "user", "arguments": {"uid": "v1"}},
                        {"name": "echo", "arguments": {"n": 3}},
                    ]
                },
                {"text": "done"},
            ],
        )
        messages = [{"role": "user", "content": "{{ input.q }}"}]
        execution = await runner.run(
            {
                "steps": [
                    {
                        "id": "ask",
                        "type": "llm",
                        "with": {
                            "connection": "ai",
                            "messages": messages,
                            "response_schema": {"type": "object"},
                        },
                    },
                    {
                        "id": "helper",
                        "type": "agent",
                        "depends_on": ["ask"],
                        "with": {
                            "connection": "ai",
                            "messages": messages,
                            "tools": [
                                {
                                    "name": "user",
                                    "http": {"url": target.base_url + "/users/{{ args.uid }}"},
                                },
                                {"name": "echo", "workflow_id": tool},
                            ],
                        },
                    },
                ]
            },
            {"q": "who is v1?"},
        )
        assert execution["status"] == "completed", execution
    await _save(temporal_env, execution["id"], f"llm_agent-{tag}")


@pytest.mark.skipif(
    os.environ.get("HEADRACE_RECORD_HISTORIES") != "1",
    reason="records new histories only when HEADRACE_RECORD_HISTORIES=1",
)
async def test_record_concurrency_histories(
    runner: Runner, db_url: str, temporal_env: WorkflowEnvironment
) -> None:
    """A limited run that waits in its group's queue, then runs; and the group's limiter
    (asked by the holder, then by the queued run; released by both)."""
    if not db_url.startswith("sqlite"):
        pytest.skip("one recording is enough")
    tag = os.environ.get("HEADRACE_HISTORY_TAG", "v1")
    workflow_id = await runner.create(
        {
            "concurrency": {"limit": 1},
            "steps": [{"id": "hold", "type": "wait_for_event", "with": {"event": "go"}}],
        }
    )
    runs: list[str] = []
    for status in ("waiting", "queued"):
        started = await runner.execute(workflow_id, None, async_mode=True)
        runs.append(str(started.json()["execution_id"]))
        await runner.wait_until(runs[-1], lambda e, s=status: e["status"] == s)
    for execution_id in runs:
        await runner.wait_until(execution_id, lambda e: e["status"] == "waiting")
        await runner.post(f"/api/v1/executions/{execution_id}/signal", {"name": "go"})
        await runner.wait_until(execution_id, lambda e: e["status"] == "completed")
    await _save(temporal_env, runs[1], f"concurrency_queued-{tag}")
    limiter = f"headrace-concurrency-{workflow_id}"
    await _save(temporal_env, limiter, f"concurrency_limiter-{tag}")


async def _save(
    env: WorkflowEnvironment, workflow_id: str, name: str, *, keep_id: bool = False
) -> None:
    history = await env.client.get_workflow_handle(workflow_id).fetch_history()
    text = history.to_json()
    if keep_id:
        text = json.dumps({"workflowId": workflow_id, **json.loads(text)}, indent=2) + "\n"
    (HISTORIES / f"{name}.json").write_text(text)


@pytest.mark.skipif(
    os.environ.get("HEADRACE_RECORD_HISTORIES") != "1",
    reason="records new histories only when HEADRACE_RECORD_HISTORIES=1",
)
async def test_record_scheduled_histories(
    runner: Runner, db_url: str, temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    """The launcher's paths: a run that completes, a run that fails, a workflow that is gone."""
    if not db_url.startswith("sqlite"):
        pytest.skip("one recording is enough")
    tag = os.environ.get("HEADRACE_HISTORY_TAG", "v1")
    client = temporal_env.client
    runs: dict[str, dict[str, Any]] = {
        "scheduled_ok": {
            "input_schema": {"type": "object", "required": ["n"]},
            "steps": [{"id": "double", "type": "transform", "with": {"v": "{{ input.n * 2 }}"}}],
        },
        "scheduled_child_failed": {
            "steps": [{"id": "stop", "type": "fail", "with": {"message": "stop"}}],
        },
    }
    for name, definition in runs.items():
        trigger = {"type": "schedule", "cron": "0 0 1 1 *", "paused": True, "input_data": {"n": 2}}
        workflow_id = await runner.create(definition, triggers=[trigger])
        listed = await runner.client.get(
            f"/api/v1/workflows/{workflow_id}/triggers", headers=runner.headers
        )
        [shown] = listed.json()
        fired = await runner.client.post(
            f"/api/v1/triggers/{shown['id']}/run-now", headers=runner.headers
        )
        assert fired.status_code == 202, fired.text
        launcher = await _launched(client, shown["schedule_id"])
        await client.get_workflow_handle(launcher).result()
        await _save(temporal_env, launcher, f"{name}-{tag}", keep_id=True)
    # A schedule whose workflow no longer exists: the launcher retries, then fails.
    schedule_id = f"replay-missing-{uuid.uuid4().hex[:8]}"
    handle = await client.create_schedule(
        schedule_id,
        Schedule(
            action=ScheduleActionStartWorkflow(
                SCHEDULED_WORKFLOW,
                ScheduledRunInput(workflow_id=str(uuid.uuid4()), trigger_id=str(uuid.uuid4())),
                id=f"headrace-scheduled-{schedule_id}",
                task_queue=settings.task_queue,
            ),
            spec=ScheduleSpec(cron_expressions=["0 0 1 1 *"]),
            state=ScheduleState(paused=True),
        ),
    )
    await handle.trigger()
    launcher = await _launched(client, schedule_id)
    with pytest.raises(WorkflowFailureError):
        await client.get_workflow_handle(launcher).result()
    await handle.delete()
    await _save(temporal_env, launcher, f"scheduled_workflow_missing-{tag}", keep_id=True)


async def _launched(client: Client, schedule_id: str, timeout: float = 10) -> str:
    """The workflow id of the schedule's first action."""

    async def started() -> list[str]:
        described = await client.get_schedule_handle(schedule_id).describe()
        return [
            action.action.workflow_id
            for action in described.info.recent_actions
            if isinstance(action.action, ScheduleActionExecutionStartWorkflow)
        ]

    launched = await eventually(started, timeout=timeout, what="the schedule's first action")
    return launched[0]
