"""Definitions written to hurt the server: remote ``$ref``, expression bombs, deep nesting,
child workflows that reach someone else's private workflow or call themselves forever.

Each attack goes through the real API and, where a run is involved, the real worker.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from temporal_workflows.definition import WorkflowDefinition
from temporal_workflows.validation import validate_input
from tests.conftest import UserFactory
from tests.support.runner import Runner, steps_by_id
from tests.support.target_server import TargetServer


def pointers(response: httpx.Response) -> list[str]:
    assert response.status_code == 422, response.text
    return [e["pointer"] for e in response.json()["errors"]]


async def step_failure(runner: Runner, execution_id: str, step_id: str) -> dict[str, Any]:
    """The data of a step's ``step.failed`` event: its ``error`` and ``error_type``."""
    logs = await runner.client.get(
        f"/api/v1/executions/{execution_id}/logs?limit=200", headers=runner.headers
    )
    [failed] = [
        e for e in logs.json()["data"] if e["type"] == "step.failed" and e["step_id"] == step_id
    ]
    return dict(failed["data"])


def schema_with_ref(ref: str) -> dict[str, Any]:
    return {
        "input_schema": {"type": "object", "properties": {"x": {"$ref": ref}}},
        "steps": [{"id": "a", "type": "transform", "with": {"x": "{{ input.x }}"}}],
    }


class TestInputSchemaReferences:
    """No ``$ref`` is ever fetched: only local (``#...``) references are accepted."""

    @pytest.mark.parametrize(
        "ref",
        ["{target}/count/{key}", "file:///etc/passwd", "http://testserver/api/v1/workflows"],
        ids=["http", "file", "the-api-itself"],
    )
    async def test_a_remote_ref_is_refused_at_save_and_never_fetched(
        self, runner: Runner, target: TargetServer, ref: str
    ) -> None:
        key = f"ref-{uuid.uuid4().hex[:8]}"
        ref = ref.format(target=target.base_url, key=key)
        response = await runner.post(
            "/api/v1/workflows", {"name": "r", **{"definition": schema_with_ref(ref)}}
        )
        assert "/definition/input_schema/properties/x/$ref" in pointers(response)
        assert target.calls[f"count:{key}"] == 0

    async def test_a_local_ref_is_accepted_and_enforced(self, runner: Runner) -> None:
        definition = schema_with_ref("#/$defs/small")
        definition["input_schema"]["$defs"] = {"small": {"type": "integer", "maximum": 3}}
        workflow_id = await runner.create(definition)
        assert (await runner.execute(workflow_id, {"x": 2})).status_code == 200
        refused = await runner.execute(workflow_id, {"x": 9})
        assert pointers(refused) == ["/input_data/x"]

    async def test_a_schema_that_is_not_valid_json_schema_is_refused_at_save(
        self, runner: Runner
    ) -> None:
        definition = schema_with_ref("#/$defs/a")
        definition["input_schema"]["properties"]["x"] = {"type": "no-such-type"}
        response = await runner.post("/api/v1/workflows", {"name": "r", "definition": definition})
        assert pointers(response) == ["/definition/input_schema/properties/x/type"]

    def test_input_validation_never_retrieves_a_reference(self, target: TargetServer) -> None:
        """A schema stored before this check (so never validated for refs) fetches nothing
        when a run's input is checked: the reference is a problem of the input."""
        key = f"ref-{uuid.uuid4().hex[:8]}"
        definition = WorkflowDefinition.model_validate(
            schema_with_ref(f"{target.base_url}/count/{key}")
        )
        problems = validate_input(definition, {"x": 1})
        assert [p.pointer for p in problems] == ["/input_data"]
        assert "cannot be resolved" in problems[0].message
        assert target.calls[f"count:{key}"] == 0


BOMBS = {
    "center-map": "('a'*100000)|map('center',100000)|list",
    "wordwrap": "[" + ", ".join(["'a'*100000"] * 8) + "]|map('wordwrap', 1)|list",
    "repeat": "'a'*10**9",
    "format-width": "'%999999999s'|format('a')",
    "concat": " ~ ".join(["vars.s"] * 300),
    "join-of-centers": "('a'*2000)|map('center', 99999)|join",
}


class TestExpressionBombs:
    """One evaluation has a budget; a bomb fails its step at once with a clear error."""

    @pytest.mark.parametrize("expression", list(BOMBS.values()), ids=list(BOMBS))
    async def test_a_bomb_fails_its_step_quickly_and_the_worker_serves_the_next_run(
        self, runner: Runner, expression: str
    ) -> None:
        definition = {
            "variables": {"s": "a" * 100_000},
            "steps": [
                {"id": "bomb", "type": "transform", "with": {"v": f"{{{{ {expression} }}}}"}}
            ],
        }
        # A synchronous run answers 200 only once the run ended: a bomb that stalled the
        # workflow task (Temporal's deadlock detector, 2 s) would leave it running.
        execution = await runner.run(definition)
        assert execution["status"] == "failed"
        failure = await step_failure(runner, execution["id"], "bomb")
        assert failure["error_type"] == "ExpressionLimitExceeded", failure
        assert "too much work" in failure["error"]

        after = await runner.run({"steps": [{"id": "ok", "type": "transform", "with": {"v": 1}}]})
        assert after["status"] == "completed"

    async def test_range_does_not_exist(self, runner: Runner) -> None:
        definition = {
            "steps": [{"id": "a", "type": "transform", "with": {"v": "{{ range(10**9)|list }}"}}]
        }
        response = await runner.post("/api/v1/workflows", {"name": "r", "definition": definition})
        assert pointers(response) == ["/definition/steps/0/with/v"]

    async def test_validation_does_not_evaluate_a_bomb(self, runner: Runner) -> None:
        """Constant parts of expressions are not folded at save time (Jinja's optimizer
        would otherwise run the filters on the API)."""
        text = "'" + "a" * 5000 + "'|wordwrap(1)|wordwrap(1)|center(99999)"
        response = await runner.post(
            "/api/v1/workflows/validate",
            {
                "definition": {
                    "steps": [{"id": "a", "type": "transform", "with": {"v": f"{{{{ {text} }}}}"}}]
                }
            },
        )
        assert response.status_code == 200, response.text


