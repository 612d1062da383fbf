"""Definition v1: the models, and validation reporting every problem with pointer and code."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter

from temporal_workflows.definition import (
    DEFAULT_MAX_ITERATIONS,
    STEP_TYPES,
    StepDefinition,
    WorkflowDefinition,
    is_pure,
)
from temporal_workflows.step_types import HttpWith, parse_with
from temporal_workflows.validation import (
    DefinitionInvalid,
    DefinitionProblem,
    definition_problems,
    validate_definition,
    validate_input,
)

CONTRACT_EXAMPLE: dict[str, Any] = {
    "input_schema": {"type": "object", "required": ["user_id"]},
    "variables": {"base": "https://api.example.com"},
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


def steps(*items: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"steps": list(items), **extra}


def log(step_id: str, message: str = "hi", **fields: Any) -> dict[str, Any]:
    return {"id": step_id, "type": "log", "with": {"message": message}, **fields}


def problems_of(raw: object) -> list[tuple[str, str]]:
    return [(p.pointer, p.code) for p in definition_problems(raw)]


def the_problem(raw: object) -> DefinitionProblem:
    found = definition_problems(raw)
    assert len(found) == 1, found
    return found[0]


class TestHappyPath:
    def test_contract_example(self) -> None:
        definition = validate_definition(CONTRACT_EXAMPLE)
        assert [s.id for s in definition.steps] == ["user", "vip"]
        assert definition.steps[0].with_["method"] == "GET"
        assert definition.steps[0].retry is not None
        assert definition.steps[0].retry.max_attempts == 5
        assert definition.topological_order() == ["user", "vip"]
        assert set(definition.step_map()) == {"user", "vip"}

    @pytest.mark.parametrize(
        "step",
        [
            {"type": "http", "with": {"url": "https://x.test", "json": {"a": 1}}},
            {"type": "http", "with": {"method": "post", "url": "https://x.test", "form": {"a": 1}}},
            {
                "type": "http",
                "with": {
                    "url": "https://x.test/{{ input.id }}",
                    "headers": {"X-Id": "{{ input.id }}"},
                    "query": {"page": 1, "tags": ["a", "b"]},
                    "body": "raw",
                    "auth": {"type": "basic", "username": "u", "password": "{{ secrets.pw }}"},
                    "expect_status": [404, "{{ vars.extra }}"],
                    "timeout": "5s",
                    "follow_redirects": False,
                },
            },
            {"type": "http", "with": {"connection": "crm", "path": "/users"}},
            {"type": "transform", "with": {"anything": ["goes", {"here": 1}]}},
            {"type": "sleep", "with": {"duration": "5m"}},
            {"type": "sleep", "with": {"until": "2030-01-01T00:00:00Z"}},
            {"type": "sleep", "with": {"duration": "{{ vars.wait }}"}},
            {"type": "wait_for_event", "with": {"event": "payment", "timeout": "1d"}},
            {"type": "approval", "with": {"approvers": ["a@x.test"], "timeout": "P1D"}},
            {"type": "approval", "with": {"approvers": "{{ vars.approvers }}", "message": "ok?"}},
            {"type": "workflow", "with": {"workflow_id": "wf-2", "input": {"a": 1}, "version": 3}},
            {"type": "n8n", "with": {"webhook_url": "https://n8n.test/webhook/x", "payload": {}}},
            {"type": "n8n", "with": {"workflow_id": "42", "integration": "main"}},
            {"type": "storage", "with": {"op": "put", "key": "a.json", "content": {"a": 1}}},
            {"type": "storage", "with": {"op": "get", "key": "a.json"}},
            {"type": "storage", "with": {"op": "list"}},
            {"type": "log", "with": {"message": "{{ input }}", "level": "warning"}},
            {"type": "fail", "with": {"message": "no", "error_type": "Business.Refused"}},
            {
                "type": "code",
                "with": {"language": "javascript", "code": "return input", "input": 1},
            },
            {
                "type": "llm",
                "with": {
                    "connection": "ai",
                    "messages": [{"role": "user", "content": "{{ input.q }}"}],
                    "response_schema": {"type": "object"},
                },
            },
            {
                "type": "agent",
                "with": {
                    "connection": "ai",
                    "model": "gpt-4o-mini",
                    "messages": "{{ input.messages }}",
                    "tools": [
                        {"name": "w", "workflow_id": "wf-2"},
                        {"name": "h", "http": {"url": "https://x.test/{{ args.q }}"}},
                    ],
                    "max_turns": 5,
                    "max_total_tokens": 10000,
                    "time_limit": "2m",
                },
            },
        ],
    )
    def test_every_step_type(self, step: dict[str, Any]) -> None:
        assert definition_problems(steps({"id": "s", **step})) == []

    def test_every_type_is_covered(self) -> None:
        assert set(STEP_TYPES) == {
            "http", "transform", "sleep", "wait_for_event", "approval",
            "workflow", "n8n", "storage", "log", "fail", "code", "llm", "agent",
        }  # fmt: skip

    def test_branches_error_handler_and_join(self) -> None:
        raw = steps(
            {"id": "a", "type": "http", "with": {"url": "https://a.test"}, "on_error": "continue"},
            {"id": "b", "type": "http", "with": {"url": "https://b.test"}, "on_error": "continue"},
            log("handler", depends_on=["a"], when="{{ steps.a.status == 'failed' }}"),
            log(
                "join",
                depends_on=["a", "b"],
                when="steps.a.status == 'completed' or steps.b.status == 'completed'",
            ),
        )
        assert definition_problems(raw) == []

    def test_fan_out_with_loop_until(self) -> None:
        raw = steps(
            {
                "id": "each",
                "type": "http",
                "foreach": "{{ input.urls }}",
                "concurrency": 4,
                "with": {"url": "{{ item }}", "headers": {"X-Index": "{{ index }}"}},
                "until": "{{ output.status == 200 and item != '' }}",
                "interval": "30s",
                "max_iterations": 10,
            }
        )
        assert definition_problems(raw) == []

    def test_foreach_literal_list(self) -> None:
        assert (
            definition_problems(steps(log("s", "{{ item }}", foreach=[1, "{{ input.x }}"]))) == []
        )

    def test_transitive_upstream_may_be_referenced(self) -> None:
        raw = steps(
            log("a"), log("b", depends_on=["a"]), log("c", "{{ steps.a.output }}", depends_on=["b"])
        )
        assert definition_problems(raw) == []

    def test_output_may_reference_any_step(self) -> None:
        raw = steps(log("a"), log("b"), output={"x": "{{ steps.a.output }}{{ steps.b.status }}"})
        assert definition_problems(raw) == []

    def test_compensation(self) -> None:
        raw = steps(
            {
                "id": "charge",
                "type": "http",
                "with": {"url": "https://pay.test", "method": "POST"},
                "compensate": {
                    "type": "http",
                    "with": {
                        "url": "https://pay.test/{{ steps.charge.output.body.id }}",
                        "method": "DELETE",
                        "headers": {"Authorization": "Bearer {{ secrets.pay }}"},
                    },
                    "retry": {"max_attempts": 10},
                    "timeout": "30s",
                },
            }
        )
        definition = validate_definition(raw)
        assert definition.steps[0].compensate is not None
        assert definition.steps[0].compensate.with_["method"] == "DELETE"

    def test_defaults(self) -> None:
        step = validate_definition(steps(log("a"))).steps[0]
        assert (step.on_error, step.depends_on, step.retry, step.max_iterations) == (
            "fail", [], None, None
        )  # fmt: skip
        assert step.effective_max_iterations == DEFAULT_MAX_ITERATIONS

    def test_with_alias_and_field_name(self) -> None:
        by_name = StepDefinition(id="a", type="log", with_={"message": "m"})
        by_alias = StepDefinition.model_validate(
            {"id": "a", "type": "log", "with": {"message": "m"}}
        )
        assert by_name == by_alias
        assert by_alias.model_dump(by_alias=True)["with"] == {"message": "m"}

    def test_models_are_frozen(self) -> None:
        definition = validate_definition(CONTRACT_EXAMPLE)
        with pytest.raises(ValueError, match="frozen"):
            definition.steps[0].id = "other"  # type: ignore[misc]


class TestDataConverterRoundTrip:
    def test_definition_round_trips(self) -> None:
        raw = copy.deepcopy(CONTRACT_EXAMPLE)
        raw["steps"].append(
            {
                "id": "fan",
                "type": "http",
                "depends_on": ["vip"],
                "foreach": ["a", "b"],
                "concurrency": 2,
                "with": {"url": "https://x.test/{{ item }}", "json": None},
                "compensate": {"type": "log", "with": {"message": "undo"}},
                "on_error": "park",
            }
        )
        definition = validate_definition(raw)
        converter = pydantic_data_converter.payload_converter
        payloads = converter.to_payloads([definition])
        [restored] = converter.from_payloads(payloads, [WorkflowDefinition])
        assert restored == definition
        assert restored.steps[2].with_ == {"url": "https://x.test/{{ item }}", "json": None}


class TestPurity:
    @pytest.mark.parametrize(
        ("step_type", "pure"),
        [
            ("transform", True),
            ("log", True),
            ("fail", True),
            ("sleep", True),
            ("wait_for_event", True),
            ("approval", True),
            ("http", False),
            ("n8n", False),
            ("storage", False),
            ("workflow", False),
        ],
    )
    def test_is_pure(self, step_type: str, pure: bool) -> None:
        assert is_pure(step_type) is pure


class TestDocumentShape:
    def test_not_an_object(self) -> None:
        assert problems_of([1]) == [("", "invalid_type")]

    def test_steps_required(self) -> None:
        assert problems_of({}) == [("/steps", "missing_field")]

    def test_at_least_one_step(self) -> None:
        problem = the_problem({"steps": []})
        assert (problem.pointer, problem.code) == ("/steps", "invalid_value")

    def test_unknown_top_level_field(self) -> None:
        problem = the_problem(steps(log("a"), outputs={}))
        assert (problem.pointer, problem.code) == ("/outputs", "unknown_field")
        assert problem.message == "unknown field 'outputs'; did you mean 'output'?"

    def test_unknown_step_field_suggests(self) -> None:
        problem = the_problem(steps(log("a", dependsOn=[])))
        assert (problem.pointer, problem.code) == ("/steps/0/dependsOn", "unknown_field")
        assert "did you mean 'depends_on'?" in problem.message

    def test_step_missing_id_and_type(self) -> None:
        assert problems_of(steps({"with": {}})) == [
            ("/steps/0/id", "missing_field"),
            ("/steps/0/type", "missing_field"),
        ]

    @pytest.mark.parametrize(
        ("field", "value", "pointer"),
        [
            ("depends_on", "a", "/steps/0/depends_on"),
            ("with", [1], "/steps/0/with"),
            ("when", True, "/steps/0/when"),
            ("retry", "3", "/steps/0/retry"),
            ("foreach", 5, "/steps/0/foreach"),
            ("concurrency", "x", "/steps/0/concurrency"),
        ],
    )
    def test_wrong_types(self, field: str, value: Any, pointer: str) -> None:
        assert (pointer, "invalid_type") in problems_of(steps({**log("a"), field: value}))

    def test_pointer_escaping(self) -> None:
        raw = steps({"id": "a", "type": "transform", "with": {"a/b~c": "{{ x + }}"}})
        assert problems_of(raw) == [("/steps/0/with/a~1b~0c", "template_syntax")]


class TestStepTypes:
    def test_unknown_type_lists_valid_types(self) -> None:
        problem = the_problem(steps({"id": "a", "type": "htp"}))
        assert (problem.pointer, problem.code) == ("/steps/0/type", "unknown_step_type")
        assert problem.message == (
            "unknown step type 'htp'; valid types: http, transform, sleep, wait_for_event, "
            "approval, workflow, n8n, storage, log, fail, code, llm, agent"
        )

    def test_unknown_compensation_type(self) -> None:
        raw = steps(log("a", compensate={"type": "nope"}))
        assert problems_of(raw) == [("/steps/0/compensate/type", "unknown_step_type")]


class TestIds:
    @pytest.mark.parametrize("bad", ["9a", "a b", "a.b", "", "é"])
    def test_invalid_id(self, bad: str) -> None:
        problem = the_problem(steps(log(bad)))
        assert (problem.pointer, problem.code) == ("/steps/0/id", "invalid_id")
        assert problem.message.startswith(f"step id {bad!r} must start with a letter or '_'")

    @pytest.mark.parametrize("good", ["a", "_a", "A-1", "fetch_user-2"])
    def test_valid_id(self, good: str) -> None:
        assert definition_problems(steps(log(good))) == []

    def test_duplicate_points_at_the_second(self) -> None:
        problem = the_problem(steps(log("a"), log("b"), log("a")))
        assert (problem.pointer, problem.code) == ("/steps/2/id", "duplicate_id")
        assert problem.message == "duplicate step id 'a' (already used by /steps/0)"


class TestDependencies:
    def test_unknown_dependency(self) -> None:
        problem = the_problem(steps(log("user"), log("b", depends_on=["user", "usr"])))
        assert (problem.pointer, problem.code) == ("/steps/1/depends_on/1", "unknown_dependency")
        assert problem.message == "there is no step 'usr'; did you mean 'user'?"

    def test_self_dependency(self) -> None:
        problem = the_problem(steps(log("a", depends_on=["a"])))
        assert (problem.pointer, problem.code) == ("/steps/0/depends_on/0", "self_dependency")

    def test_duplicate_dependency(self) -> None:
        raw = steps(log("a"), log("b", depends_on=["a", "a"]))
        assert problems_of(raw) == [("/steps/1/depends_on/1", "duplicate_dependency")]


class TestCycles:
    def test_two_steps(self) -> None:
        problem = the_problem(steps(log("a", depends_on=["b"]), log("b", depends_on=["a"])))
        assert (problem.pointer, problem.code) == ("/steps/1/depends_on/0", "cycle")
        assert problem.message == "dependency cycle: a → b → a"

    def test_three_steps_behind_a_root(self) -> None:
        raw = steps(
            log("root"),
            log("a", depends_on=["root", "c"]),
            log("b", depends_on=["a"]),
            log("c", depends_on=["b"]),
        )
        problem = the_problem(raw)
        assert (problem.pointer, problem.code) == ("/steps/2/depends_on/0", "cycle")
        assert problem.message == "dependency cycle: a → c → b → a"

    def test_each_cycle_reported(self) -> None:
        raw = steps(
            log("a", depends_on=["b"]),
            log("b", depends_on=["a"]),
            log("c", depends_on=["d"]),
            log("d", depends_on=["c"]),
        )
        assert problems_of(raw) == [
            ("/steps/1/depends_on/0", "cycle"),
            ("/steps/3/depends_on/0", "cycle"),
        ]

    def test_topological_order_refuses_a_cycle_built_directly(self) -> None:
        definition = WorkflowDefinition.model_validate(
            steps(log("a", depends_on=["b"]), log("b", depends_on=["a"]))
        )
        with pytest.raises(ValueError, match="cycle"):
            definition.topological_order()

    def test_topological_order_keeps_document_order_among_ready_steps(self) -> None:
        definition = validate_definition(
            steps(log("z"), log("y", depends_on=["x"]), log("x"), log("w", depends_on=["z"]))
        )
        assert definition.topological_order() == ["z", "x", "y", "w"]


class TestTemplateReferences:
    @pytest.mark.parametrize(
        ("field", "value", "pointer"),
        [
            ("with", {"message": "{{ a + }}"}, "/steps/0/with/message"),
            ("when", "{{ a + }}", "/steps/0/when"),
            ("when", "a +", "/steps/0/when"),
            ("when", "{{ a }} and {{ b }}", "/steps/0/when"),
            ("foreach", "{{ [1, }}", "/steps/0/foreach"),
            ("until", "{{ output. }}", "/steps/0/until"),
        ],
    )
    def test_syntax(self, field: str, value: Any, pointer: str) -> None:
        raw = steps({**log("a"), field: value, **({"interval": "1s"} if field == "until" else {})})
        assert (pointer, "template_syntax") in problems_of(raw)

    def test_output_syntax(self) -> None:
        assert problems_of(steps(log("a"), output="{{ steps.a.output | nofilter }}")) == [
            ("/output", "template_syntax")
        ]

    def test_step_not_upstream(self) -> None:
        problem = the_problem(steps(log("a"), log("b", "{{ steps.a.output }}")))
        assert (problem.pointer, problem.code) == ("/steps/1/with/message", "step_not_upstream")
        assert problem.message.startswith("step 'a' is not upstream of this step")

    def test_downstream_step_is_not_upstream(self) -> None:
        raw = steps(log("a", when="steps.b.status == 'completed'"), log("b", depends_on=["a"]))
        assert problems_of(raw) == [("/steps/0/when", "step_not_upstream")]

    def test_self_reference_is_not_upstream(self) -> None:
        raw = steps(log("a", "{{ steps['a'].output }}"))
        assert problems_of(raw) == [("/steps/0/with/message", "step_not_upstream")]

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("with", {"message": "{{ steps.ghost.output }}"}),
            ("when", "{{ steps.ghost.status == 'failed' }}"),
            ("foreach", "{{ steps.ghost.output }}"),
        ],
    )
    def test_unknown_step_reference(self, field: str, value: Any) -> None:
        problem = the_problem(steps({**log("a"), field: value}))
        assert (problem.pointer, problem.code) == (
            f"/steps/0/{field}" + ("/message" if field == "with" else ""),
            "unknown_step_reference",
        )

    def test_unknown_step_in_output(self) -> None:
        assert problems_of(steps(log("a"), output={"x": "{{ steps.b.output }}"})) == [
            ("/output/x", "unknown_step_reference")
        ]

    def test_dynamic_step_reference(self) -> None:
        raw = steps(log("a"), log("b", "{{ steps[input.which].output }}", depends_on=["a"]))
        assert problems_of(raw) == [("/steps/1/with/message", "dynamic_step_reference")]

    def test_unknown_name(self) -> None:
        problem = the_problem(steps(log("a", "{{ inputs.x }}")))
        assert (problem.pointer, problem.code) == ("/steps/0/with/message", "unknown_name")
        assert problem.message.startswith("unknown name 'inputs'")

    @pytest.mark.parametrize("name", ["item", "index"])
    def test_item_outside_foreach(self, name: str) -> None:
        problem = the_problem(steps(log("a", f"{{{{ {name} }}}}")))
        assert (problem.pointer, problem.code) == ("/steps/0/with/message", "item_outside_foreach")

    def test_item_not_in_foreach_expression_itself(self) -> None:
        raw = steps(log("a", foreach="{{ item }}"))
        assert problems_of(raw) == [("/steps/0/foreach", "item_outside_foreach")]

    def test_item_not_in_when(self) -> None:
        raw = steps(log("a", foreach=[1], when="item > 1"))
        assert problems_of(raw) == [("/steps/0/when", "item_outside_foreach")]

    @pytest.mark.parametrize("field", ["with", "when"])
    def test_output_outside_until(self, field: str) -> None:
        value = {"message": "{{ output }}"} if field == "with" else "{{ output }}"
        pointer = "/steps/0/with/message" if field == "with" else "/steps/0/when"
        assert problems_of(steps({**log("a"), field: value})) == [(pointer, "output_outside_until")]

    def test_output_name_not_in_workflow_output(self) -> None:
        assert problems_of(steps(log("a"), output="{{ output }}")) == [
            ("/output", "output_outside_until")
        ]

    def test_secrets_not_in_pure_steps(self) -> None:
        problem = the_problem(steps(log("a", "{{ secrets.token }}")))
        assert (problem.pointer, problem.code) == ("/steps/0/with/message", "secret_not_allowed")

    def test_secrets_not_in_conditions(self) -> None:
        raw = steps(
            {"id": "a", "type": "http", "with": {"url": "https://x.test"}, "when": "secrets.x"}
        )
        assert problems_of(raw) == [("/steps/0/when", "secret_not_allowed")]

    def test_secrets_in_http_with(self) -> None:
        raw = steps(
            {"id": "a", "type": "http", "with": {"url": "https://x.test?k={{ secrets.k }}"}}
        )
        assert definition_problems(raw) == []

    def test_compensation_may_use_its_own_step(self) -> None:
        raw = steps(
            log("a"),
            log(
                "b",
                depends_on=["a"],
                compensate={
                    "type": "log",
                    "with": {"message": "{{ steps.b.output }} {{ steps.a.status }}"},
                },
            ),
        )
        assert definition_problems(raw) == []


class TestDurations:
    @pytest.mark.parametrize(
        ("raw", "pointer"),
        [
            (steps(log("a", timeout="10x")), "/steps/0/timeout"),
            (steps(log("a", until="output", interval="often")), "/steps/0/interval"),
            (
                steps(log("a", retry={"initial_interval": "1 sec"})),
                "/steps/0/retry/initial_interval",
            ),
            (steps(log("a", retry={"max_interval": "P1M"})), "/steps/0/retry/max_interval"),
            (
                steps({"id": "a", "type": "sleep", "with": {"duration": "soon"}}),
                "/steps/0/with/duration",
            ),
            (
                steps(
                    {"id": "a", "type": "wait_for_event", "with": {"event": "e", "timeout": "1y"}}
                ),
                "/steps/0/with/timeout",
            ),
            (
                steps({"id": "a", "type": "approval", "with": {"timeout": "x"}}),
                "/steps/0/with/timeout",
            ),
            (
                steps(
                    {"id": "a", "type": "http", "with": {"url": "https://x.test", "timeout": "5"}}
                ),
                "/steps/0/with/timeout",
            ),
            (
                steps(
                    log("a", compensate={"type": "log", "with": {"message": "m"}, "timeout": "q"})
                ),
                "/steps/0/compensate/timeout",
            ),
        ],
    )
    def test_bad_duration(self, raw: dict[str, Any], pointer: str) -> None:
        assert (pointer, "invalid_duration") in problems_of(raw)

    def test_zero_timeout_refused(self) -> None:
        problem = the_problem(steps(log("a", timeout="0s")))
        assert (problem.pointer, problem.code) == ("/steps/0/timeout", "invalid_duration")
        assert problem.message == "the duration must be longer than zero"

    def test_iso_and_short_forms_accepted(self) -> None:
        assert definition_problems(steps(log("a", timeout="PT5M"), log("b", timeout="1h30m"))) == []


class TestRetry:
    def test_sanity(self) -> None:
        raw = steps(
            log(
                "a",
                retry={
                    "max_attempts": 0,
                    "backoff_coefficient": 0.5,
                    "initial_interval": "10s",
                    "max_interval": "1s",
                },
            )
        )
        assert problems_of(raw) == [
            ("/steps/0/retry/backoff_coefficient", "invalid_value"),
            ("/steps/0/retry/max_attempts", "invalid_value"),
            ("/steps/0/retry/max_interval", "invalid_retry"),
        ]

    def test_max_interval_against_default_initial(self) -> None:
        raw = steps(log("a", retry={"max_interval": "500ms"}))
        assert problems_of(raw) == [("/steps/0/retry/max_interval", "invalid_retry")]

    def test_unknown_retry_field(self) -> None:
        problem = the_problem(steps(log("a", retry={"attempts": 3})))
        assert (problem.pointer, problem.code) == ("/steps/0/retry/attempts", "unknown_field")
        assert "did you mean 'max_attempts'?" in problem.message

    def test_defaults(self) -> None:
        step = validate_definition(steps(log("a", retry={}))).steps[0]
        assert step.retry is not None
        assert (step.retry.max_attempts, step.retry.initial_interval) == (3, "1s")
        assert (step.retry.backoff_coefficient, step.retry.max_interval) == (2.0, None)


class TestFieldRules:
    def test_until_requires_interval(self) -> None:
        assert problems_of(steps(log("a", until="output.ok"))) == [
            ("/steps/0/until", "until_requires_interval")
        ]

    @pytest.mark.parametrize(("field", "value"), [("interval", "5s"), ("max_iterations", 3)])
    def test_requires_until(self, field: str, value: Any) -> None:
        assert problems_of(steps(log("a", **{field: value}))) == [
            (f"/steps/0/{field}", "requires_until")
        ]

    def test_concurrency_requires_foreach(self) -> None:
        assert problems_of(steps(log("a", concurrency=2))) == [
            ("/steps/0/concurrency", "concurrency_requires_foreach")
        ]

    @pytest.mark.parametrize("local", [True, False])
    def test_local_applies_only_to_steps_that_are_one_activity(self, local: bool) -> None:
        assert problems_of(steps(log("a", local=local))) == [
            ("/steps/0/local", "local_not_applicable")
        ]
        http = {"id": "b", "type": "http", "local": local, "with": {"url": "https://x.test"}}
        assert problems_of(steps(http)) == []

    @pytest.mark.parametrize(
        ("field", "value"), [("concurrency", 0), ("max_iterations", 0), ("max_iterations", 10_001)]
    )
    def test_ranges(self, field: str, value: int) -> None:
        extra: dict[str, Any] = {field: value}
        raw = steps(log("a", foreach=[1], until="output", interval="1s", **extra))
        assert problems_of(raw) == [(f"/steps/0/{field}", "invalid_value")]

    def test_on_error_values(self) -> None:
        assert problems_of(steps(log("a", on_error="ignore"))) == [
            ("/steps/0/on_error", "invalid_value")
        ]


class TestWithOfEachType:
    @pytest.mark.parametrize(
        ("step", "pointer", "code"),
        [
            ({"type": "http", "with": {}}, "/steps/0/with/url", "missing_field"),
            ({"type": "http", "with": {"url": "ftp://x"}}, "/steps/0/with/url", "invalid_url"),
            (
                {"type": "http", "with": {"url": "https://x.test", "json": {}, "body": "b"}},
                "/steps/0/with/body",
                "conflicting_fields",
            ),
            (
                {"type": "http", "with": {"url": "https://x.test", "json": [], "form": {}}},
                "/steps/0/with/form",
                "conflicting_fields",
            ),
            (
                {"type": "http", "with": {"url": "https://x.test", "connection": "c"}},
                "/steps/0/with/connection",
                "conflicting_fields",
            ),
            (
                {"type": "http", "with": {"url": "https://x.test", "path": "/p"}},
                "/steps/0/with/path",
                "conflicting_fields",
            ),
            (
                {"type": "http", "with": {"url": "https://x.test", "method": "FETCH"}},
                "/steps/0/with/method",
                "invalid_value",
            ),
            (
                {"type": "http", "with": {"url": "https://x.test", "expect_status": [600]}},
                "/steps/0/with/expect_status/0",
                "invalid_value",
            ),
            (
                {"type": "http", "with": {"url": "https://x.test", "expect_status": 404}},
                "/steps/0/with/expect_status",
                "invalid_type",
            ),
            (
                {"type": "http", "with": {"url": "https://x.test", "headers": {"a": {}}}},
                "/steps/0/with/headers/a",
                "invalid_type",
            ),
            (
                {"type": "http", "with": {"url": "https://x.test", "auth": {"type": "bearer"}}},
                "/steps/0/with/auth/token",
                "missing_field",
            ),
            (
                {
                    "type": "http",
                    "with": {
                        "url": "https://x.test",
                        "auth": {"type": "basic", "username": "u", "password": "p", "token": "t"},
                    },
                },
                "/steps/0/with/auth/token",
                "conflicting_fields",
            ),
            (
                {"type": "http", "with": {"url": "https://x.test", "auth": {"type": "digest"}}},
                "/steps/0/with/auth/type",
                "invalid_value",
            ),
            (
                {"type": "http", "with": {"url": "https://x.test", "data": "x"}},
                "/steps/0/with/data",
                "unknown_field",
            ),
            ({"type": "sleep", "with": {}}, "/steps/0/with/duration", "missing_field"),
            (
                {"type": "sleep", "with": {"duration": "1s", "until": "2030-01-01T00:00:00Z"}},
                "/steps/0/with/until",
                "conflicting_fields",
            ),
            (
                {"type": "sleep", "with": {"until": "2030-01-01T00:00:00"}},
                "/steps/0/with/until",
                "invalid_timestamp",
            ),
            ({"type": "wait_for_event", "with": {}}, "/steps/0/with/event", "missing_field"),
            (
                {"type": "approval", "with": {"approvers": "bob"}},
                "/steps/0/with/approvers",
                "invalid_type",
            ),
            (
                {"type": "workflow", "with": {"workflow_id": "w", "version": 0}},
                "/steps/0/with/version",
                "invalid_value",
            ),
            ({"type": "n8n", "with": {}}, "/steps/0/with/webhook_url", "missing_field"),
            (
                {"type": "n8n", "with": {"webhook_url": "https://n.test", "workflow_id": "1"}},
                "/steps/0/with/workflow_id",
                "conflicting_fields",
            ),
            (
                {"type": "storage", "with": {"op": "put", "key": "k"}},
                "/steps/0/with/content",
                "missing_field",
            ),
            ({"type": "storage", "with": {"op": "get"}}, "/steps/0/with/key", "missing_field"),
            (
                {"type": "storage", "with": {"op": "get", "key": "k", "content": 1}},
                "/steps/0/with/content",
                "conflicting_fields",
            ),
            (
                {"type": "storage", "with": {"op": "move", "key": "k"}},
                "/steps/0/with/op",
                "invalid_value",
            ),
            (
                {"type": "log", "with": {"message": "m", "level": "loud"}},
                "/steps/0/with/level",
                "invalid_value",
            ),
            ({"type": "log", "with": {}}, "/steps/0/with/message", "missing_field"),
            (
                {"type": "fail", "with": {"message": "m", "error_type": "bad type"}},
                "/steps/0/with/error_type",
                "invalid_value",
            ),
        ],
    )
    def test_problem(self, step: dict[str, Any], pointer: str, code: str) -> None:
        assert problems_of(steps({"id": "s", **step})) == [(pointer, code)]

    def test_unknown_with_field_lists_allowed(self) -> None:
        problem = the_problem(steps({"id": "s", "type": "sleep", "with": {"seconds": 5}}))
        assert problem.message == "unknown field 'seconds'; allowed: duration, until"

    def test_templates_accepted_for_typed_values(self) -> None:
        parsed = parse_with(
            "http",
            {
                "url": "{{ vars.url }}",
                "method": "{{ vars.method }}",
                "expect_status": "{{ vars.codes }}",
                "follow_redirects": "{{ vars.follow }}",
                "headers": "{{ vars.headers }}",
                "timeout": "{{ vars.t }}",
            },
        )
        assert isinstance(parsed, HttpWith)
        assert parsed.expect_status == "{{ vars.codes }}"

    def test_evaluated_with_checks_too(self) -> None:
        parsed = parse_with(
            "http", {"url": "https://x.test", "method": "post", "expect_status": [404]}
        )
        assert isinstance(parsed, HttpWith)
        assert (parsed.method, parsed.expect_status, parsed.follow_redirects) == (
            "POST",
            [404],
            True,
        )

    def test_json_null_means_no_json_body(self) -> None:
        with_ = {"url": "https://x.test", "json": None, "form": {"a": 1}}
        assert definition_problems(steps({"id": "s", "type": "http", "with": with_})) == []

    def test_transform_with_is_free(self) -> None:
        assert parse_with("transform", {"a": 1}) == {"a": 1}


class TestCompensate:
    def test_fail_step_has_nothing_to_undo(self) -> None:
        raw = steps(
            {
                "id": "f",
                "type": "fail",
                "with": {"message": "m"},
                "compensate": {"type": "log", "with": {"message": "x"}},
            }
        )
        assert problems_of(raw) == [("/steps/0/compensate", "compensate_never_runs")]

    @pytest.mark.parametrize("kind", ["approval", "wait_for_event", "sleep", "fail", "transform"])
    def test_types_that_cannot_compensate(self, kind: str) -> None:
        raw = steps(log("a", compensate={"type": kind}))
        assert ("/steps/0/compensate/type", "invalid_compensate_type") in problems_of(raw)

    def test_compensation_with_is_checked(self) -> None:
        raw = steps(
            log("a", compensate={"type": "http", "with": {"url": "https://x.test", "verb": "x"}})
        )
        assert problems_of(raw) == [("/steps/0/compensate/with/verb", "unknown_field")]

    def test_compensation_retry_sanity(self) -> None:
        raw = steps(
            log(
                "a",
                compensate={
                    "type": "log",
                    "with": {"message": "m"},
                    "retry": {"initial_interval": "1m", "max_interval": "1s"},
                },
            )
        )
        assert problems_of(raw) == [("/steps/0/compensate/retry/max_interval", "invalid_retry")]


class TestInputSchema:
    def test_schema_itself_checked(self) -> None:
        raw = steps(
            log("a"), input_schema={"type": "objekt", "properties": {"n": {"minimum": "0"}}}
        )
        assert problems_of(raw) == [
            ("/input_schema/properties/n/minimum", "invalid_input_schema"),
            ("/input_schema/type", "invalid_input_schema"),
        ]

    def test_schema_must_be_an_object(self) -> None:
        assert problems_of(steps(log("a"), input_schema=[])) == [("/input_schema", "invalid_type")]

    def test_validate_input(self) -> None:
        definition = validate_definition(
            steps(
                log("a"),
                input_schema={
                    "type": "object",
                    "required": ["user_id"],
                    "properties": {
                        "user_id": {"type": "integer"},
                        "tags": {"type": "array", "items": {"type": "string"}},
                    },
                },
            )
        )
        assert validate_input(definition, {"user_id": 1}) == []
        assert validate_input(definition, {"user_id": "x", "tags": ["a", 2]}) == [
            DefinitionProblem("/input_data/tags/1", "2 is not of type 'string'", "invalid_input"),
            DefinitionProblem(
                "/input_data/user_id", "'x' is not of type 'integer'", "invalid_input"
            ),
        ]
        assert validate_input(definition, {}) == [
            DefinitionProblem("/input_data", "'user_id' is a required property", "invalid_input")
        ]

    def test_no_schema_accepts_anything(self) -> None:
        assert validate_input(validate_definition(steps(log("a"))), [1, "x"]) == []


class TestAllProblemsAtOnce:
    def test_many_problems_in_document_order(self) -> None:
        raw = {
            "steps": [
                {"id": "a", "type": "http", "with": {"url": "ftp://x"}, "timeout": "10x"},
                {"id": "b", "type": "transfrom", "depends_on": ["zzz"]},
                log("c", "{{ steps.b.output }}"),
                log("a"),
            ],
            "output": "{{ nope }}",
        }
        assert problems_of(raw) == [
            ("/output", "unknown_name"),
            ("/steps/0/timeout", "invalid_duration"),
            ("/steps/0/with/url", "invalid_url"),
            ("/steps/1/depends_on/0", "unknown_dependency"),
            ("/steps/1/type", "unknown_step_type"),
            ("/steps/2/with/message", "step_not_upstream"),
            ("/steps/3/id", "duplicate_id"),
        ]

    def test_validate_definition_raises_with_every_problem(self) -> None:
        with pytest.raises(DefinitionInvalid) as caught:
            validate_definition(steps(log("a", depends_on=["x"]), log("a")))
        assert [(p.pointer, p.code) for p in caught.value.problems] == [
            ("/steps/0/depends_on/0", "unknown_dependency"),
            ("/steps/1/id", "duplicate_id"),
        ]
        assert str(caught.value) == (
            "invalid definition: /steps/0/depends_on/0: there is no step 'x' (and 1 more)"
        )


class TestLargeDefinitions:
    def test_a_chain_of_500_steps_validates(self) -> None:
        """How long it takes is measured by bench/validation.py, not here."""

        def chain(tag: str) -> dict[str, Any]:
            items = [log("s0")]
            for i in range(1, 500):
                items.append(
                    {
                        "id": f"s{i}",
                        "type": "http" if i % 2 else "transform",
                        "depends_on": [f"s{i - 1}"],
                        "when": f"{{{{ steps.s{i - 1}.status == 'completed{tag}' }}}}",
                        "with": {"url": f"https://x.test/{{{{ steps.s{i - 1}.output.id{tag} }}}}"}
                        if i % 2
                        else {"v": f"{{{{ steps.s{i - 1}.output.n{tag} + {i} }}}}"},
                        "retry": {"max_attempts": 3},
                        "timeout": "10s",
                    }
                )
            return steps(*items, output="{{ steps.s499.output }}")

        assert definition_problems(chain("a")) == []
        broken = chain("b")
        broken["steps"][250]["depends_on"] = ["nope"]
        assert [p.pointer for p in definition_problems(broken)][:1] == ["/steps/250/depends_on/0"]


class TestWorkflowConcurrency:
    """``concurrency``: how many runs of the workflow (per key) run at once."""

    def test_limit_key_and_on_limit(self) -> None:
        model = validate_definition(
            steps(
                log("a"),
                concurrency={
                    "limit": 2,
                    "key": "{{ input.customer }}",
                    "on_limit": "cancel_oldest",
                },
            )
        )
        assert model.concurrency is not None
        assert (model.concurrency.limit, model.concurrency.on_limit) == (2, "cancel_oldest")

    def test_defaults_queue_and_one_group(self) -> None:
        model = validate_definition(steps(log("a"), concurrency={"limit": 1}))
        assert model.concurrency is not None
        assert (model.concurrency.key, model.concurrency.on_limit) == (None, "queue")

    @pytest.mark.parametrize(
        ("concurrency", "problem"),
        [
            ({}, ("/concurrency/limit", "missing_field")),
            ({"limit": 0}, ("/concurrency/limit", "invalid_value")),
            ({"limit": 1001}, ("/concurrency/limit", "invalid_value")),
            ({"limit": "x"}, ("/concurrency/limit", "invalid_type")),
            ({"limit": 1, "on_limit": "drop"}, ("/concurrency/on_limit", "invalid_value")),
            ({"limit": 1, "keys": "x"}, ("/concurrency/keys", "unknown_field")),
            ({"limit": 1, "key": 5}, ("/concurrency/key", "invalid_type")),
            ({"limit": 1, "key": "{{ input. }}"}, ("/concurrency/key", "template_syntax")),
            (3, ("/concurrency", "invalid_type")),
        ],
    )
    def test_invalid_settings_point_at_the_field(
        self, concurrency: Any, problem: tuple[str, str]
    ) -> None:
        assert problem in problems_of(steps(log("a"), concurrency=concurrency))

    @pytest.mark.parametrize("name", ["steps", "secrets", "item"])
    def test_key_is_computed_before_any_step(self, name: str) -> None:
        problem = the_problem(
            steps(log("a"), concurrency={"limit": 1, "key": f"{{{{ {name}.a }}}}"})
        )
        assert (problem.pointer, problem.code) == ("/concurrency/key", "concurrency_key_name")
        assert "before any step runs" in problem.message

    def test_round_trips_through_temporal(self) -> None:
        model = validate_definition(
            steps(log("a"), concurrency={"limit": 3, "key": "{{ vars.k }}"})
        )
        converter = pydantic_data_converter.payload_converter
        payload = converter.to_payloads([model])
        assert converter.from_payloads(payload, [WorkflowDefinition]) == [model]
