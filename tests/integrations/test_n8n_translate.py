"""The translation of n8n workflow exports into Headrace definitions (a pure module)."""

from __future__ import annotations

import copy
import itertools
from typing import Any

import pytest

from api.services.n8n.expressions import ItemRef, ItemResolver, Unavailable, Untranslatable
from api.services.n8n.expressions import translate_value as _translate_value
from api.services.n8n.translate import DELEGATE_STEP, MalformedWorkflow, translate_workflow
from temporal_workflows.expressions import evaluate
from temporal_workflows.validation import validate_definition
from tests.integrations.fake_n8n import load_fixture

CHILD_ID = "5d7c1d2a-0b7e-4f1e-9d8f-6f5d8e9c0a11"


def translate(raw: dict[str, Any], **kwargs: Any) -> Any:
    kwargs.setdefault("workflow_ids", {"wfTotalsChild07": CHILD_ID})
    result = translate_workflow(
        raw, n8n_id=str(raw.get("id", "x")), integration="n8n-main", **kwargs
    )
    validate_definition(result.definition)  # every translation is a valid definition
    return result


def steps(result: Any) -> dict[str, dict[str, Any]]:
    return {s["id"]: s for s in result.definition["steps"]}


def node(name: str, node_type: str, version: float = 1, **parameters: Any) -> dict[str, Any]:
    return {"name": name, "type": node_type, "typeVersion": version, "parameters": parameters}


def chain(*names: str) -> dict[str, Any]:
    return {
        a: {"main": [[{"node": b, "type": "main", "index": 0}]]}
        for a, b in itertools.pairwise(names)
    }


def manual_then(*nodes: dict[str, Any]) -> dict[str, Any]:
    first = node("Start", "n8n-nodes-base.manualTrigger")
    return {
        "id": "w1",
        "name": "inline",
        "nodes": [first, *nodes],
        "connections": chain("Start", *(n["name"] for n in nodes)),
    }


def set_node(name: str, **fields: Any) -> dict[str, Any]:
    assignments = [
        {"id": k, "name": k, "value": v, "type": "number" if isinstance(v, int) else "string"}
        for k, v in fields.items()
    ]
    return node(
        name, "n8n-nodes-base.set", 3.4, assignments={"assignments": assignments}, options={}
    )


class TestWebhookHttpIfSet:
    def test_nodes_become_named_steps_with_their_dependencies(self) -> None:
        result = translate(load_fixture("order_intake"))
        assert result.mode == "translated" and result.reasons == []
        by_id = steps(result)
        assert list(by_id) == ["Get_Customer", "Is_VIP", "VIP_Discount", "Standard"]
        assert by_id["Is_VIP"]["name"] == "Is VIP?"
        assert by_id["VIP_Discount"]["depends_on"] == ["Is_VIP"]

    def test_the_webhook_becomes_a_trigger_and_its_item_the_run_input(self) -> None:
        result = translate(load_fixture("order_intake"))
        assert result.triggers == [
            {
                "type": "webhook",
                "method": "POST",
                "url_path": "orders",
                "authentication": {"type": "none"},
            }
        ]
        request = steps(result)["Get_Customer"]["with"]
        assert request["url"] == "http://target.invalid/users/{{ input.body.user_id }}"
        assert request["timeout"] == "10s"

    def test_if_branches_get_when_conditions_on_the_if_result(self) -> None:
        by_id = steps(translate(load_fixture("order_intake")))
        assert by_id["Is_VIP"]["with"]["result"] == (
            '{{ ((steps.Get_Customer.output.body.tier) == ("vip")) }}'
        )
        assert "and steps.Is_VIP.output.result" in by_id["VIP_Discount"]["when"]
        assert "and not steps.Is_VIP.output.result" in by_id["Standard"]["when"]

    def test_named_node_references_resolve_to_that_nodes_item(self) -> None:
        by_id = steps(translate(load_fixture("order_intake")))
        assert by_id["VIP_Discount"]["with"] == {
            "customer": "{{ steps.Get_Customer.output.body.id }}",
            "discount": 10,
            "order": {"tier": "{{ steps.Get_Customer.output.body.tier }}"},  # dot notation
        }
        assert by_id["Standard"]["with"]["customer"] == "{{ input.body.user_id }}"

    def test_the_result_is_the_item_of_whichever_branch_ran(self) -> None:
        result = translate(load_fixture("order_intake"))
        context = {
            "steps": {
                "VIP_Discount": {"status": "skipped", "output": None},
                "Standard": {"status": "completed", "output": {"discount": 0}},
            }
        }
        assert evaluate(result.definition["output"], context) == {"discount": 0}

    def test_http_requests_try_once_unless_n8n_retries(self) -> None:
        assert steps(translate(load_fixture("order_intake")))["Get_Customer"]["retry"] == {
            "max_attempts": 1
        }