class TestNesting:
    """Nesting beyond the parser's or the validator's depth is a 422 with a pointer, not a 500."""

    async def test_deeply_nested_parentheses_are_a_422(self, runner: Runner) -> None:
        expression = "{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}"
        definition = {"steps": [{"id": "a", "type": "transform", "with": {"v": expression}}]}
        response = await runner.post("/api/v1/workflows", {"name": "n", "definition": definition})
        assert pointers(response) == ["/definition/steps/0/with/v"]
        validate = await runner.post("/api/v1/workflows/validate", {"definition": definition})
        assert pointers(validate) == ["/definition/steps/0/with/v"]

    async def test_a_deeply_nested_definition_is_a_422(self, runner: Runner) -> None:
        value: Any = 1
        for _ in range(500):
            value = {"a": value}
        definition = {"steps": [{"id": "a", "type": "transform", "with": {"v": value}}]}
        response = await runner.post("/api/v1/workflows", {"name": "n", "definition": definition})
        [pointer] = pointers(response)
        assert pointer.startswith("/definition/steps/0/with/v/a/a")

    async def test_a_request_body_nested_beyond_the_json_parser_is_a_422(
        self, runner: Runner
    ) -> None:
        body = '{"name": "n", "definition": ' + "[" * 100_000 + "]" * 100_000 + "}"
        response = await runner.client.post(
            "/api/v1/workflows",
            content=body,
            headers={**runner.headers, "Content-Type": "application/json"},
        )
        # The parser's RecursionError is a body that cannot be read: 422 at the whole body.
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["pointer"] == ""
        assert response.headers["content-type"] == "application/problem+json"


def calls_child(child_id: str) -> dict[str, Any]:
    return {"steps": [{"id": "sub", "type": "workflow", "with": {"workflow_id": child_id}}]}


class TestChildWorkflows:
    """A ``workflow`` step may run only a workflow its workflow's owner may run."""

    async def test_a_private_workflow_of_another_developer_is_refused_at_save(
        self, client: httpx.AsyncClient, make_user: UserFactory, runner: Runner
    ) -> None:
        other = Runner(client, await make_user("developer"))
        private = await other.create(
            {"steps": [{"id": "s", "type": "transform", "with": {"secret": 1}}]}
        )
        response = await runner.post(
            "/api/v1/workflows", {"name": "thief", "definition": calls_child(private)}
        )
        assert pointers(response) == ["/definition/steps/0/with/workflow_id"]

    async def test_a_shared_workflow_of_another_developer_may_be_called(
        self, client: httpx.AsyncClient, make_user: UserFactory, runner: Runner
    ) -> None:
        other = Runner(client, await make_user("developer"))
        shared = await other.create(
            {"steps": [{"id": "s", "type": "transform", "with": {"v": 1}}]}, shared=True
        )
        execution = await runner.run(calls_child(shared))
        assert execution["status"] == "completed", execution

    async def test_a_private_child_named_by_an_expression_fails_at_run_time_and_never_runs(
        self, client: httpx.AsyncClient, make_user: UserFactory, runner: Runner
    ) -> None:
        other = Runner(client, await make_user("developer"))
        private = await other.create(
            {"steps": [{"id": "s", "type": "transform", "with": {"v": 1}}]}
        )
        parent = await runner.create(
            {
                "steps": [
                    {"id": "sub", "type": "workflow", "with": {"workflow_id": "{{ input.id }}"}}
                ]
            }
        )
        response = await runner.execute(parent, {"id": private})
        execution = await runner.execution(response.json()["execution_id"])
        assert execution["status"] == "failed"
        failure = await step_failure(runner, execution["id"], "sub")
        assert failure["error_type"] == "ChildWorkflowForbidden"
        assert "sub" not in str(steps_by_id(execution)["sub"].get("output") or "")
        runs = await other.client.get(
            f"/api/v1/executions?workflow_id={private}", headers=other.headers
        )
        assert runs.json()["count"] == 0  # the child never started

    async def test_a_workflow_calling_itself_ends_at_the_depth_limit(self, runner: Runner) -> None:
        workflow_id = await runner.create(
            {
                "steps": [
                    {
                        "id": "again",
                        "type": "workflow",
                        "with": {"workflow_id": "{{ workflow.id }}"},
                    }
                ]
            }
        )
        response = await runner.execute(workflow_id)
        execution = await runner.wait_until(
            response.json()["execution_id"], lambda e: e["status"] == "failed", timeout=60
        )
        runs = await runner.client.get(
            f"/api/v1/executions?workflow_id={workflow_id}&limit=100", headers=runner.headers
        )
        # the top run and one per level, the deepest refused: never an unbounded fan
        assert runs.json()["count"] == 11
        assert "depth" in (execution["error_message"] or "")
