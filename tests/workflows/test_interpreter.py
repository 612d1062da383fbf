"""The interpreter, run for real: API → Temporal dev server → worker → loopback HTTP."""

from __future__ import annotations

import uuid
from typing import Any

from temporalio.testing import WorkflowEnvironment

from tests.support.target_server import TargetServer
from tests.workflows.conftest import Runner, steps_by_id


class TestDataFlow:
    async def test_contract_example_http_then_conditional_transform(
        self, runner: Runner, target: TargetServer
    ) -> None:
        definition = {
            "input_schema": {"type": "object", "required": ["user_id"]},
            "variables": {"base": target.base_url},
            "steps": [
                {
                    "id": "user",
                    "type": "http",
                    "with": {"method": "GET", "url": "{{ vars.base }}/users/{{ input.user_id }}"},
                    "retry": {
                        "max_attempts": 5,
                        "initial_interval": "1s",
                        "backoff_coefficient": 2,
                        "max_interval": "1m",
                    },
                    "timeout": "10s",
                },
                {
                    "id": "vip",
                    "type": "transform",
                    "depends_on": ["user"],
                    "when": "{{ steps.user.output.body.tier == 'vip' }}",
                    "with": {"discount": "{{ steps.user.output.body.spend * 0.1 }}"},
                },
            ],
            "output": {"discount": "{{ steps.vip.output.discount }}"},
        }
        execution = await runner.run(definition, {"user_id": "v42"})
        assert execution["status"] == "completed"
        assert execution["output_data"] == {"discount": 25.0}
        steps = steps_by_id(execution)
        assert steps["user"]["status"] == "completed"
        assert steps["user"]["output"]["status"] == 200
        assert steps["vip"]["output"] == {"discount": 25.0}
        assert execution["temporal_ui_url"].endswith("/history")

    async def test_when_false_skips_and_skips_propagate(self, runner: Runner) -> None:
        definition = {
            "steps": [
                {"id": "a", "type": "transform", "with": {"v": 1}},
                {"id": "b", "type": "transform", "depends_on": ["a"], "when": "{{ false }}"},
                {"id": "c", "type": "transform", "depends_on": ["b"], "with": {"v": 3}},
                {"id": "d", "type": "transform", "depends_on": ["a"], "with": {"v": 4}},
            ]
        }
        execution = await runner.run(definition)
        statuses = {k: v["status"] for k, v in steps_by_id(execution).items()}
        assert statuses == {"a": "completed", "b": "skipped", "c": "skipped", "d": "completed"}
        assert execution["output_data"] == {"a": {"v": 1}, "d": {"v": 4}}

    async def test_join_of_branches_runs_when_either_completed(self, runner: Runner) -> None:
        definition = {
            "steps": [
                {
                    "id": "left",
                    "type": "transform",
                    "when": "{{ input.go == 'left' }}",
                    "with": {"side": "L"},
                },
                {
                    "id": "right",
                    "type": "transform",
                    "when": "{{ input.go == 'right' }}",
                    "with": {"side": "R"},
                },
                {
                    "id": "join",
                    "type": "transform",
                    "depends_on": ["left", "right"],
                    "when": "{{ steps.left.status == 'completed' or steps.right.status == 'completed' }}",
                    "with": {
                        "came_from": "{{ steps.left.output.side | default(steps.right.output.side) }}"
                    },
                },
            ]
        }
        execution = await runner.run(definition, {"go": "right"})
        assert steps_by_id(execution)["join"]["output"] == {"came_from": "R"}

    async def test_whole_value_templates_keep_json_types(self, runner: Runner) -> None:
        definition = {
            "steps": [
                {
                    "id": "t",
                    "type": "transform",
                    "with": {
                        "n": "{{ input.n * 2 }}",
                        "list": "{{ input.items }}",
                        "flag": "{{ input.n > 1 }}",
                        "text": "n={{ input.n }}",
                    },
                }
            ]
        }
        execution = await runner.run(definition, {"n": 3, "items": [1, 2]})
        assert steps_by_id(execution)["t"]["output"] == {
            "n": 6,
            "list": [1, 2],
            "flag": True,
            "text": "n=3",
        }


