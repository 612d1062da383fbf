"""Synced workflows run to completion on the real worker, with the result n8n gives.

The expected results are what n8n answers for the same input (its webhook's "last node"
response): worked out by hand for these fixtures, and checked against a real n8n by
``test_real_n8n.py`` when one is configured.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from temporal_workflows.interpreter import HeadraceRun
from tests.conftest import UserFactory
from tests.integrations.fake_n8n import API_KEY, FakeN8n, load_fixture
from tests.integrations.n8n_answers import CASES, KNOWN_ANSWERS
from tests.workflows.conftest import Runner, steps_by_id


@pytest.fixture
async def runner(client: httpx.AsyncClient, make_user: UserFactory) -> Runner:
    return Runner(client, await make_user("developer"))


async def synced(runner: Runner, n8n: FakeN8n, *fixtures: str) -> dict[str, dict[str, Any]]:
    for name in fixtures:
        n8n.add(name)
    response = await runner.post(
        "/api/v1/integrations/n8n/sync", {"n8n_url": n8n.base_url, "api_key": API_KEY}
    )
    assert response.status_code == 200, response.text
    return {w["n8n_id"]: w for w in response.json()["workflows"]}


async def run(runner: Runner, workflow_id: str, input_data: Any) -> dict[str, Any]:
    response = await runner.execute(workflow_id, input_data)
    assert response.status_code == 200, response.text
    return await runner.execution(response.json()["execution_id"])


class TestTranslatedRuns:
    @pytest.mark.parametrize(
        ("user_id", "expected"),
        [
            ("v42", {"customer": "v42", "discount": 10, "order": {"tier": "vip"}}),
            ("b7", {"customer": "b7", "discount": 0, "order": {"tier": "basic"}}),
        ],
    )
    async def test_webhook_http_if_set(
        self, runner: Runner, fake_n8n: FakeN8n, user_id: str, expected: dict[str, Any]
    ) -> None:
        workflows = await synced(runner, fake_n8n, "order_intake")
        execution = await run(
            runner, workflows["wfOrderIntake01"]["workflow_id"], {"body": {"user_id": user_id}}
        )
        assert execution["status"] == "completed", execution
        assert execution["output_data"] == expected
        assert fake_n8n.calls[f"target:user:{user_id}"] == 1

    @pytest.mark.parametrize(
        "fixture",
        ["legacy_nodes", "profile_combine", "code_expressions", "split_lines", "loop_lines"],
    )
    async def test_first_node_versions_and_combine_give_n8ns_answers(
        self, runner: Runner, fake_n8n: FakeN8n, fixture: str
    ) -> None:
        """IF v1, Switch v1/v2, HTTP Request v1/v2, Merge combine, Code nodes and JavaScript
        expressions as code steps (answers seen from n8n)."""
        n8n_id = load_fixture(fixture)["id"]
        workflows = await synced(runner, fake_n8n, fixture)
        assert workflows[n8n_id]["mode"] == "translated", workflows[n8n_id]["reasons"]
        _, _, inputs = CASES[fixture]
        for body, answer in zip(inputs, KNOWN_ANSWERS[fixture], strict=True):
            execution = await run(runner, workflows[n8n_id]["workflow_id"], {"body": body})
            assert execution["status"] == "completed", [
                (s["id"], s["status"], s.get("error")) for s in execution["steps"]
            ]
            assert execution["output_data"] == answer, body

    async def test_retries_and_the_error_output(self, runner: Runner, fake_n8n: FakeN8n) -> None:
        workflows = await synced(runner, fake_n8n, "resilient_calls")
        key = uuid.uuid4().hex
        execution = await run(
            runner, workflows["wfResilient08"]["workflow_id"], {"body": {"key": key}}
        )
        assert execution["status"] == "completed", execution
        assert execution["output_data"] == {"found": False, "calls": 3}
        steps = steps_by_id(execution)
        assert steps["Flaky_call"]["attempts"] == 3
        assert steps["Optional_lookup"]["status"] == "failed"
        # for the reason n8n's node fails: the 404, with the number header sent as text "3"
        assert "404" in str(steps["Optional_lookup"]["error"])
        assert steps["Found"]["status"] == "skipped"

    async def test_merge_after_an_if(self, runner: Runner, fake_n8n: FakeN8n) -> None:
        workflows = await synced(runner, fake_n8n, "greeting_merge")
        workflow_id = workflows["wfGreetingMerge05"]["workflow_id"]
        known = await run(runner, workflow_id, {"kind": "USER", "name": "Ann"})
        assert known["output_data"] == {"greeting": "Hello Ann!"}
        guest = await run(runner, workflow_id, {"kind": "robot"})
        assert guest["output_data"] == {"greeting": "Hello guest!"}

    async def test_execute_workflow_runs_the_child(self, runner: Runner, fake_n8n: FakeN8n) -> None:
        workflows = await synced(runner, fake_n8n, "totals_parent", "totals_child")
        execution = await run(runner, workflows["wfTotalsParent06"]["workflow_id"], {"amount": 7})
        assert execution["status"] == "completed", execution
        assert execution["output_data"] == {"result": 7, "by": "child"}

    async def test_wait_sleeps_then_waits_for_the_resume_event(
        self, runner: Runner, fake_n8n: FakeN8n
    ) -> None:
        workflows = await synced(runner, fake_n8n, "approval_wait")
        response = await runner.execute(
            workflows["wfApprovalWait04"]["workflow_id"], {"request": "r1"}, async_mode=True
        )
        execution_id = response.json()["execution_id"]
        await runner.wait_until(execution_id, lambda e: e["status"] == "waiting")
        signal = await runner.post(
            f"/api/v1/executions/{execution_id}/signal",
            {"name": "Await_approval", "payload": {"approved": True}},
        )
        assert signal.status_code in (200, 202), signal.text
        done = await runner.wait_until(execution_id, lambda e: e["status"] == "completed")
        assert done["output_data"] == {"approved": True, "request": "r1"}


@pytest.mark.skipif(
    not hasattr(HeadraceRun, "_step_n8n"), reason="the interpreter has no n8n step yet"
)
class TestDelegatedRuns:
    async def test_a_delegated_workflow_runs_in_n8n(
        self, runner: Runner, fake_n8n: FakeN8n
    ) -> None:
        workflows = await synced(runner, fake_n8n, "score_code")
        fake_n8n.behaviours["wfScoreCode03"] = lambda item: {"score": item["body"]["points"] * 2}
        execution = await run(
            runner, workflows["wfScoreCode03"]["workflow_id"], {"body": {"points": 21}}
        )
        assert execution["status"] == "completed", execution
        assert execution["output_data"] == {"score": 42}
        assert fake_n8n.calls["webhook:score"] == 1


@pytest.mark.skipif(
    not hasattr(HeadraceRun, "_step_n8n"), reason="the interpreter has no n8n step yet"
)
class TestOneInputContract:
    """A webhook-triggered workflow takes ``{"body": ...}`` whether translated or delegated."""

    async def test_the_same_input_gives_the_same_answer_both_ways(
        self, runner: Runner, fake_n8n: FakeN8n
    ) -> None:
        workflows = await synced(runner, fake_n8n, "echo_set", "echo_code")
        assert workflows["wfEchoSet13"]["mode"] == "translated"
        assert workflows["wfEchoCode14"]["mode"] == "delegate"
        # n8n's own run of the Code node `return [{ json: { n: $input.first().json.body.n } }]`
        fake_n8n.behaviours["wfEchoCode14"] = lambda item: {"n": item["body"]["n"]}
        answers = [
            await run(runner, workflows[n8n_id]["workflow_id"], {"body": {"n": 21}})
            for n8n_id in ("wfEchoSet13", "wfEchoCode14")
        ]
        assert [a["status"] for a in answers] == ["completed", "completed"], answers
        assert [a["output_data"] for a in answers] == [{"n": 21}, {"n": 21}]
        (execution,) = [e for e in fake_n8n.executions if e["workflowId"] == "wfEchoCode14"]
        assert execution["data"]["resultData"]["runData"]["Webhook"][0]["data"]["main"][0][0][
            "json"
        ]["body"] == {"n": 21}

    async def test_a_delegated_webhook_workflow_gets_its_headrace_webhook(
        self, runner: Runner, fake_n8n: FakeN8n
    ) -> None:
        workflows = await synced(runner, fake_n8n, "echo_code")
        fake_n8n.behaviours["wfEchoCode14"] = lambda item: {"n": item["body"]["n"]}
        workflow_id = workflows["wfEchoCode14"]["workflow_id"]
        response = await runner.client.get(
            f"/api/v1/workflows/{workflow_id}", headers=runner.headers
        )
        (trigger,) = response.json()["triggers"]
        assert trigger["type"] == "webhook" and trigger["method"] == "POST"