class TestErrorSettings:
    def test_retry_on_fail_becomes_a_fixed_interval_retry(self) -> None:
        flaky = steps(translate(load_fixture("resilient_calls")))["Flaky_call"]
        assert flaky["retry"] == {
            "max_attempts": 4,
            "initial_interval": "200ms",
            "backoff_coefficient": 1,
        }
        assert flaky["with"]["query"] == {"fail": "2"}
        assert flaky["with"]["json"] == {"key": "{{ input.body.key }}"}

    def test_error_output_routes_to_a_failed_branch(self) -> None:
        by_id = steps(translate(load_fixture("resilient_calls")))
        assert by_id["Optional_lookup"]["on_error"] == "continue"
        # headers are text in n8n: a lone template must not send the number itself
        header = by_id["Optional_lookup"]["with"]["headers"]["X-Calls"]
        assert (
            evaluate(header, {"steps": {"Flaky_call": {"output": {"body": {"calls": 3}}}}}) == "3"
        )
        assert by_id["Found"]["when"] == "{{ steps.Optional_lookup.status == 'completed' }}"
        assert by_id["Fallback"]["when"] == "{{ steps.Optional_lookup.status == 'failed' }}"

    def test_reading_the_error_item_is_untranslatable(self) -> None:
        raw = load_fixture("resilient_calls")
        fallback = next(n for n in raw["nodes"] if n["name"] == "Fallback")
        fallback["parameters"]["assignments"]["assignments"][1]["value"] = "={{ $json.error }}"
        result = translate(raw)
        assert result.mode == "delegate"
        assert any("error item" in r for r in result.reasons)

    def test_continue_regular_output_on_a_leaf_continues(self) -> None:
        http = node("Call", "n8n-nodes-base.httpRequest", 4.2, url="https://example.com/x")
        http["onError"] = "continueRegularOutput"
        assert steps(translate(manual_then(http)))["Call"]["on_error"] == "continue"

    def test_continue_regular_output_feeding_nodes_is_untranslatable(self) -> None:
        http = node("Call", "n8n-nodes-base.httpRequest", 4.2, url="https://example.com/x")
        http["continueOnFail"] = True  # the pre-1.0 spelling
        result = translate(manual_then(http, set_node("After", a=1)))
        assert result.mode == "delegate"
        assert "passes its error on" in result.reasons[0]


def reads_execution(raw: dict[str, Any]) -> dict[str, Any]:
    """``raw`` with its Code node reading ``$execution`` (n8n's own state: no equal)."""
    raw = copy.deepcopy(raw)
    for entry in raw["nodes"]:
        if entry["type"] == "n8n-nodes-base.code":
            entry["parameters"]["jsCode"] = (
                "const id = $execution.id;\n" + entry["parameters"]["jsCode"]
            )
    return raw


class TestCodeDelegates:
    def test_a_code_node_it_cannot_run_delegates_the_whole_workflow(self) -> None:
        result = translate(reads_execution(load_fixture("nightly_report")))
        assert result.mode == "delegate"
        assert result.reasons == ["Code 'Sum counts' reads $execution, which has no equal here"]
        (step,) = result.definition["steps"]
        assert step["id"] == DELEGATE_STEP and step["type"] == "n8n"
        assert step["with"] == {
            "integration": "n8n-main",
            "workflow_id": "wfNightlyReport02",
            "payload": "{{ input }}",
        }
        assert result.definition["output"] == "{{ steps.run_in_n8n.output }}"

    def test_a_delegated_webhook_workflow_takes_the_translated_input_shape(self) -> None:
        result = translate(load_fixture("score_code"))
        assert result.mode == "delegate"
        assert result.definition["steps"][0]["with"]["payload"] == "{{ input.body }}"
        assert result.triggers == [
            {
                "type": "webhook",
                "method": "POST",
                "url_path": "score",
                "authentication": {"type": "none"},
            }
        ]

    def test_a_delegated_get_webhook_sends_the_query(self) -> None:
        raw = load_fixture("score_code")
        raw["nodes"][0]["parameters"]["httpMethod"] = "GET"
        result = translate(raw)
        assert result.definition["steps"][0]["with"]["payload"] == "{{ input.query }}"
        assert result.triggers[0]["method"] == "GET"

    def test_a_delegated_workflow_without_webhook_says_how_to_run_it(self) -> None:
        result = translate(reads_execution(load_fixture("nightly_report")))
        assert "Webhook trigger" in result.notes[0]

    def test_an_expression_with_an_n8n_extension_delegates(self) -> None:
        result = translate(manual_then(set_node("Calc", total="={{ $json.a.isEmpty() }}")))
        assert result.mode == "delegate"
        assert result.reasons == [
            "the expression {{ $json.a.isEmpty() }} calls .isEmpty(), not a standard"
            " JavaScript method (an n8n extension?)"
        ]


class TestSchedules:
    def test_schedule_rules_become_cron_triggers_in_the_workflow_timezone(self) -> None:
        raw = load_fixture("nightly_report")
        raw["nodes"] = raw["nodes"][:2]  # without the Code node
        del raw["connections"]["Fetch stats"]
        result = translate(raw)
        assert result.triggers == [
            {"type": "schedule", "cron": "15 */6 * * *", "timezone": "Europe/Paris"},
            {"type": "schedule", "cron": "0 2 * * *", "timezone": "Europe/Paris"},
        ]

    @pytest.mark.parametrize(
        ("rule", "spec"),
        [
            ({"field": "minutes", "minutesInterval": 15}, {"interval": "15m"}),
            ({"field": "cronExpression", "expression": "0 30 9 * * 1-5"}, {"cron": "30 9 * * 1-5"}),
            (
                {"field": "weeks", "triggerAtDay": [1, 3], "triggerAtHour": 8},
                {"cron": "0 8 * * 1,3"},
            ),
            ({"field": "months", "triggerAtDayOfMonth": 5}, {"cron": "0 0 5 * *"}),
        ],
    )
    def test_each_rule_kind(self, rule: dict[str, Any], spec: dict[str, Any]) -> None:
        trigger = node("Every", "n8n-nodes-base.scheduleTrigger", 1.2, rule={"interval": [rule]})
        raw = {"nodes": [trigger, set_node("S", a=1)], "connections": chain("Every", "S")}
        assert translate(raw).triggers == [{"type": "schedule", **spec}]

    def test_the_old_cron_node(self) -> None:
        times = {"item": [{"mode": "everyWeek", "hour": 7, "minute": 30, "weekday": "5"}]}
        trigger = node("Cron", "n8n-nodes-base.cron", 1, triggerTimes=times)
        raw = {"nodes": [trigger, set_node("S", a=1)], "connections": chain("Cron", "S")}
        assert translate(raw).triggers == [{"type": "schedule", "cron": "30 7 * * 5"}]

    def test_seconds_precision_cron_delegates(self) -> None:
        rule = {"interval": [{"field": "cronExpression", "expression": "*/10 * * * * *"}]}
        trigger = node("Every", "n8n-nodes-base.scheduleTrigger", 1.2, rule=rule)
        raw = {"nodes": [trigger, set_node("S", a=1)], "connections": chain("Every", "S")}
        assert translate(raw).mode == "delegate"