class TestExecutionRow:
    async def test_the_row_names_the_temporal_run_that_ran_it(
        self, runner: Runner, temporal_env: WorkflowEnvironment
    ) -> None:
        execution = await runner.run(
            {"steps": [{"id": "a", "type": "transform", "with": {"x": 1}}]}
        )
        handle = temporal_env.client.get_workflow_handle(execution["temporal_workflow_id"])
        assert execution["temporal_run_id"] == (await handle.describe()).run_id


class TestErrors:
    async def test_failing_step_fails_the_run_and_downstream_never_runs(
        self, runner: Runner, target: TargetServer
    ) -> None:
        definition = {
            "steps": [
                {"id": "missing", "type": "http", "with": {"url": target.url("/status/404")}},
                {"id": "after", "type": "transform", "depends_on": ["missing"], "with": {}},
            ]
        }
        execution = await runner.run(definition)
        assert execution["status"] == "failed"
        steps = steps_by_id(execution)
        assert steps["missing"]["status"] == "failed"
        assert "404" in steps["missing"]["error"]
        assert steps["after"]["status"] == "not_run"
        assert "missing" in execution["error_message"]

    async def test_on_error_continue_lets_an_error_handler_run(
        self, runner: Runner, target: TargetServer
    ) -> None:
        definition = {
            "steps": [
                {
                    "id": "call",
                    "type": "http",
                    "on_error": "continue",
                    "with": {"url": target.url("/status/400")},
                },
                {
                    "id": "handler",
                    "type": "transform",
                    "depends_on": ["call"],
                    "when": "{{ steps.call.status == 'failed' }}",
                    "with": {"handled": "{{ steps.call.error }}"},
                },
                {"id": "normal", "type": "transform", "depends_on": ["call"], "with": {}},
            ]
        }
        execution = await runner.run(definition)
        assert execution["status"] == "completed"
        steps = steps_by_id(execution)
        assert "400" in steps["handler"]["output"]["handled"]
        assert steps["normal"]["status"] == "skipped"

    async def test_fail_step_ends_the_run_with_its_message(self, runner: Runner) -> None:
        definition = {
            "steps": [
                {"id": "stop", "type": "fail", "with": {"message": "bad input {{ input.x }}"}}
            ]
        }
        execution = await runner.run(definition, {"x": 7})
        assert execution["status"] == "failed"
        assert steps_by_id(execution)["stop"]["error"] == "bad input 7"

    async def test_expression_error_names_the_step_and_field(self, runner: Runner) -> None:
        definition = {
            "steps": [{"id": "calc", "type": "transform", "with": {"v": "{{ input.a / 0 }}"}}]
        }
        execution = await runner.run(definition, {"a": 1})
        assert execution["status"] == "failed"
        error = steps_by_id(execution)["calc"]["error"]
        assert "calc" in error and "with" in error


class TestRetries:
    async def test_5xx_is_retried_until_it_succeeds_and_attempts_are_recorded(
        self, runner: Runner, target: TargetServer
    ) -> None:
        key = f"k-{uuid.uuid4().hex[:8]}"  # the server outlives one database's run
        definition = {
            "steps": [
                {
                    "id": "flaky",
                    "type": "http",
                    "with": {"url": target.url(f"/flaky/{key}?fail=2")},
                    "retry": {"max_attempts": 4, "initial_interval": "100ms"},
                }
            ]
        }
        execution = await runner.run(definition)
        assert execution["status"] == "completed"
        step = steps_by_id(execution)["flaky"]
        assert step["output"]["body"] == {"ok": True, "calls": 3}
        assert step["attempts"] == 3
        logs = await runner.client.get(
            f"/api/v1/executions/{execution['id']}/logs", headers=runner.headers
        )
        retrying = [e for e in logs.json()["data"] if e["type"] == "step.retrying"]
        assert [e["attempt"] for e in retrying] == [1, 2]
        assert retrying[0]["data"]["delay_seconds"] == 0.1
        assert retrying[0]["data"]["step_type"] == "http"  # labels headrace_step_retries_total

    async def test_retries_stop_at_max_attempts(self, runner: Runner, target: TargetServer) -> None:
        key = f"k-{uuid.uuid4().hex[:8]}"  # the server outlives one database's run
        definition = {
            "steps": [
                {
                    "id": "down",
                    "type": "http",
                    "with": {"url": target.url(f"/flaky/{key}?fail=100")},
                    "retry": {"max_attempts": 2, "initial_interval": "50ms"},
                }
            ]
        }
        execution = await runner.run(definition)
        assert execution["status"] == "failed"
        assert target.calls[key] == 2
        assert steps_by_id(execution)["down"]["attempts"] == 2

    async def test_4xx_is_not_retried(self, runner: Runner, target: TargetServer) -> None:
        before = target.calls["/status/422"]
        definition = {
            "steps": [
                {
                    "id": "bad",
                    "type": "http",
                    "with": {"url": target.url("/status/422")},
                    "retry": {"max_attempts": 5, "initial_interval": "50ms"},
                }
            ]
        }
        execution = await runner.run(definition)
        assert execution["status"] == "failed"
        assert target.calls["/status/422"] - before == 1

    async def test_expect_status_makes_a_4xx_a_success(
        self, runner: Runner, target: TargetServer
    ) -> None:
        definition = {
            "steps": [
                {
                    "id": "gone",
                    "type": "http",
                    "with": {"url": target.url("/status/410"), "expect_status": [410]},
                }
            ]
        }
        execution = await runner.run(definition)
        assert steps_by_id(execution)["gone"]["output"]["status"] == 410


