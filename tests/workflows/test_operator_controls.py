"""Operator control of live runs: pause/resume, park-on-failure, sagas and redrive."""

from __future__ import annotations

import uuid
from typing import Any

from tests.support.runner import Runner, steps_by_id
from tests.support.target_server import TargetServer


def _url(runner: Runner, execution_id: str, action: str) -> str:
    return f"/api/v1/executions/{execution_id}/{action}"


async def _logs(runner: Runner, execution_id: str) -> list[dict[str, Any]]:
    response = await runner.client.get(
        f"/api/v1/executions/{execution_id}/logs?limit=1000", headers=runner.headers
    )
    return list(response.json()["data"])


class TestPauseResume:
    async def test_paused_run_starts_no_new_step_until_resumed(self, runner: Runner) -> None:
        execution_id = await runner.start(
            {
                "steps": [
                    {"id": "nap", "type": "sleep", "with": {"duration": "1s"}},
                    {"id": "next", "type": "transform", "depends_on": ["nap"], "with": {"v": 1}},
                ]
            }
        )
        await runner.wait_until(execution_id, lambda e: e["status"] == "running")
        paused = await runner.post(_url(runner, execution_id, "pause"))
        assert paused.status_code == 202 and paused.json()["status"] == "paused"
        assert (await runner.post(_url(runner, execution_id, "pause"))).status_code == 409
        # the running sleep finishes on time, but `next` does not start while paused
        await runner.wait_until(
            execution_id, lambda e: steps_by_id(e)["nap"]["status"] == "completed"
        )
        execution = await runner.execution(execution_id)
        assert execution["status"] == "paused"
        assert steps_by_id(execution)["next"]["status"] == "pending"
        resumed = await runner.post(_url(runner, execution_id, "resume"))
        assert resumed.status_code == 202
        done = await runner.wait_until(execution_id, lambda e: e["status"] == "completed")
        assert steps_by_id(done)["next"]["output"] == {"v": 1}
        types = [e["type"] for e in await _logs(runner, execution_id)]
        assert types.index("execution.paused") < types.index("execution.resumed")
        paused_event = next(
            e for e in await _logs(runner, execution_id) if e["type"] == "execution.paused"
        )
        assert paused_event["data"]["by"].endswith("@example.com")

    async def test_resume_when_not_paused_is_409(self, runner: Runner) -> None:
        execution_id = await runner.start(
            {"steps": [{"id": "nap", "type": "sleep", "with": {"duration": "2s"}}]}
        )
        await runner.wait_until(execution_id, lambda e: e["status"] == "running")
        assert (await runner.post(_url(runner, execution_id, "resume"))).status_code == 409

    async def test_controls_on_a_finished_run_are_409(self, runner: Runner) -> None:
        execution = await runner.run({"steps": [{"id": "a", "type": "transform", "with": {}}]})
        for action in ("pause", "resume"):
            assert (await runner.post(_url(runner, execution["id"], action))).status_code == 409


def _parking(target: TargetServer, key: str) -> dict[str, Any]:
    return {
        "steps": [
            {
                "id": "call",
                "type": "http",
                "on_error": "park",
                "with": {"url": target.url(f"/flaky/{key}?fail=100")},
                "retry": {"max_attempts": 1},
            },
            {
                "id": "after",
                "type": "transform",
                "depends_on": ["call"],
                "with": {"got": "{{ steps.call.output }}"},
            },
        ]
    }