class TestWait:
    def test_time_wait_sleeps_and_webhook_wait_waits_for_an_event(self) -> None:
        result = translate(load_fixture("approval_wait"))
        by_id = steps(result)
        assert by_id["Cool_down"] == {
            "id": "Cool_down",
            "type": "sleep",
            "name": "Cool down",
            "with": {"duration": "1s"},
        }
        assert by_id["Await_approval"]["type"] == "wait_for_event"
        assert by_id["Await_approval"]["with"] == {"event": "Await_approval"}
        assert by_id["Decision"]["with"] == {
            "approved": "{{ steps.Await_approval.output.approved }}",
            "request": "{{ input.request }}",
        }

    def test_wait_with_a_time_limit_delegates(self) -> None:
        raw = load_fixture("approval_wait")
        raw["nodes"][2]["parameters"]["limitWaitTime"] = True
        assert translate(raw).mode == "delegate"

    def test_fractional_amounts_keep_their_length(self) -> None:
        wait = node("W", "n8n-nodes-base.wait", 1.1, amount=1.5, unit="minutes")
        assert steps(translate(manual_then(wait)))["W"]["with"] == {"duration": "90s"}


class TestMerge:
    def test_merge_of_exclusive_branches_passes_on_the_branch_that_ran(self) -> None:
        result = translate(load_fixture("greeting_merge"))
        by_id = steps(result)
        assert by_id["Merge"]["depends_on"] == ["User", "Guest"]
        assert "or" in by_id["Merge"]["when"]
        greeting = by_id["Greeting"]["with"]["greeting"]
        for status, expected in (("user", "Ann"), ("guest", "guest")):
            context = {
                "steps": {
                    "User": {
                        "status": "completed" if status == "user" else "skipped",
                        "output": {"name": "Ann"},
                    },
                    "Guest": {
                        "status": "completed" if status == "guest" else "skipped",
                        "output": {"name": "guest"},
                    },
                }
            }
            assert evaluate(greeting, context) == f"Hello {expected}!"

    def test_sticky_notes_are_ignored(self) -> None:
        assert "Sticky_Note" not in steps(translate(load_fixture("greeting_merge")))

    def test_case_insensitive_conditions_compare_lower_case(self) -> None:
        condition = steps(translate(load_fixture("greeting_merge")))["Known_user"]["with"]["result"]
        assert evaluate(condition, {"input": {"kind": "user", "name": "Ann"}}) is True
        assert evaluate(condition, {"input": {"kind": "User", "name": ""}}) is False

    def test_appending_parallel_branches_delegates(self) -> None:
        raw = load_fixture("greeting_merge")
        raw["connections"]["Known user?"]["main"] = [
            [
                {"node": "User", "type": "main", "index": 0},
                {"node": "Guest", "type": "main", "index": 0},
            ]
        ]
        result = translate(raw)
        assert result.mode == "delegate"
        assert "appends parallel branches" in result.reasons[0]

    def test_combine_mode_delegates(self) -> None:
        raw = load_fixture("greeting_merge")
        next(n for n in raw["nodes"] if n["name"] == "Merge")["parameters"] = {"mode": "combine"}
        assert translate(raw).mode == "delegate"

    def test_choose_branch_waits_for_both_and_uses_the_chosen_input(self) -> None:
        a, b = set_node("A", x=1), set_node("B", y=2)
        merge = node("M", "n8n-nodes-base.merge", 3, mode="chooseBranch", useDataOfInput=2)
        raw = {
            "nodes": [
                node("Start", "n8n-nodes-base.manualTrigger"),
                a,
                b,
                merge,
                set_node("Out", v="={{ $json.y }}"),
            ],
            "connections": {
                "Start": {
                    "main": [
                        [
                            {"node": "A", "type": "main", "index": 0},
                            {"node": "B", "type": "main", "index": 0},
                        ]
                    ]
                },
                "A": {"main": [[{"node": "M", "type": "main", "index": 0}]]},
                "B": {"main": [[{"node": "M", "type": "main", "index": 1}]]},
                "M": {"main": [[{"node": "Out", "type": "main", "index": 0}]]},
            },
        }
        by_id = steps(translate(raw))
        assert "when" not in by_id["M"]
        assert by_id["Out"]["with"] == {"v": "{{ steps.B.output.y }}"}


class TestExecuteWorkflow:
    def test_execute_workflow_runs_the_synced_child(self) -> None:
        by_id = steps(translate(load_fixture("totals_parent")))
        assert by_id["Compute_in_child"]["type"] == "workflow"
        assert by_id["Compute_in_child"]["with"] == {
            "workflow_id": CHILD_ID,
            "input": "{{ input }}",
        }
        assert by_id["Wrap"]["with"]["result"] == "{{ steps.Compute_in_child.output.output.total }}"

    def test_the_child_trigger_is_no_headrace_trigger_and_reads_its_input(self) -> None:
        result = translate(load_fixture("totals_child"))
        assert result.triggers == []
        assert steps(result)["Compute"]["with"] == {
            "total": "{{ input.amount }}",
            "source": "child",
        }

    def test_a_child_that_is_not_synced_delegates(self) -> None:
        result = translate(load_fixture("totals_parent"), workflow_ids={})
        assert result.mode == "delegate"
        assert "not synced" in result.reasons[0]