class TestFanOutAndLoops:
    async def test_foreach_keeps_order_and_respects_concurrency(
        self, runner: Runner, target: TargetServer
    ) -> None:
        definition = {
            "steps": [
                {
                    "id": "each",
                    "type": "http",
                    "foreach": "{{ input.ids }}",
                    "concurrency": 2,
                    "with": {"url": target.url("/users/{{ item }}"), "query": {"i": "{{ index }}"}},
                },
                {
                    "id": "tiers",
                    "type": "transform",
                    "depends_on": ["each"],
                    "with": {"t": "{{ steps.each.output | map(attribute='body.tier') | list }}"},
                },
            ]
        }
        execution = await runner.run(definition, {"ids": ["v1", "b2", "v3", "b4", "v5"]})
        assert execution["status"] == "completed"
        assert steps_by_id(execution)["tiers"]["output"] == {
            "t": ["vip", "basic", "vip", "basic", "vip"]
        }

    async def test_until_polls_with_durable_waits(
        self, runner: Runner, target: TargetServer
    ) -> None:
        key = f"k-{uuid.uuid4().hex[:8]}"  # the server outlives one database's run
        definition = {
            "steps": [
                {
                    "id": "poll",
                    "type": "http",
                    "with": {"url": target.url(f"/flaky/{key}?fail=0")},
                    "until": "{{ output.body.calls >= 3 }}",
                    "interval": "100ms",
                    "max_iterations": 5,
                }
            ]
        }
        execution = await runner.run(definition)
        assert steps_by_id(execution)["poll"]["output"]["body"]["calls"] == 3

    async def test_until_gives_up_after_max_iterations(self, runner: Runner) -> None:
        definition = {
            "steps": [
                {
                    "id": "never",
                    "type": "transform",
                    "with": {"v": 1},
                    "until": "{{ output.v == 2 }}",
                    "interval": "50ms",
                    "max_iterations": 3,
                }
            ]
        }
        execution = await runner.run(definition)
        assert execution["status"] == "failed"
        assert "3 iterations" in steps_by_id(execution)["never"]["error"]


def _definition_waiting_for(kind: str, **with_: Any) -> dict[str, Any]:
    return {
        "steps": [
            {"id": "gate", "type": kind, "with": with_},
            {
                "id": "after",
                "type": "transform",
                "depends_on": ["gate"],
                "with": {"got": "{{ steps.gate.output }}"},
            },
        ]
    }


