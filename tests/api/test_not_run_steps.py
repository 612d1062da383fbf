"""After a run fails or is cancelled, the steps that never started read `not_run`."""

from __future__ import annotations

from tests.support.runner import Runner, steps_by_id


class TestNotRun:
    async def test_steps_after_a_failure_are_not_run(self, runner: Runner) -> None:
        definition = {
            "steps": [
                {"id": "first", "type": "transform", "with": {"ok": True}},
                {
                    "id": "boom",
                    "type": "fail",
                    "depends_on": ["first"],
                    "with": {"message": "stop"},
                },
                {"id": "after", "type": "log", "depends_on": ["boom"], "with": {"message": "x"}},
                {"id": "later", "type": "log", "depends_on": ["after"], "with": {"message": "y"}},
            ]
        }
        workflow_id = await runner.create(definition)
        response = await runner.execute(workflow_id)
        execution = await runner.wait_until(
            str(response.json()["execution_id"]), lambda e: e["status"] == "failed"
        )
        statuses = {sid: s["status"] for sid, s in steps_by_id(execution).items()}
        assert statuses == {
            "first": "completed",
            "boom": "failed",
            "after": "not_run",
            "later": "not_run",
        }

    async def test_a_running_run_still_shows_pending_steps(self, runner: Runner) -> None:
        definition = {
            "steps": [
                {"id": "hold", "type": "wait_for_event", "with": {"event": "go"}},
                {"id": "next", "type": "log", "depends_on": ["hold"], "with": {"message": "x"}},
            ]
        }
        execution_id = await runner.start(definition)
        execution = await runner.wait_until(execution_id, lambda e: e["status"] == "waiting")
        assert steps_by_id(execution)["next"]["status"] == "pending"
        await runner.post(f"/api/v1/executions/{execution_id}/cancel")
        cancelled = await runner.wait_until(execution_id, lambda e: e["status"] == "cancelled")
        assert steps_by_id(cancelled)["next"]["status"] == "not_run"