class TestOtherNodes:
    def test_respond_to_webhook_is_the_result(self) -> None:
        respond = node(
            "Respond",
            "n8n-nodes-base.respondToWebhook",
            1.1,
            respondWith="json",
            responseBody="={{ $json.body }}",
            options={},
        )
        hook = node(
            "Hook",
            "n8n-nodes-base.webhook",
            2,
            path="p",
            httpMethod="POST",
            responseMode="responseNode",
        )
        raw = {"nodes": [hook, respond], "connections": chain("Hook", "Respond")}
        result = translate(raw)
        assert steps(result)["Respond"]["with"] == {"response": "{{ input.body }}"}
        assert result.definition["output"] == "{{ steps.Respond.output.response }}"

    def test_noop_and_disabled_nodes_pass_their_item_on(self) -> None:
        off = set_node("Off", z=1)
        off["disabled"] = True
        result = translate(
            manual_then(
                node("Nothing", "n8n-nodes-base.noOp"), off, set_node("Use", v="={{ $json.a }}")
            )
        )
        by_id = steps(result)
        assert by_id["Nothing"]["with"] == {} and by_id["Off"]["with"] == {}
        assert by_id["Use"]["with"] == {"v": "{{ input.a }}"}

    def test_authenticated_http_requests_use_a_connection(self) -> None:
        http = node(
            "Repos",
            "n8n-nodes-base.httpRequest",
            4.2,
            url="=https://api.github.com/repos/{{ $json.repo }}",
            authentication="predefinedCredentialType",
            nodeCredentialType="githubApi",
        )
        http["credentials"] = {"githubApi": {"id": "7", "name": "GitHub account"}}
        result = translate(manual_then(http))
        assert steps(result)["Repos"]["with"] == {
            "method": "GET",
            "connection": "github-account",
            "path": "/repos/{{ input.repo }}",
        }
        assert result.requirements[0]["base_url"] == "https://api.github.com"

    @pytest.mark.parametrize(
        ("credentials", "connection"),
        [
            # a credential chosen before is still in the export: n8n uses the named type
            (
                {
                    "httpBasicAuth": {"id": "1", "name": "Old basic"},
                    "httpHeaderAuth": {"id": "2", "name": "Token header"},
                },
                "token-header",
            ),
            ({}, "httpheaderauth"),  # a template exported without its credentials
        ],
    )
    def test_the_credential_type_the_node_names_is_the_one_used(
        self, credentials: dict[str, Any], connection: str
    ) -> None:
        http = node(
            "Call",
            "n8n-nodes-base.httpRequest",
            4.2,
            url="https://api.example.com/v1/things",
            authentication="genericCredentialType",
            genericAuthType="httpHeaderAuth",
        )
        http["credentials"] = credentials
        result = translate(manual_then(http))
        assert result.mode == "translated", result.reasons
        assert steps(result)["Call"]["with"]["connection"] == connection
        assert result.requirements[0]["n8n_credential"]["type"] == "httpHeaderAuth"

    def test_switch_rules_choose_one_output(self) -> None:
        rules = {
            "values": [
                {
                    "conditions": {
                        "conditions": [
                            {
                                "leftValue": "={{ $json.n }}",
                                "rightValue": "10",
                                "operator": {"type": "number", "operation": "gt"},
                            }
                        ],
                        "combinator": "and",
                    }
                },
                {
                    "conditions": {
                        "conditions": [
                            {
                                "leftValue": "={{ $json.n }}",
                                "rightValue": 0,
                                "operator": {"type": "number", "operation": "gt"},
                            }
                        ],
                        "combinator": "and",
                    }
                },
            ]
        }
        switch = node(
            "Size", "n8n-nodes-base.switch", 3.2, rules=rules, options={"fallbackOutput": "extra"}
        )
        raw = manual_then(switch)
        raw["nodes"] += [
            set_node("Big", s="big"),
            set_node("Small", s="small"),
            set_node("None", s="none"),
        ]
        raw["connections"]["Size"] = {
            "main": [[{"node": n, "type": "main", "index": 0}] for n in ("Big", "Small", "None")]
        }
        result = translate(raw)
        choose = steps(result)["Size"]["with"]["output"]
        assert [evaluate(choose, {"input": {"n": n}}) for n in (50, 5, -1)] == [0, 1, 2]
        assert steps(result)["Small"]["when"].endswith("steps.Size.output.output == 1 }}")

    def test_a_loop_delegates(self) -> None:
        raw = manual_then(set_node("A", a=1), set_node("B", b=1))
        raw["connections"]["B"] = {"main": [[{"node": "A", "type": "main", "index": 0}]]}
        assert translate(raw).mode == "delegate"

    def test_unreached_nodes_are_left_out_with_a_note(self) -> None:
        raw = manual_then(set_node("A", a=1))
        raw["nodes"].append(set_node("Orphan", o=1))
        result = translate(raw)
        assert list(steps(result)) == ["A"]
        assert "'Orphan' is not reached" in result.notes[0]


class TestMalformed:
    @pytest.mark.parametrize(
        ("raw", "message"),
        [
            ([], "not a JSON object"),
            ({"name": "x"}, "/nodes"),
            ({"nodes": [{"type": "n8n-nodes-base.noOp"}]}, "/nodes/0/name"),
            (
                {"nodes": [node("A", "n8n-nodes-base.noOp"), node("A", "n8n-nodes-base.noOp")]},
                "duplicate",
            ),
            (
                {"nodes": [node("A", "n8n-nodes-base.noOp")], "connections": chain("A", "Ghost")},
                "Ghost",
            ),
        ],
    )
    def test_malformed_exports_are_refused(self, raw: Any, message: str) -> None:
        with pytest.raises(MalformedWorkflow, match=message):
            translate_workflow(raw, n8n_id="x", integration="n8n")

    def test_translation_does_not_change_its_input(self) -> None:
        raw = load_fixture("order_intake")
        before = copy.deepcopy(raw)
        translate(raw)
        assert raw == before