class TestWaits:
    async def test_wait_for_event_resumes_on_signal_with_its_payload(self, runner: Runner) -> None:
        execution_id = await runner.start(_definition_waiting_for("wait_for_event", event="paid"))
        waiting = await runner.wait_until(execution_id, lambda e: e["status"] == "waiting")
        assert waiting["waiting_for"]["gate"]["event"] == "paid"
        wrong = await runner.post(
            f"/api/v1/executions/{execution_id}/signal", {"name": "shipped", "payload": {}}
        )
        assert wrong.status_code == 409
        right = await runner.post(
            f"/api/v1/executions/{execution_id}/signal", {"name": "paid", "payload": {"amount": 5}}
        )
        assert right.status_code == 202 and right.json()["step_id"] == "gate"
        done = await runner.wait_until(execution_id, lambda e: e["status"] == "completed")
        assert steps_by_id(done)["after"]["output"] == {"got": {"amount": 5}}
        late = await runner.post(f"/api/v1/executions/{execution_id}/signal", {"name": "paid"})
        assert late.status_code == 409

    async def test_wait_for_event_times_out(self, runner: Runner) -> None:
        execution = await runner.run(
            _definition_waiting_for("wait_for_event", event="x", timeout="200ms")
        )
        assert execution["status"] == "failed"
        assert "not received" in steps_by_id(execution)["gate"]["error"]

    async def test_approval_by_owner_completes_with_who_and_comment(self, runner: Runner) -> None:
        execution_id = await runner.start(_definition_waiting_for("approval"))
        await runner.wait_until(execution_id, lambda e: e["status"] == "waiting")
        approved = await runner.post(
            f"/api/v1/executions/{execution_id}/approve", {"comment": "ship it"}
        )
        assert approved.status_code == 202, approved.text
        done = await runner.wait_until(execution_id, lambda e: e["status"] == "completed")
        decision = steps_by_id(done)["gate"]["output"]
        assert decision["approved"] is True and decision["comment"] == "ship it"

    async def test_rejection_fails_the_approval_step(self, runner: Runner) -> None:
        execution_id = await runner.start(_definition_waiting_for("approval"))
        await runner.wait_until(execution_id, lambda e: e["status"] == "waiting")
        rejected = await runner.post(f"/api/v1/executions/{execution_id}/reject", {"comment": "no"})
        assert rejected.status_code == 202
        done = await runner.wait_until(execution_id, lambda e: e["status"] == "failed")
        assert "rejected" in steps_by_id(done)["gate"]["error"]
        assert steps_by_id(done)["after"]["status"] == "not_run"

    async def test_only_approvers_owner_or_admin_may_approve(
        self, runner: Runner, make_user: Any, client: Any
    ) -> None:
        definition = _definition_waiting_for("approval")
        workflow_id = await runner.create(definition, shared=True)
        started = await runner.execute(workflow_id, None, async_mode=True)
        execution_id = started.json()["execution_id"]
        await runner.wait_until(execution_id, lambda e: e["status"] == "waiting")
        stranger = await make_user("user")
        response = await client.post(
            f"/api/v1/executions/{execution_id}/approve", json={}, headers=stranger
        )
        assert response.status_code == 403
        assert (
            await runner.post(f"/api/v1/executions/{execution_id}/approve", {})
        ).status_code == 202


