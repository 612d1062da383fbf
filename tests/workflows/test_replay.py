"""Determinism guard: committed histories of representative runs must replay on today's code.

A change to the interpreter that would break runs already in flight fails here. Such a change
must be guarded with ``workflow.patched(...)``; then record new histories next to the old ones
(keep the old ones: they stand for runs started before the change):

    HEADRACE_RECORD_HISTORIES=1 .venv/bin/python -m pytest tests/workflows/test_replay.py -k record -p no:xdist
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from temporal_workflows.interpreter import HeadraceRun
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
        workflows=[HeadraceRun],
        workflow_runner=workflow_runner(),
        data_converter=pydantic_data_converter,
    )


def committed_histories() -> list[Path]:
    return sorted(HISTORIES.glob("*.json"))


@pytest.mark.parametrize("path", committed_histories(), ids=lambda p: p.stem)
async def test_committed_history_replays_on_current_code(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))
    result = await replayer().replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name} no longer replays: {result.replay_failure}"


def test_every_representative_run_has_a_committed_history() -> None:
    names = {p.stem.rsplit("-", 1)[0] for p in committed_histories()}
    assert {
        "http_when_output",
        "retry_foreach_join",
        "sleep_until_fail",
        "wait_and_approval",
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


async def _save(env: WorkflowEnvironment, workflow_id: str, name: str) -> None:
    history = await env.client.get_workflow_handle(workflow_id).fetch_history()
    (HISTORIES / f"{name}.json").write_text(history.to_json())