class TestExpressions:
    items = ItemResolver(
        current=ItemRef("steps.Prev.output"),
        named=lambda name: (
            ItemRef("input", {"body": "input.body"})
            if name == "Webhook"
            else Unavailable(f"no {name}")
        ),
    )

    @pytest.mark.parametrize(
        ("n8n", "headrace"),
        [
            ("={{ $json.a }}", "{{ steps.Prev.output.a }}"),
            ("={{$json['first name'][0].x}}", '{{ steps.Prev.output["first name"][0].x }}'),
            ("={{ $json.items }}", "{{ steps.Prev.output.items }}"),
            ("={{ $json.if }}", '{{ steps.Prev.output["if"] }}'),
            ("={{ $input.item.json.a }}", "{{ steps.Prev.output.a }}"),
            ("={{ $('Webhook').item.json.body.id }}", "{{ input.body.id }}"),
            ('={{ $("Webhook").first().json.body }}', "{{ input.body }}"),
            ('={{ $node["Webhook"].json.body.id }}', "{{ input.body.id }}"),
            (
                "=Hi {{ $json.name }}, #{{ $json.n }}",
                "Hi {{ steps.Prev.output.name }}, #{{ steps.Prev.output.n }}",
            ),
            ("=no braces", "no braces"),
            ("plain", "plain"),
        ],
    )
    def test_accepted_forms(self, n8n: str, headrace: str) -> None:
        assert _translate_value(n8n, self.items) == headrace

    @pytest.mark.parametrize(
        "n8n",
        [
            "={{ $json.a + 1 }}",
            "={{ $json.a.toUpperCase() }}",
            "={{ $now }}",
            "={{ $('Webhook').item.json.params.id }}",
            "={{ $('Other').item.json.x }}",
            "={{ $json[$json.key] }}",
            "={{ $json.a }",
            "literal {{ braces }}",
        ],
    )
    def test_everything_else_is_untranslatable(self, n8n: str) -> None:
        with pytest.raises(Untranslatable):
            _translate_value(n8n, self.items)


def if_v1(**parameters: Any) -> dict[str, Any]:
    return node("Check", "n8n-nodes-base.if", 1, **parameters)


def if_result(raw: dict[str, Any], item: dict[str, Any]) -> Any:
    """The IF step's result for a manual trigger's item."""
    return evaluate(steps(translate(raw))["Check"]["with"]["result"], {"input": item})


class TestIfV1:
    """IF v1 compares like its JavaScript (nodes/If/V1/IfV1.node.ts)."""

    @pytest.mark.parametrize(
        ("condition", "item", "expected"),
        [
            # number: (a || 0) > (b || 0) ...
            (
                {"number": [{"value1": "={{ $json.n }}", "operation": "larger", "value2": 5}]},
                {"n": 6},
                True,
            ),
            (
                {"number": [{"value1": "={{ $json.n }}", "operation": "larger", "value2": 5}]},
                {"n": 5},
                False,
            ),
            (
                {
                    "number": [
                        {"value1": "={{ $json.n }}", "operation": "smallerEqual", "value2": 0}
                    ]
                },
                {"n": None},
                True,
            ),  # null || 0
            ({"number": [{"value1": "={{ $json.n }}"}]}, {"n": -1}, True),  # default: smaller 0
            (
                {"number": [{"value1": "={{ $json.n }}", "operation": "equal", "value2": 3}]},
                {"n": 3},
                True,
            ),
            ({"number": [{"value1": "={{ $json.n }}", "operation": "isEmpty"}]}, {"n": None}, True),
            ({"number": [{"value1": "={{ $json.n }}", "operation": "isNotEmpty"}]}, {"n": 0}, True),
            # string: equal is ===, contains converts to text, starts/ends call the method
            ({"string": [{"value1": "={{ $json.s }}", "value2": "abc"}]}, {"s": "abc"}, True),
            ({"string": [{"value1": "={{ $json.s }}", "value2": "abc"}]}, {"s": "ABC"}, False),
            (
                {"string": [{"value1": "={{ $json.s }}", "operation": "contains", "value2": "2"}]},
                {"s": 123},
                True,
            ),
            (
                {
                    "string": [
                        {"value1": "={{ $json.s }}", "operation": "notContains", "value2": "x"}
                    ]
                },
                {"s": None},
                True,
            ),
            (
                {
                    "string": [
                        {"value1": "={{ $json.s }}", "operation": "startsWith", "value2": "ab"}
                    ]
                },
                {"s": "abc"},
                True,
            ),
            (
                {
                    "string": [
                        {"value1": "={{ $json.s }}", "operation": "notEndsWith", "value2": "bc"}
                    ]
                },
                {"s": "abc"},
                False,
            ),
            ({"string": [{"value1": "={{ $json.s }}", "operation": "isEmpty"}]}, {"s": ""}, True),
            ({"string": [{"value1": "={{ $json.s }}", "operation": "isEmpty"}]}, {"s": {}}, True),
            ({"string": [{"value1": "={{ $json.s }}", "operation": "isEmpty"}]}, {"s": []}, True),
            ({"string": [{"value1": "={{ $json.s }}", "operation": "isEmpty"}]}, {"s": " "}, False),
            # boolean: === with the literal
            ({"boolean": [{"value1": "={{ $json.b }}", "value2": True}]}, {"b": True}, True),
            (
                {
                    "boolean": [
                        {"value1": "={{ $json.b }}", "operation": "notEqual", "value2": True}
                    ]
                },
                {"b": False},
                True,
            ),
        ],
    )
    def test_each_operation(
        self, condition: dict[str, Any], item: dict[str, Any], expected: bool
    ) -> None:
        assert if_result(manual_then(if_v1(conditions=condition)), item) is expected

    def test_all_and_any_combine_in_n8ns_order(self) -> None:
        conditions = {
            "number": [{"value1": "={{ $json.n }}", "operation": "larger", "value2": 1}],
            "string": [{"value1": "={{ $json.s }}", "value2": "x"}],
        }
        every = manual_then(if_v1(conditions=conditions))
        some = manual_then(if_v1(conditions=conditions, combineOperation="any"))
        for item, all_, any_ in (
            ({"n": 2, "s": "x"}, True, True),
            ({"n": 2, "s": "y"}, False, True),
            ({"n": 0, "s": "y"}, False, False),
        ):
            assert (if_result(every, item), if_result(some, item)) == (all_, any_)

    def test_no_condition_is_true_for_all_and_false_for_any(self) -> None:
        assert if_result(manual_then(if_v1(conditions={})), {}) is True
        assert if_result(manual_then(if_v1(conditions={}, combineOperation="any")), {}) is False

    @pytest.mark.parametrize(
        "conditions",
        [
            {"dateTime": [{"value1": "2024-01-01", "operation": "after", "value2": "2023-01-01"}]},
            {"string": [{"value1": "={{ $json.s }}", "operation": "regex", "value2": "^a"}]},
        ],
    )
    def test_dates_and_regular_expressions_delegate(self, conditions: dict[str, Any]) -> None:
        result = translate(manual_then(if_v1(conditions=conditions)))
        assert result.mode == "delegate"


