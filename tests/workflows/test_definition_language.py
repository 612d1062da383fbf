"""The definition language as users meet it, through the API and the real worker:
strict missing values and joins (docs/expressions.md, docs/definitions.md)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tests.support.target_server import TargetServer
from tests.workflows.conftest import Runner, steps_by_id


def _customer(tier: str) -> dict[str, Any]:
    return {"id": "customer", "type": "transform", "with": {"body": {"tier": tier}}}


class TestStrictMissingValues:
    async def test_a_typo_in_a_comparison_fails_the_step_with_did_you_mean(
        self, runner: Runner
    ) -> None:
        definition = {
            "steps": [
                _customer("gold"),
                {
                    "id": "discount",
                    "type": "transform",
                    "depends_on": ["customer"],
                    "when": "{{ steps.customer.output.body.teir != 'gold' }}",
                    "with": {"pct": 10},
                },
            ]
        }
        execution = await runner.run(definition)
        assert execution["status"] == "failed"
        error = steps_by_id(execution)["discount"]["error"]
        assert "'steps.customer.output.body.teir' is undefined" in error
        assert "did you mean 'steps.customer.output.body.tier'" in error

    async def test_absence_is_tested_with_is_defined_and_default(self, runner: Runner) -> None:
        definition = {
            "steps": [
                {
                    "id": "greet",
                    "type": "transform",
                    "when": "{{ input.name is defined or input.nickname is defined }}",
                    "with": {
                        "name": "{{ input.name | default(input.nickname) }}",
                        "vip": "{{ input.vip | default(false) }}",
                        "city": "{{ input.address.city | default(none) }}",
                    },
                }
            ]
        }
        execution = await runner.run(definition, {"nickname": "Bo"})
        assert execution["status"] == "completed"
        assert steps_by_id(execution)["greet"]["output"] == {
            "name": "Bo",
            "vip": False,
            "city": None,
        }

    async def test_an_unknown_field_of_a_step_is_refused_at_save_time(self, runner: Runner) -> None:
        definition = {
            "steps": [
                _customer("gold"),
                {
                    "id": "check",
                    "type": "transform",
                    "depends_on": ["customer"],
                    "when": "{{ steps.customer.outptu.body.tier == 'gold' }}",
                },
            ]
        }
        response = await runner.post("/api/v1/workflows", {"name": "t", "definition": definition})
        assert response.status_code == 422, response.text
        [problem] = response.json()["errors"]
        assert problem["pointer"] == "/definition/steps/1/when"
        assert problem["code"] == "unknown_field_reference"
        assert "did you mean 'output'" in problem["detail"]


class TestJoins:
    def branches(self, join: dict[str, Any]) -> dict[str, Any]:
        return {
            "steps": [
                {"id": "left", "type": "transform", "when": "{{ input.go == 'left' }}",
                 "with": {"side": "L"}},
                {"id": "right", "type": "transform", "when": "{{ input.go == 'right' }}",
                 "with": {"side": "R"}},
                {
                    "id": "merge",
                    "type": "transform",
                    "depends_on": ["left", "right"],
                    "with": {"came_from": "{{ steps.left.output.side | default(steps.right.output.side) }}"},
                    **join,
                },
            ]
        }  # fmt: skip

    async def test_any_succeeded_joins_branches_without_a_when(self, runner: Runner) -> None:
        execution = await runner.run(self.branches({"join": "any_succeeded"}), {"go": "right"})
        steps = steps_by_id(execution)
        assert steps["merge"]["output"] == {"came_from": "R"}
        assert steps["left"]["reason"] == "skipped because its when was false"

    async def test_the_default_join_skips_and_says_which_dependency_was_skipped(
        self, runner: Runner
    ) -> None:
        execution = await runner.run(self.branches({}), {"go": "right"})
        assert execution["status"] == "completed"
        merge = steps_by_id(execution)["merge"]
        assert merge["status"] == "skipped"
        assert merge["reason"] == "skipped because 'left' was skipped"

    async def test_a_later_error_on_a_skipped_step_names_why_it_was_skipped(
        self, runner: Runner
    ) -> None:
        definition = {
            "steps": [
                {"id": "pay", "type": "transform", "when": "{{ false }}"},
                {"id": "charge", "type": "transform", "depends_on": ["pay"], "with": {"body": 1}},
                {
                    "id": "receipt",
                    "type": "transform",
                    "depends_on": ["charge"],
                    "join": "all_done",
                    "with": {"amount": "{{ steps.charge.output.body }}"},
                },
            ]
        }
        execution = await runner.run(definition)
        assert execution["status"] == "failed"
        error = steps_by_id(execution)["receipt"]["error"]
        assert (
            "'steps.charge.output.body' is undefined (step 'charge' was skipped because 'pay' "
            "was skipped)" in error
        )

    async def test_all_done_runs_after_a_failed_dependency(self, runner: Runner) -> None:
        definition = {
            "steps": [
                {"id": "work", "type": "fail", "on_error": "continue",
                 "with": {"message": "boom"}},
                {"id": "report", "type": "transform", "depends_on": ["work"], "join": "all_done",
                 "with": {"work": "{{ steps.work.status }}"}},
                {"id": "next", "type": "transform", "depends_on": ["work"]},
            ]
        }  # fmt: skip
        execution = await runner.run(definition)
        steps = steps_by_id(execution)
        assert steps["report"]["output"] == {"work": "failed"}
        assert steps["next"]["reason"] == "skipped because 'work' failed"

    async def test_an_invalid_join_is_422_with_pointers(self, runner: Runner) -> None:
        definition = self.branches({"join": "any_success"})
        definition["steps"][0]["join"] = "all_done"
        response = await runner.post("/api/v1/workflows", {"name": "t", "definition": definition})
        assert response.status_code == 422, response.text
        problems = {e["pointer"]: e for e in response.json()["errors"]}
        assert problems["/definition/steps/2/join"]["code"] == "invalid_join"
        assert "did you mean 'any_succeeded'" in problems["/definition/steps/2/join"]["detail"]
        assert problems["/definition/steps/0/join"]["code"] == "join_requires_depends_on"


class TestLoopState:
    async def test_until_sees_the_iteration_index_and_the_previous_output(
        self, runner: Runner
    ) -> None:
        definition = {
            "steps": [
                {
                    "id": "acc",
                    "type": "transform",
                    "with": {
                        "index": "{{ loop.index }}",
                        "total": "{{ (loop.previous.total if loop.previous else 0) + 5 }}",
                        "first": "{{ loop.previous is none }}",
                    },
                    "until": "{{ output.total >= 15 and loop.index == 2 }}",
                    "interval": "10ms",
                    "max_iterations": 5,
                }
            ]
        }
        execution = await runner.run(definition)
        assert execution["status"] == "completed", execution
        assert steps_by_id(execution)["acc"]["output"] == {
            "index": 2,
            "total": 15,
            "first": False,
        }

    async def test_loop_outside_until_is_refused_at_save_time(self, runner: Runner) -> None:
        definition = {
            "steps": [{"id": "a", "type": "transform", "with": {"i": "{{ loop.index }}"}}]
        }
        response = await runner.post("/api/v1/workflows", {"name": "t", "definition": definition})
        assert response.status_code == 422, response.text
        [problem] = response.json()["errors"]
        assert (problem["pointer"], problem["code"]) == (
            "/definition/steps/0/with/i",
            "loop_outside_until",
        )


class TestHttpPagination:
    async def test_next_url_pages_are_followed_and_items_concatenated(
        self, runner: Runner, target: TargetServer
    ) -> None:
        definition = {
            "steps": [
                {
                    "id": "list",
                    "type": "http",
                    "with": {
                        "url": target.url("/pages"),
                        "paginate": {
                            "next_url": "response.body.next",
                            "items": "response.body.data",
                        },
                    },
                }
            ]
        }
        execution = await runner.run(definition)
        output = steps_by_id(execution)["list"]["output"]
        assert output["body"] == [11, 12, 21, 22, 31, 32]
        assert (output["pages"], output["complete"], output["status"]) == (3, True, 200)

    async def test_a_cursor_is_sent_as_a_query_parameter_up_to_max_pages(
        self, runner: Runner, target: TargetServer
    ) -> None:
        definition = {
            "steps": [
                {
                    "id": "list",
                    "type": "http",
                    "with": {
                        "url": target.url("/cursor"),
                        "paginate": {
                            "cursor": "response.body.meta.next_cursor",
                            "cursor_param": "after",
                            "items": "response.body['items']",
                            "max_pages": 2,
                        },
                    },
                }
            ]
        }
        execution = await runner.run(definition)
        output = steps_by_id(execution)["list"]["output"]
        assert [item["id"] for item in output["body"]] == [1, 2, 3, 4]
        assert (output["pages"], output["complete"]) == (2, False)

    async def test_a_next_url_on_another_origin_is_refused(
        self, runner: Runner, target: TargetServer
    ) -> None:
        # A hostile API sends the client (with the step's headers) to another host.
        away = target.url("/echo").replace("127.0.0.1", "localhost")
        definition = {
            "steps": [
                {
                    "id": "list",
                    "type": "http",
                    "with": {
                        "url": target.url("/pages"),
                        "query": {"away": away},
                        "headers": {"X-Api-Key": "k-123"},
                        "paginate": {
                            "next_url": "response.body.next",
                            "items": "response.body.data",
                        },
                    },
                }
            ]
        }
        before = target.calls["/echo"]
        execution = await runner.run(definition)
        step = steps_by_id(execution)["list"]
        assert step["status"] == "failed"
        assert "another origin" in step["error"]
        assert target.calls["/echo"] == before

    async def test_a_template_in_paginate_is_refused_at_save_time(
        self, runner: Runner, target: TargetServer
    ) -> None:
        paginate = {"next_url": "{{ response.body.next }}"}
        definition = {
            "steps": [
                {
                    "id": "l",
                    "type": "http",
                    "with": {"url": target.url("/pages"), "paginate": paginate},
                }
            ]
        }
        response = await runner.post("/api/v1/workflows", {"name": "t", "definition": definition})
        assert response.status_code == 422, response.text
        [problem] = response.json()["errors"]
        assert problem["pointer"] == "/definition/steps/0/with/paginate/next_url"
        assert "bare expression" in problem["detail"]


class TestClockAndTrigger:
    async def test_templates_read_the_start_time_now_and_date_filters(self, runner: Runner) -> None:
        definition = {
            "steps": [
                {
                    "id": "when",
                    "type": "transform",
                    "with": {
                        "started": "{{ execution.started_at }}",
                        "day": "{{ execution.started_at | date_format('%Y-%m-%d') }}",
                        "tomorrow": "{{ execution.started_at | date_add('1d') }}",
                        "hour_ago": "{{ execution.started_at | date_sub('PT1H') }}",
                        "now_is_later": "{{ now() | timestamp >= execution.started_at | timestamp }}",
                        "trigger": "{{ trigger }}",
                    },
                }
            ]
        }
        execution = await runner.run(definition)
        assert execution["status"] == "completed", execution
        output = steps_by_id(execution)["when"]["output"]
        started = datetime.fromisoformat(output["started"])
        assert started.tzinfo is not None and output["started"].endswith("Z")
        assert abs(started - datetime.fromisoformat(execution["started_at"])) < timedelta(minutes=1)
        assert output["day"] == started.strftime("%Y-%m-%d")
        assert datetime.fromisoformat(output["tomorrow"]) - started == timedelta(days=1)
        assert started - datetime.fromisoformat(output["hour_ago"]) == timedelta(hours=1)
        assert output["now_is_later"] is True
        assert output["trigger"] == {"type": "manual", "id": None, "scheduled_at": None}

    async def test_a_webhook_run_sees_its_trigger_type(self, runner: Runner) -> None:
        definition = {
            "steps": [{"id": "t", "type": "transform", "with": {"by": "{{ trigger.type }}"}}]
        }
        workflow_id = await runner.create(definition)
        created = await runner.post(
            "/api/v1/webhooks",
            {"workflow_id": workflow_id, "authentication": {"type": "none"}},
        )
        assert created.status_code == 201, created.text
        path = created.json()["url_path"]
        response = await runner.client.post(f"/hooks/{path}?wait=true", json={})
        assert response.status_code == 200, response.text
        execution = await runner.execution(response.json()["execution_id"])
        assert steps_by_id(execution)["t"]["output"] == {"by": "webhook"}

    async def test_an_unknown_trigger_field_is_refused_at_save_time(self, runner: Runner) -> None:
        definition = {
            "steps": [{"id": "t", "type": "transform", "with": {"at": "{{ trigger.scheduled }}"}}]
        }
        response = await runner.post("/api/v1/workflows", {"name": "t", "definition": definition})
        assert response.status_code == 422, response.text
        [problem] = response.json()["errors"]
        assert problem["code"] == "unknown_field_reference"
        assert "did you mean 'scheduled_at'" in problem["detail"]
