"""The ``code`` step run for real: API → Temporal dev server → worker → QuickJS sandbox."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.runner import Runner, steps_by_id


def code_step(code: str, step_id: str = "calc", **fields: Any) -> dict[str, Any]:
    with_: dict[str, Any] = {"language": "javascript", "code": code}
    if "input" in fields:
        with_["input"] = fields.pop("input")
    return {"id": step_id, "type": "code", "with": with_, **fields}


async def step_failure(runner: Runner, execution_id: str, step_id: str) -> dict[str, Any]:
    logs = await runner.client.get(
        f"/api/v1/executions/{execution_id}/logs?limit=200", headers=runner.headers
    )
    [failed] = [
        e for e in logs.json()["data"] if e["type"] == "step.failed" and e["step_id"] == step_id
    ]
    return dict(failed["data"])


class TestCodeStep:
    async def test_a_scripts_result_feeds_later_steps_and_its_console_goes_to_the_logs(
        self, runner: Runner
    ) -> None:
        code = (
            "let total = 0;\n"
            "for (const item of input.items) total += item.price * item.qty;\n"
            "console.log('summed', input.items.length, 'items');\n"
            "return {total, currency: input.currency};"
        )
        definition = {
            "steps": [
                code_step(
                    code,
                    input={"items": "{{ input.items }}", "currency": "EUR"},
                ),
                {
                    "id": "report",
                    "type": "transform",
                    "depends_on": ["calc"],
                    "with": {
                        "line": "{{ steps.calc.output.total }} {{ steps.calc.output.currency }}"
                    },
                },
            ],
            "output": "{{ steps.report.output.line }}",
        }
        items = [{"price": 2.5, "qty": 2}, {"price": 1, "qty": 3}]
        execution = await runner.run(definition, {"items": items})
        assert execution["status"] == "completed", execution
        assert steps_by_id(execution)["calc"]["output"] == {"total": 8, "currency": "EUR"}
        assert execution["output_data"] == "8 EUR"
        logs = await runner.client.get(
            f"/api/v1/executions/{execution['id']}/logs?step_id=calc", headers=runner.headers
        )
        console = [e for e in logs.json()["data"] if e["type"] == "log"]
        assert [(e["level"], e["message"]) for e in console] == [("info", "summed 2 items")]
        assert console[0]["data"] == {"source": "console"}

    async def test_the_script_is_text_not_a_template(self, runner: Runner) -> None:
        definition = {"steps": [code_step("return '{{ input.secret }}' + input.x", input={"x": 1})]}
        execution = await runner.run(definition, {"secret": "no"})
        assert steps_by_id(execution)["calc"]["output"] == "{{ input.secret }}1"

    async def test_an_infinite_loop_fails_at_its_timeout_while_the_api_answers(
        self, runner: Runner, client: httpx.AsyncClient
    ) -> None:
        definition = {"steps": [code_step("while (true) {}", timeout="2s")]}
        execution_id = await runner.start(definition)
        await runner.wait_until(
            execution_id, lambda e: steps_by_id(e).get("calc", {}).get("status") == "running"
        )
        # The worker shares this process and event loop: the script runs on its own thread.
        health = await client.get("/healthz")
        assert health.status_code == 200
        execution = await runner.wait_until(execution_id, lambda e: e["status"] == "failed")
        step = steps_by_id(execution)["calc"]
        assert step["attempts"] == 1  # not retried
        failure = await step_failure(runner, execution_id, "calc")
        assert failure["error_type"] == "CodeTimeout"
        assert "2s" in failure["error"]

    async def test_an_allocation_loop_fails_cleanly(self, runner: Runner) -> None:
        code = "const hoard = []; while (true) hoard.push('x'.repeat(4096) + hoard.length)"
        execution_id = await runner.start({"steps": [code_step(code)]})
        execution = await runner.wait_until(execution_id, lambda e: e["status"] == "failed")
        assert steps_by_id(execution)["calc"]["attempts"] == 1
        failure = await step_failure(runner, execution_id, "calc")
        assert failure["error_type"] == "CodeMemoryLimit"

    async def test_a_thrown_error_names_the_line_and_an_error_handler_can_match_it(
        self, runner: Runner
    ) -> None:
        definition = {
            "steps": [
                code_step("const x = 1;\nthrow new Error('bad order')", on_error="continue"),
                {
                    "id": "handler",
                    "type": "transform",
                    "depends_on": ["calc"],
                    "when": "{{ steps.calc.status == 'failed' }}",
                    "with": {"handled": "{{ steps.calc.error }}"},
                },
            ]
        }
        execution = await runner.run(definition)
        handled = steps_by_id(execution)["handler"]["output"]["handled"]
        assert "Error: bad order (line 2, column" in handled

    async def test_one_runs_globals_never_reach_the_next(self, runner: Runner) -> None:
        code = (
            "const seen = typeof globalThis.carried;\n"
            "globalThis.carried = input.n; Object.prototype.tainted = input.n;\n"
            "return [seen, typeof ({}).tainted === 'number' ? 'own' : 'none']"
        )
        workflow_id = await runner.create({"steps": [code_step(code, input={"n": "{{ input }}"})]})
        for n in (1, 2):
            response = await runner.execute(workflow_id, n)
            assert response.status_code == 200, response.text
            execution = await runner.execution(response.json()["execution_id"])
            assert steps_by_id(execution)["calc"]["output"] == ["undefined", "own"]