def switch_raw(switch: dict[str, Any], outputs: int) -> dict[str, Any]:
    raw = manual_then(switch)
    names = [f"Out{i}" for i in range(outputs)]
    raw["nodes"] += [set_node(name, out=i) for i, name in enumerate(names)]
    raw["connections"][switch["name"]] = {
        "main": [[{"node": name, "type": "main", "index": 0}] for name in names]
    }
    return raw


class TestSwitchV1V2:
    """Switch v1 sends to each rule's `output`; v2 to the rule's position."""

    def test_v1_rules_name_their_output_and_fallback(self) -> None:
        switch = node(
            "Route",
            "n8n-nodes-base.switch",
            1,
            dataType="string",
            value1="={{ $json.kind }}",
            rules={
                "rules": [
                    {"value2": "a", "output": 2},
                    {"operation": "startsWith", "value2": "b", "output": 0},
                ]
            },
            fallbackOutput=3,
        )
        result = translate(switch_raw(switch, 4))
        choose = steps(result)["Route"]["with"]["output"]
        routes = [evaluate(choose, {"input": {"kind": k}}) for k in ("a", "bee", "c")]
        assert routes == [2, 0, 3]
        assert steps(result)["Out2"]["when"].endswith("steps.Route.output.output == 2 }}")

    def test_v2_rules_send_to_their_position_and_numbers_compare_like_javascript(self) -> None:
        switch = node(
            "Route",
            "n8n-nodes-base.switch",
            2,
            value1="={{ $json.n }}",  # dataType number is the default
            rules={"rules": [{"operation": "larger", "value2": 10}, {"value2": 0}]},
        )
        choose = steps(translate(switch_raw(switch, 2)))["Route"]["with"]["output"]
        # rule 2 is "smaller than 0"; null || 0 is 0, which matches nothing (fallback -1)
        assert [evaluate(choose, {"input": {"n": n}}) for n in (11, -3, None)] == [0, 1, -1]

    def test_expression_mode_uses_the_expression(self) -> None:
        switch = node(
            "Route",
            "n8n-nodes-base.switch",
            2,
            mode="expression",
            output="={{ $json.to }}",
            outputsAmount=2,
        )
        choose = steps(translate(switch_raw(switch, 2)))["Route"]["with"]["output"]
        assert choose == "{{ input.to }}"

    @pytest.mark.parametrize(
        "parameters",
        [
            {"dataType": "dateTime", "value1": "2024-01-01", "rules": {"rules": [{}]}},
            {
                "dataType": "string",
                "value1": "={{ $json.s }}",
                "rules": {"rules": [{"operation": "regex", "value2": "^a"}]},
            },
            # v2 has one output per rule: a fallback beyond them fails in n8n
            {"value1": 1, "rules": {"rules": [{"value2": 1}]}, "fallbackOutput": 2},
        ],
    )
    def test_untranslatable_rules_delegate(self, parameters: dict[str, Any]) -> None:
        switch = node("Route", "n8n-nodes-base.switch", 2, **parameters)
        assert translate(switch_raw(switch, 1)).mode == "delegate"


def http_v1(version: float = 1, **parameters: Any) -> dict[str, Any]:
    return node("Call", "n8n-nodes-base.httpRequest", version, **parameters)