class TestParkOnFailure:
    async def test_parked_step_waits_and_retry_with_patched_with_goes_on(
        self, runner: Runner, target: TargetServer
    ) -> None:
        execution_id = await runner.start(_parking(target, f"park-{uuid.uuid4().hex[:6]}"))
        parked = await runner.wait_until(execution_id, lambda e: e["status"] == "waiting")
        assert steps_by_id(parked)["call"]["status"] == "waiting"
        assert "503" in parked["parked"]["call"]
        assert "503" in steps_by_id(parked)["call"]["error"]
        wrong = await runner.post(
            f"/api/v1/executions/{execution_id}/steps/after/resolve", {"action": "skip"}
        )
        assert wrong.status_code == 409
        fixed = {"url": target.url(f"/flaky/fixed-{uuid.uuid4().hex[:6]}?fail=0")}
        retried = await runner.post(
            f"/api/v1/executions/{execution_id}/steps/call/resolve",
            {"action": "retry", "with": fixed},
        )
        assert retried.status_code == 202, retried.text
        done = await runner.wait_until(execution_id, lambda e: e["status"] == "completed")
        assert steps_by_id(done)["after"]["output"]["got"]["body"]["ok"] is True
        again = await runner.post(
            f"/api/v1/executions/{execution_id}/steps/call/resolve", {"action": "skip"}
        )
        assert again.status_code == 409

    async def test_skip_gives_the_step_an_output_and_the_run_goes_on(
        self, runner: Runner, target: TargetServer
    ) -> None:
        execution_id = await runner.start(_parking(target, f"skip-{uuid.uuid4().hex[:6]}"))
        await runner.wait_until(execution_id, lambda e: e["status"] == "waiting")
        skipped = await runner.post(
            f"/api/v1/executions/{execution_id}/steps/call/resolve",
            {"action": "skip", "output": {"manual": True}},
        )
        assert skipped.status_code == 202
        done = await runner.wait_until(execution_id, lambda e: e["status"] == "completed")
        assert steps_by_id(done)["after"]["output"] == {"got": {"manual": True}}

    async def test_abort_fails_the_run(self, runner: Runner, target: TargetServer) -> None:
        execution_id = await runner.start(_parking(target, f"abort-{uuid.uuid4().hex[:6]}"))
        await runner.wait_until(execution_id, lambda e: e["status"] == "waiting")
        aborted = await runner.post(
            f"/api/v1/executions/{execution_id}/steps/call/resolve", {"action": "abort"}
        )
        assert aborted.status_code == 202
        done = await runner.wait_until(execution_id, lambda e: e["status"] == "failed")
        assert "aborted by" in steps_by_id(done)["call"]["error"]

    async def test_an_unknown_action_is_422(self, runner: Runner, target: TargetServer) -> None:
        execution_id = await runner.start(_parking(target, f"bad-{uuid.uuid4().hex[:6]}"))
        response = await runner.post(
            f"/api/v1/executions/{execution_id}/steps/call/resolve", {"action": "explode"}
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["pointer"] == "/action"
        await runner.post(_url(runner, execution_id, "cancel"))


class TestCompensation:
    async def test_failure_compensates_completed_steps_newest_first(
        self, runner: Runner, target: TargetServer
    ) -> None:
        definition = {
            "steps": [
                {
                    "id": "reserve",
                    "type": "http",
                    "with": {
                        "url": target.url("/echo"),
                        "method": "POST",
                        "json": {"do": "reserve"},
                    },
                    "compensate": {
                        "type": "http",
                        "with": {
                            "url": target.url("/echo"),
                            "method": "POST",
                            "json": {"undo": "{{ steps.reserve.output.status }}"},
                        },
                    },
                },
                {
                    "id": "charge",
                    "type": "transform",
                    "depends_on": ["reserve"],
                    "with": {"v": 1},
                    "compensate": {"type": "log", "with": {"message": "refund"}},
                },
                {
                    "id": "ship",
                    "type": "fail",
                    "depends_on": ["charge"],
                    "with": {"message": "no stock"},
                },
            ]
        }
        execution = await runner.run(definition)
        assert execution["status"] == "failed"
        steps = steps_by_id(execution)
        assert steps["reserve"]["compensation"]["status"] == "compensated"
        assert steps["reserve"]["compensation"]["output"]["body"]["body"] == '{"undo":200}'
        assert steps["charge"]["compensation"]["status"] == "compensated"
        order = [
            e["step_id"]
            for e in await _logs(runner, execution["id"])
            if e["type"] == "step.compensated"
        ]
        assert order == ["charge", "reserve"]

    async def test_a_failing_compensation_is_recorded_and_the_others_still_run(
        self, runner: Runner, target: TargetServer
    ) -> None:
        definition = {
            "steps": [
                {
                    "id": "first",
                    "type": "transform",
                    "with": {},
                    "compensate": {"type": "log", "with": {"message": "undo first"}},
                },
                {
                    "id": "second",
                    "type": "transform",
                    "depends_on": ["first"],
                    "with": {},
                    "compensate": {
                        "type": "http",
                        "with": {"url": target.url("/status/500")},
                        "retry": {"max_attempts": 2, "initial_interval": "50ms"},
                    },
                },
                {"id": "boom", "type": "fail", "depends_on": ["second"], "with": {"message": "x"}},
            ]
        }
        before = target.calls["/status/500"]
        execution = await runner.run(definition)
        steps = steps_by_id(execution)
        assert steps["second"]["compensation"]["status"] == "compensation_failed"
        assert target.calls["/status/500"] - before == 2  # retried per its own policy
        assert steps["first"]["compensation"]["status"] == "compensated"

    async def test_cancellation_compensates_too(self, runner: Runner) -> None:
        execution_id = await runner.start(
            {
                "steps": [
                    {
                        "id": "booked",
                        "type": "transform",
                        "with": {},
                        "compensate": {"type": "log", "with": {"message": "unbook"}},
                    },
                    {
                        "id": "wait",
                        "type": "sleep",
                        "depends_on": ["booked"],
                        "with": {"duration": "1h"},
                    },
                ]
            }
        )
        await runner.wait_until(
            execution_id, lambda e: steps_by_id(e)["wait"]["status"] == "running"
        )
        await runner.post(_url(runner, execution_id, "cancel"))
        done = await runner.wait_until(execution_id, lambda e: e["status"] == "cancelled")
        assert steps_by_id(done)["booked"]["compensation"]["status"] == "compensated"


class TestRedrive:
    def _definition(self, target: TargetServer, key: str) -> dict[str, Any]:
        return {
            "steps": [
                {
                    "id": "expensive",
                    "type": "http",
                    "with": {"url": target.url(f"/flaky/{key}-a?fail=0")},
                },
                {
                    "id": "fragile",
                    "type": "http",
                    "depends_on": ["expensive"],
                    "with": {"url": target.url(f"/flaky/{key}-b?fail=1")},
                    "retry": {"max_attempts": 1},
                },
            ]
        }

    async def test_retry_from_failed_reuses_completed_outputs(
        self, runner: Runner, target: TargetServer
    ) -> None:
        key = uuid.uuid4().hex[:8]
        workflow_id = await runner.create(self._definition(target, key))
        first = (await runner.execute(workflow_id)).json()
        assert first["status"] == "failed"
        retried = await runner.post(
            _url(runner, first["execution_id"], "retry"), {"from_failed": True}
        )
        assert retried.status_code == 202, retried.text
        second_id = retried.json()["execution_id"]
        done = await runner.wait_until(second_id, lambda e: e["status"] in ("completed", "failed"))
        assert done["status"] == "completed"
        assert done["retry_of"] == first["execution_id"]
        assert target.calls[f"{key}-a"] == 1  # reused, not called again
        assert target.calls[f"{key}-b"] == 2
        assert steps_by_id(done)["expensive"]["output"]["body"]["calls"] == 1

    async def test_redrive_onto_a_version_that_changed_upstream_is_422(
        self, runner: Runner, target: TargetServer
    ) -> None:
        key = uuid.uuid4().hex[:8]
        definition = self._definition(target, key)
        definition["steps"].append({"id": "side", "type": "transform", "with": {"v": 1}})
        workflow_id = await runner.create(definition)
        first = (await runner.execute(workflow_id)).json()
        assert first["status"] == "failed"
        moved = {
            "steps": [
                *definition["steps"][:2],
                {"id": "side", "type": "transform", "depends_on": ["expensive"], "with": {"v": 1}},
            ]
        }
        await runner.client.patch(
            f"/api/v1/workflows/{workflow_id}", json={"definition": moved}, headers=runner.headers
        )
        response = await runner.post(
            _url(runner, first["execution_id"], "retry"), {"from_failed": True, "version": 2}
        )
        assert response.status_code == 422
        error = response.json()["errors"][0]
        assert error["pointer"] == "/version" and error["code"] == "reused_step_upstream_changed"
        assert "'side'" in error["detail"]
        dropped = {"steps": definition["steps"][:2]}
        await runner.client.patch(
            f"/api/v1/workflows/{workflow_id}", json={"definition": dropped}, headers=runner.headers
        )
        response = await runner.post(
            _url(runner, first["execution_id"], "retry"), {"from_failed": True, "version": 3}
        )
        assert response.json()["errors"][0]["code"] == "reused_step_missing"
        same_shape = await runner.post(
            _url(runner, first["execution_id"], "retry"), {"from_failed": True}
        )
        assert same_shape.status_code == 202

    async def test_retry_of_a_running_execution_is_409(self, runner: Runner) -> None:
        execution_id = await runner.start(
            {"steps": [{"id": "n", "type": "sleep", "with": {"duration": "1h"}}]}
        )
        assert (await runner.post(_url(runner, execution_id, "retry"), {})).status_code == 409
        await runner.post(_url(runner, execution_id, "cancel"))