class TestLifecycle:
    async def test_input_failing_the_schema_is_422_and_starts_nothing(self, runner: Runner) -> None:
        workflow_id = await runner.create(
            {
                "input_schema": {
                    "type": "object",
                    "required": ["user_id"],
                    "properties": {"user_id": {"type": "string"}},
                },
                "steps": [{"id": "a", "type": "transform", "with": {}}],
            }
        )
        response = await runner.execute(workflow_id, {"user_id": 5})
        assert response.status_code == 422
        assert response.json()["errors"][0]["pointer"].startswith("/input_data")
        listed = await runner.client.get(
            f"/api/v1/executions?workflow_id={workflow_id}", headers=runner.headers
        )
        assert listed.json()["count"] == 0

    async def test_async_mode_answers_202_at_once(self, runner: Runner) -> None:
        execution_id = await runner.start(
            {"steps": [{"id": "nap", "type": "sleep", "with": {"duration": "300ms"}}]}
        )
        done = await runner.wait_until(execution_id, lambda e: e["status"] == "completed")
        assert steps_by_id(done)["nap"]["output"] == {"slept_seconds": 0.3}

    async def test_cancel_stops_a_run_and_a_second_cancel_is_409(self, runner: Runner) -> None:
        execution_id = await runner.start(
            {"steps": [{"id": "long", "type": "sleep", "with": {"duration": "1h"}}]}
        )
        await runner.wait_until(execution_id, lambda e: e["status"] == "running")
        assert (await runner.post(f"/api/v1/executions/{execution_id}/cancel")).status_code == 202
        await runner.wait_until(execution_id, lambda e: e["status"] == "cancelled")
        assert (await runner.post(f"/api/v1/executions/{execution_id}/cancel")).status_code == 409

    async def test_runs_keep_the_version_they_started_with(self, runner: Runner) -> None:
        workflow_id = await runner.create(
            {"steps": [{"id": "v", "type": "transform", "with": {"v": 1}}]}
        )
        started = (await runner.execute(workflow_id, async_mode=True)).json()["execution_id"]
        await runner.client.patch(
            f"/api/v1/workflows/{workflow_id}",
            headers=runner.headers,
            json={"definition": {"steps": [{"id": "v", "type": "transform", "with": {"v": 2}}]}},
        )
        first = await runner.wait_until(started, lambda e: e["status"] == "completed")
        assert first["version"] == 1 and first["output_data"] == {"v": {"v": 1}}
        second = (await runner.execute(workflow_id)).json()
        assert second["result"] == {"v": {"v": 2}}

    async def test_child_workflow_step_runs_another_workflow(self, runner: Runner) -> None:
        child = await runner.create(
            {
                "steps": [
                    {"id": "double", "type": "transform", "with": {"n": "{{ input.n * 2 }}"}}
                ],
                "output": "{{ steps.double.output.n }}",
            }
        )
        execution = await runner.run(
            {
                "steps": [
                    {
                        "id": "sub",
                        "type": "workflow",
                        "with": {"workflow_id": child, "input": {"n": "{{ input.n }}"}},
                    }
                ]
            },
            {"n": 21},
        )
        assert execution["status"] == "completed"
        assert steps_by_id(execution)["sub"]["output"]["output"] == 42
        child_run = await runner.execution(steps_by_id(execution)["sub"]["output"]["execution_id"])
        assert child_run["parent_execution_id"] == execution["id"]
        assert child_run["trigger_type"] == "workflow"

    async def test_log_step_writes_to_the_execution_logs(self, runner: Runner) -> None:
        execution = await runner.run(
            {
                "steps": [
                    {
                        "id": "say",
                        "type": "log",
                        "with": {"message": "hi {{ input.who }}", "level": "warning"},
                    }
                ]
            },
            {"who": "ops"},
        )
        logs = await runner.client.get(
            f"/api/v1/executions/{execution['id']}/logs?level=warning", headers=runner.headers
        )
        entries = logs.json()["data"]
        assert [(e["type"], e["message"]) for e in entries] == [("log", "hi ops")]


class TestHistoryLimits:
    async def test_long_io_foreach_runs_in_child_workflows_and_keeps_order(
        self, runner: Runner, target: TargetServer, temporal_env: Any, settings: Any
    ) -> None:
        from api.services.workflows import check_definition
        from temporal_workflows.run_types import INTERPRETER_WORKFLOW, RunInput, RunResult

        definition = {
            "steps": [
                {"id": "base", "type": "transform", "with": {"prefix": "v"}},
                {
                    "id": "each",
                    "type": "http",
                    "depends_on": ["base"],
                    "foreach": "{{ input.ids }}",
                    "concurrency": 3,
                    "with": {
                        "url": target.url(
                            "/users/{{ steps.base.output.prefix }}{{ index }}-{{ item }}"
                        )
                    },
                },
            ],
            "output": "{{ steps.each.output | map(attribute='body.id') | list }}",
        }
        workflow_id = await runner.create(definition)
        execution_id = str(__import__("uuid").uuid4())
        result = await temporal_env.client.execute_workflow(
            INTERPRETER_WORKFLOW,
            RunInput(
                execution_id=execution_id,
                workflow_id=workflow_id,
                version=1,
                definition=check_definition(definition),
                input={"ids": list(range(10, -1, -1))},
                foreach_chunk_size=4,
            ),
            id=execution_id,
            task_queue=settings.task_queue,
            result_type=RunResult,
        )
        assert result.output == [f"v{i}-{10 - i}" for i in range(11)]
        children = await runner.client.get(
            f"/api/v1/executions?workflow_id={workflow_id}&limit=50", headers=runner.headers
        )
        chunk_runs = [e for e in children.json()["data"] if e["trigger_type"] == "foreach"]
        assert len(chunk_runs) == 3  # 4 + 4 + 3 items
        assert {e["parent_execution_id"] for e in chunk_runs} == {execution_id}
        history = await temporal_env.client.get_workflow_handle(execution_id).fetch_history()
        assert not any(
            e.HasField("activity_task_scheduled_event_attributes") for e in history.events
        )  # the parent itself ran no item