class TestHttpRequestV1V2:
    def test_ui_parameters_become_query_headers_and_json_body(self) -> None:
        http = http_v1(
            requestMethod="POST",
            url="=https://api.example.com/orders/{{ $json.id }}",
            queryParametersUi={"parameter": [{"name": "dry", "value": "yes"}]},
            headerParametersUi={"parameter": [{"name": "X-Trace", "value": "={{ $json.t }}"}]},
            bodyParametersUi={"parameter": [{"name": "qty", "value": "={{ $json.qty }}"}]},
            options={"timeout": 2500},
        )
        result = translate(manual_then(http))
        assert steps(result)["Call"]["with"] == {
            "method": "POST",
            "url": "https://api.example.com/orders/{{ input.id }}",
            "query": {"dry": "yes"},
            "headers": {"x-trace": "{{ (input.t) | string }}"},  # lower-cased, text
            "json": {"qty": "{{ input.qty }}"},
            "timeout": "2500ms",
            "follow_redirects": False,  # n8n v1 follows redirects of GET and HEAD only
        }
        assert steps(result)["Call"]["retry"] == {"max_attempts": 1}

    def test_a_get_follows_redirects_and_the_response_is_the_item(self) -> None:
        http = http_v1(url="https://api.example.com/me")
        after = set_node("Who", login="={{ $json.login }}")
        by_id = steps(translate(manual_then(http, after)))
        assert by_id["Call"]["with"] == {"method": "GET", "url": "https://api.example.com/me"}
        assert by_id["Who"]["with"] == {"login": "{{ steps.Call.output.body.login }}"}

    def test_json_parameters_and_a_form_body(self) -> None:
        http = http_v1(
            2,
            requestMethod="PUT",
            url="https://api.example.com/x",
            jsonParameters=True,
            queryParametersJson='{"page": 2}',
            bodyParametersJson='{"a": 1}',
            options={"bodyContentType": "form-urlencoded", "followAllRedirects": True},
        )
        assert steps(translate(manual_then(http)))["Call"]["with"] == {
            "method": "PUT",
            "url": "https://api.example.com/x",
            "query": {"page": 2},
            "form": {"a": 1},
        }

    @pytest.mark.parametrize(
        ("version", "authentication", "credential"),
        [(1, "headerAuth", "httpHeaderAuth"), (2, "genericCredentialType", "httpHeaderAuth")],
    )
    def test_credentials_go_through_a_connection(
        self, version: float, authentication: str, credential: str
    ) -> None:
        http = http_v1(
            version,
            url="https://api.example.com/v1/items",
            authentication=authentication,
            genericAuthType=credential,
        )
        http["credentials"] = {credential: {"id": "3", "name": "Example API"}}
        result = translate(manual_then(http))
        with_ = steps(result)["Call"]["with"]
        assert (with_["connection"], with_["path"]) == ("example-api", "/v1/items")
        assert result.requirements[0]["base_url"] == "https://api.example.com"

    @pytest.mark.parametrize(
        "parameters",
        [
            {"responseFormat": "string"},
            {"responseFormat": "file"},
            {"options": {"fullResponse": True}},
            {"options": {"ignoreResponseCode": True}},
            {"options": {"splitIntoItems": True}},
            {"options": {"bodyContentType": "raw"}, "requestMethod": "POST"},
            {"authentication": "digestAuth"},
            {
                "jsonParameters": True,
                "bodyParametersJson": "={{ JSON.stringify($json) }}",
                "requestMethod": "POST",
            },
            {"bodyParametersUi": {"parameter": [{"name": "a", "value": "1"}]}},  # body on GET
            {
                "queryParametersUi": {
                    "parameter": [{"name": "a", "value": "1"}, {"name": "a", "value": "2"}]
                }
            },
        ],
    )
    def test_what_has_no_exact_equal_delegates(self, parameters: dict[str, Any]) -> None:
        http = http_v1(url="https://api.example.com/x", **parameters)
        assert translate(manual_then(http)).mode == "delegate"


def parallel_into_merge(a: dict[str, Any], b: dict[str, Any], merge: dict[str, Any]) -> Any:
    """Start → A and B in parallel → Merge (A on input 1, B on input 2) → Out (its item)."""
    return {
        "nodes": [node("Start", "n8n-nodes-base.manualTrigger"), a, b, merge],
        "connections": {
            "Start": {
                "main": [
                    [
                        {"node": a["name"], "type": "main", "index": 0},
                        {"node": b["name"], "type": "main", "index": 0},
                    ]
                ]
            },
            a["name"]: {"main": [[{"node": merge["name"], "type": "main", "index": 0}]]},
            b["name"]: {"main": [[{"node": merge["name"], "type": "main", "index": 1}]]},
        },
    }


def merged(raw: dict[str, Any], a: dict[str, Any], b: dict[str, Any]) -> Any:
    """The Merge step's output given the outputs of A and B."""
    result = translate(raw)
    assert result.mode == "translated", result.reasons
    context = {"steps": {"A": {"output": a}, "B": {"output": b}}}
    return evaluate(steps(result)["M"]["with"], context)


class TestMergeCombine:
    """Combining one item per input: lodash merge (deep) or assign (shallow)."""

    def test_v2_by_position_merges_deep_and_the_second_input_wins(self) -> None:
        a = set_node("A", x=1, shared="from a")
        a["parameters"]["assignments"]["assignments"].append(
            {"id": "n1", "name": "deep.one", "value": 1, "type": "number"}
        )
        b = set_node("B", y="={{ $json.y }}", shared="from b")
        b["parameters"]["assignments"]["assignments"].append(
            {"id": "n2", "name": "deep.two", "value": 2, "type": "number"}
        )
        merge = node(
            "M", "n8n-nodes-base.merge", 2.1, mode="combine", combinationMode="mergeByPosition"
        )
        out = merged(
            parallel_into_merge(a, b, merge),
            {"x": 1, "shared": "from a", "deep": {"one": 1}},
            {"y": 5, "shared": "from b", "deep": {"two": 2}},
        )
        assert out == {"x": 1, "shared": "from b", "deep": {"one": 1, "two": 2}, "y": 5}

    def test_prefer_input_1_and_shallow_merge(self) -> None:
        a = set_node("A", shared="from a")
        a["parameters"]["assignments"]["assignments"].append(
            {"id": "n1", "name": "deep.one", "value": 1, "type": "number"}
        )
        b = set_node("B", shared="from b")
        b["parameters"]["assignments"]["assignments"].append(
            {"id": "n2", "name": "deep.two", "value": 2, "type": "number"}
        )
        clash = {"values": {"resolveClash": "preferInput1", "mergeMode": "shallowMerge"}}
        merge = node(
            "M",
            "n8n-nodes-base.merge",
            2,
            mode="combine",
            combinationMode="multiplex",
            options={"clashHandling": clash},
        )
        out = merged(
            parallel_into_merge(a, b, merge),
            {"shared": "from a", "deep": {"one": 1}},
            {"shared": "from b", "deep": {"two": 2}},
        )
        assert out == {"shared": "from a", "deep": {"one": 1}}

    def test_v3_add_suffix_keeps_both(self) -> None:
        a, b = set_node("A", k="={{ $json.a }}"), set_node("B", k="={{ $json.b }}")
        clash = {"values": {"resolveClash": "addSuffix"}}
        merge = node(
            "M",
            "n8n-nodes-base.merge",
            3,
            mode="combine",
            combineBy="combineAll",
            options={"clashHandling": clash},
        )
        out = merged(parallel_into_merge(a, b, merge), {"k": "a"}, {"k": "b"})
        assert out == {"k_1": "a", "k_2": "b"}

    def test_override_empty_keeps_the_earlier_value(self) -> None:
        a, b = set_node("A", k="kept"), set_node("B", k="")
        clash = {"values": {"overrideEmpty": True}}
        merge = node(
            "M",
            "n8n-nodes-base.merge",
            3,
            mode="combine",
            combineBy="combineByPosition",
            options={"clashHandling": clash},
        )
        assert merged(parallel_into_merge(a, b, merge), {"k": "kept"}, {"k": ""}) == {"k": "kept"}

    @pytest.mark.parametrize(
        ("a", "b", "parameters"),
        [
            # by matching fields and SQL match items: no exact equal
            (set_node("A", k=1), set_node("B", k=1), {"combineBy": "combineByFields"}),
            (set_node("A", k=1), set_node("B", k=1), {"mode": "combineBySql"}),
            # a deep merge over a value known only at run time (an object or not?)
            (set_node("A", k="={{ $json.a }}"), set_node("B", k="={{ $json.b }}"), {}),
            # the fields of an HTTP response are not known when translating
            (
                node("A", "n8n-nodes-base.httpRequest", 4.2, url="https://x.example"),
                set_node("B", k=1),
                {},
            ),
        ],
    )
    def test_what_has_no_exact_equal_delegates(
        self, a: dict[str, Any], b: dict[str, Any], parameters: dict[str, Any]
    ) -> None:
        merge = node(
            "M",
            "n8n-nodes-base.merge",
            3,
            **{"mode": "combine", "combineBy": "combineByPosition", **parameters},
        )
        result = translate(parallel_into_merge(a, b, merge))
        assert result.mode == "delegate"

    def test_inputs_that_may_not_both_run_delegate(self) -> None:
        raw = load_fixture("greeting_merge")
        merge = next(n for n in raw["nodes"] if n["name"] == "Merge")
        merge["parameters"] = {"mode": "combine", "combineBy": "combineByPosition"}
        result = translate(raw)
        assert result.mode == "delegate"
        assert "may not all run" in result.reasons[0]


class TestSetV30:
    """Set 3.0-3.2: typed value keys, and ``include`` (every input field unless said)."""

    def test_include_none_keeps_only_the_fields_set(self) -> None:
        fields = {
            "values": [
                {"name": "who", "stringValue": "={{ $json.name }}"},
                {"name": "n", "type": "numberValue", "numberValue": "2"},
                {"name": "ok", "type": "booleanValue", "booleanValue": True},
            ]
        }
        result = translate(
            manual_then(node("Pick", "n8n-nodes-base.set", 3.2, include="none", fields=fields))
        )
        assert result.mode == "translated", result.reasons
        assert steps(result)["Pick"]["with"] == {"who": "{{ input.name }}", "n": 2, "ok": True}

    def test_keeping_the_input_fields_is_a_code_step_merging_into_a_copy(self) -> None:
        fields = {"values": [{"name": "a.n", "stringValue": "x"}]}
        result = translate(manual_then(node("Add", "n8n-nodes-base.set", 3.1, fields=fields)))
        assert result.mode == "translated", result.reasons
        step = steps(result)["Add"]
        assert step["type"] == "code"
        assert step["with"]["input"] == {"json": "{{ input }}", "fields": [[["a", "n"], "x"]]}

    def test_keeping_some_input_fields_delegates(self) -> None:
        fields = {"values": [{"name": "n", "stringValue": "x"}]}
        raw = node("Add", "n8n-nodes-base.set", 3.1, fields=fields, include="selected")
        result = translate(manual_then(raw))
        assert result.mode == "delegate"
        assert "keeps some of the input's other fields" in result.reasons[0]


class TestEventTriggers:
    """A service trigger with no Headrace equal becomes a webhook taking the event as body."""

    def test_a_telegram_trigger_becomes_a_webhook_with_header_auth(self) -> None:
        raw = {
            "nodes": [
                node("On message", "n8n-nodes-base.telegramTrigger", 1.1, updates=["message"]),
                set_node("Text", text="={{ $json.message.text }}"),
            ],
            "connections": chain("On message", "Text"),
        }
        result = translate(raw)
        assert result.mode == "translated", result.reasons
        assert result.triggers == [
            {"type": "webhook", "method": "POST", "authentication": {"type": "header"}}
        ]
        assert steps(result)["Text"]["with"] == {"text": "{{ input.body.message.text }}"}
        assert any("point the sender" in note for note in result.notes)

    def test_n8ns_own_error_trigger_still_delegates(self) -> None:
        raw = {
            "nodes": [node("On error", "n8n-nodes-base.errorTrigger"), set_node("A", n=1)],
            "connections": chain("On error", "A"),
        }
        assert translate(raw).mode == "delegate"
