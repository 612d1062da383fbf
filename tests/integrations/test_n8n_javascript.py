"""n8n JavaScript (expressions, Code nodes) translated to code steps, run on the real engine.

The scripts the translation writes run here in the code step's own sandbox function
(``activities.code.run_script``: QuickJS, no Temporal), fed the input the step would get.
The answers with a source are what n8n 1.123.81 gave for the same expression or node.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from activities.code import CodeLimits, run_script
from api.services.n8n.expressions import ItemRef, ItemResolver, Unavailable, Untranslatable
from api.services.n8n.expressions import translate_value as _translate_value
from api.services.n8n.javascript import Scripts
from tests.integrations.test_n8n_translate import manual_then, node, set_node, steps, translate

WEBHOOK = ItemRef("input", {"body": "input.body", "query": "input.query"}, what="the webhook")


def resolver() -> ItemResolver:
    items = ItemResolver(
        current=ItemRef("steps.Prev.output"),
        named=lambda name: WEBHOOK if name == "Webhook" else Unavailable(f"no {name}"),
    )
    items.scripts = Scripts("Node__js", "Node")
    return items


def run(code: str, input_data: Any) -> Any:
    result = run_script(code, input_data, CodeLimits(), 5.0)
    if result.error is not None:
        raise AssertionError(str(result.error))
    return result.output


def evaluate(expression: str, json: Any, webhook_body: Any = None) -> Any:
    """Translate one expression, then run its code step on ``json`` (and the webhook's body)."""
    items = resolver()
    template = _translate_value(expression, items)
    assert template == "{{ steps.Node__js.output.e0 }}"
    assert items.scripts is not None
    step = items.scripts.step(items)
    given = step["with"]["input"]
    concrete: dict[str, Any] = {"nodes": {}}
    if "json" in given:
        assert given["json"] == "{{ steps.Prev.output }}"
        concrete["json"] = json
    if "Webhook" in given["nodes"]:
        assert given["nodes"]["Webhook"] == {"body": "{{ input.body }}"}  # only what it reads
        concrete["nodes"]["Webhook"] = {"body": webhook_body}
    return run(step["with"]["code"], concrete)["e0"]


class TestExpressions:
    @pytest.mark.parametrize(
        ("expression", "json", "answer"),
        [
            ("={{ $json.a * 2 + 1 }}", {"a": 3}, 7),
            ("={{ $json.total > 100 && $json.count >= 2 }}", {"total": 110, "count": 2}, True),
            ("={{ $input.first().json.name.toUpperCase() }}", {"name": "ann"}, "ANN"),
            ("={{ $json.tags.map(t => t.trim()).join('|') }}", {"tags": [" a", "b "]}, "a|b"),
            ("={{ $ifEmpty($json.nick, 'none') }}", {"nick": ""}, "none"),
            ("={{ $json.n ?? 0 }}", {}, 0),
            (
                "=Order {{ $json.id }}: {{ $json.total.toFixed(2) }}",
                {"id": 7, "total": 9.5},
                ("Order 7: 9.50"),
            ),
            # n8n 1.123.81 answered exactly this: null and undefined write nothing, an object
            # is "[object Object]", a list its items joined by commas
            (
                "=a{{ null }}b{{ false }}c{{ [1,2] }}d{{ {x:1} }}e{{ undefined }}f{{ 0 }}",
                {},
                "abfalsec1,2d[object Object]ef0",
            ),
        ],
    )
    def test_javascript_gives_n8ns_value(self, expression: str, json: Any, answer: Any) -> None:
        assert evaluate(expression, json) == answer

    def test_a_webhook_item_is_read_through_its_body(self) -> None:
        value = evaluate(
            "={{ $('Webhook').item.json.body.id + '-' + $json.a }}", {"a": 1}, {"id": "x"}
        )
        assert value == "x-1"

    @pytest.mark.parametrize(
        ("expression", "reason"),
        [
            ("={{ $now.toISO() }}", "reads $now"),
            ("={{ $vars.region }}", "reads $vars"),
            ("={{ $execution.id }}", "reads $execution"),
            ("={{ $json.a.isEmpty() }}", "calls .isEmpty(), not a standard"),
            ("={{ $json.list.sum() }}", "calls .sum()"),
            ("={{ DateTime.now() }}", "uses Luxon dates"),
            ("={{ new Date($json.at).getHours() }}", "local time"),
            ("={{ $json.n.toLocaleString() }}", "local time or a locale"),
            ("={{ $($json.node).item.json.x }}", "names a node with a computed value"),
            ("={{ $('Webhook').item.json.params.id }}", "beyond its body, query"),
            ("={{ $('Other').item.json.x }}", "no Other"),
            ("={{ Date.now(); }}", "is not JavaScript QuickJS reads"),
            ("={{ this.constructor.constructor('return process')() }}", "reads `this`"),
        ],
    )
    def test_what_could_answer_differently_is_refused(self, expression: str, reason: str) -> None:
        with pytest.raises(Untranslatable, match=".*" + re.escape(reason)):
            _translate_value(expression, resolver())


def code_node(js: str, mode: str | None = None, name: str = "Code") -> dict[str, Any]:
    parameters: dict[str, Any] = {"jsCode": js}
    if mode:
        parameters["mode"] = mode
    return node(name, "n8n-nodes-base.code", 2, **parameters)


def translated_code(raw_node: dict[str, Any]) -> dict[str, Any]:
    result = translate(manual_then(raw_node))
    assert result.mode == "translated", result.reasons
    step = steps(result)[raw_node["name"]]
    assert step["type"] == "code" and step["with"]["input"].get("json") in (None, "{{ input }}")
    return step


class TestCodeNodes:
    def test_run_once_for_all_items_reads_items_and_returns_the_one_item(self) -> None:
        step = translated_code(
            code_node("const n = items.length + $input.all().length;\nreturn [{ json: { n } }];")
        )
        assert run(step["with"]["code"], {"json": {"a": 1}, "nodes": {}}) == {"n": 2}

    def test_run_once_for_each_item_returns_an_object(self) -> None:
        step = translated_code(
            code_node(
                "$input.item.json.b = $json.a + 1;\nreturn $input.item;", "runOnceForEachItem"
            )
        )
        # the item object is n8n's: changed in place, returned with its other fields
        assert run(step["with"]["code"], {"json": {"a": 1}, "nodes": {}}) == {"a": 1, "b": 2}

    def test_function_item_reads_and_returns_the_json(self) -> None:
        raw = node("Fn", "n8n-nodes-base.functionItem", 1, functionCode="item.x = 2;\nreturn item;")
        step = translated_code(raw)
        assert run(step["with"]["code"], {"json": {"a": 1}, "nodes": {}}) == {"a": 1, "x": 2}

    def test_a_node_returning_other_than_one_item_fails_rather_than_answer_differently(
        self,
    ) -> None:
        step = translated_code(code_node("return [$input.first(), $input.first()];"))
        result = run_script(step["with"]["code"], {"json": {}, "nodes": {}}, CodeLimits(), 5.0)
        assert result.error is not None and result.error.type == "CodeError"
        assert "returned 2 items" in str(result.error)

    def test_a_node_that_reads_no_input_is_run_once_to_count_its_items(self) -> None:
        js = "return [1, 2, 3].map((id) => ({ json: { id } }));"
        result = translate(manual_then(code_node(js)))
        assert result.reasons == [
            "Code 'Code' returns 3 items (the translation passes one item on)"
        ]
        # hostile code at sync: the probe gives up within its budget (the run would fail)
        for hostile in ("while (true) {}", "const a = [];\nfor (;;) a.push(new Array(1e6));"):
            assert translate(manual_then(code_node(hostile))).mode == "translated"

    @pytest.mark.parametrize(
        ("js", "reason"),
        [
            ("const x = require('crypto');\nreturn items;", "loads a module"),
            ("return [{ json: { at: $now.toISO() } }];", "reads $now"),
            ("return items.map(i => ({ json: { b: i.binary } }));", "reads binary data"),
            ("const s = $getWorkflowStaticData('global');\nreturn items;", "reads $getWorkflow"),
            # an attempt to close the wrapper function early is refused, never run
            ("return items; }); globalThis.x = 1; (async function () {", "not JavaScript"),
        ],
    )
    def test_code_it_cannot_run_the_same_delegates(self, js: str, reason: str) -> None:
        result = translate(manual_then(code_node(js)))
        assert result.mode == "delegate"
        assert reason.replace("\\", "") in result.reasons[0]

    @pytest.mark.parametrize(
        "js", ["return { json: { n: $input.all().length } };", "return { json: items[0].json };"]
    )
    def test_reading_all_items_for_each_item_delegates(self, js: str) -> None:
        # n8n 1.123.81 fails the node ("can't use .all() here"): delegating gives that answer
        result = translate(manual_then(code_node(js, "runOnceForEachItem")))
        assert result.reasons == ["Code 'Code' reads all items while running for each item"]

    def test_python_code_delegates(self) -> None:
        raw = node("Py", "n8n-nodes-base.code", 2, language="python", pythonCode="return _input")
        assert "Python" in translate(manual_then(raw)).reasons[0]


class TestSetKeepingOtherFields:
    def test_fields_are_written_into_a_copy_as_lodash_set_does(self) -> None:
        raw = node(
            "Add",
            "n8n-nodes-base.set",
            3.4,
            includeOtherFields=True,
            assignments={
                "assignments": [
                    {"id": "1", "name": "a.b", "value": "={{ $json.n * 10 }}", "type": "number"},
                    {"id": "2", "name": "c.d", "value": "x", "type": "string"},
                ]
            },
        )
        result = translate(manual_then(raw))
        assert result.mode == "translated", result.reasons
        by_id = steps(result)
        expressions = run(by_id["Add__js"]["with"]["code"], {"json": {"n": 2}, "nodes": {}})
        assert by_id["Add"]["depends_on"] == ["Add__js"]
        fields = [
            [keys, expressions["e0"] if value.startswith("{{") else value]
            for keys, value in by_id["Add"]["with"]["input"]["fields"]
        ]
        item = {"n": 2, "a": {"keep": True}, "c": "text"}
        merged = run(by_id["Add"]["with"]["code"], {"json": item, "fields": fields})
        # a nested object is merged into, a text on the path becomes an object
        assert merged == {"n": 2, "a": {"keep": True, "b": 20}, "c": {"d": "x"}}


class TestSeveralItems:
    def test_split_out_runs_the_next_nodes_once_per_item_until_gathered(self) -> None:
        split = node("Split", "n8n-nodes-base.splitOut", 1, fieldToSplitOut="lines")
        each = node(
            "Amount",
            "n8n-nodes-base.set",
            3.4,
            assignments={"assignments": [{"id": "1", "name": "v", "value": "={{ $json.p * 2 }}"}]},
        )
        total = code_node("return [{ json: { sum: items.reduce((s, i) => s + i.json.v, 0) } }];")
        result = translate(manual_then(split, each, total))
        assert result.mode == "translated", result.reasons
        by_id = steps(result)
        assert by_id["Amount"]["foreach"] == "{{ steps.Split.output }}"
        assert by_id["Amount__js"]["foreach"] == "{{ steps.Split.output }}"
        assert by_id["Amount"]["with"] == {"v": "{{ steps.Amount__js.output[index].e0 }}"}
        assert by_id["Code"]["with"]["input"]["all"] == "{{ steps.Amount.output }}"
        lines = run(
            by_id["Split"]["with"]["code"],
            {"json": {"lines": [{"p": 1}, 3]}, **{"path": ["lines"], "field": "lines"}},
        )
        assert lines == [{"p": 1}, {"lines": 3}]  # a number becomes {field: value}, as in n8n

    def test_an_empty_list_fails_rather_than_answer_differently(self) -> None:
        split = node("Split", "n8n-nodes-base.splitOut", 1, fieldToSplitOut="lines")
        result = translate(manual_then(split, node("Done", "n8n-nodes-base.noOp")))
        code = steps(result)["Split"]["with"]["code"]
        failed = run_script(
            code, {"json": {"lines": []}, "path": ["lines"], "field": "lines"}, CodeLimits(), 5.0
        )
        assert failed.error is not None and "n8n stops the branch" in str(failed.error)

    def test_a_node_that_is_not_per_item_after_a_split_delegates(self) -> None:
        split = node("Split", "n8n-nodes-base.splitOut", 1, fieldToSplitOut="lines")
        wait = node("Pause", "n8n-nodes-base.wait", 1, amount=1, unit="seconds")
        result = translate(manual_then(split, wait))
        assert result.mode == "delegate"
        assert "gets several items" in result.reasons[0]


def loop_workflow(*chain: dict[str, Any], version: float = 3) -> dict[str, Any]:
    """Manual → Loop Over Items → chain → back to the loop; done → "After"."""
    loop = node("Loop", "n8n-nodes-base.splitInBatches", version, options={})
    after = node("After", "n8n-nodes-base.noOp")
    raw = manual_then(loop, *chain)
    names = [n["name"] for n in chain]
    raw["nodes"].append(after)
    raw["connections"]["Loop"] = {
        "main": [
            [{"node": "After", "type": "main", "index": 0}],
            [{"node": names[0], "type": "main", "index": 0}],
        ]
    }
    raw["connections"][names[-1]] = {"main": [[{"node": "Loop", "type": "main", "index": 0}]]}
    return raw


class TestLoopOverItems:
    def test_the_loop_folds_into_its_chain_and_done_follows_the_last_node(self) -> None:
        result = translate(loop_workflow(node("Tag", "n8n-nodes-base.set", 1, keepOnlySet=True)))
        assert result.mode == "translated", result.reasons
        by_id = steps(result)
        assert by_id["Tag"]["depends_on"] == ["Loop"]
        assert by_id["After"]["depends_on"] == ["Tag"]
        assert result.definition["output"] == "{{ steps.Tag.output }}"

    @pytest.mark.parametrize(
        ("chain", "version", "reason"),
        [
            ([node("Check", "n8n-nodes-base.if", 2)], 3, "does not handle each item alone"),
            ([node("Pause", "n8n-nodes-base.wait", 1)], 3, "does not handle each item alone"),
            ([code_node("return items;")], 3, "does not handle each item alone"),
            ([node("Tag", "n8n-nodes-base.noOp")], 1, "version 1 (< 3)"),
        ],
    )
    def test_a_loop_whose_batches_matter_delegates(
        self, chain: list[dict[str, Any]], version: float, reason: str
    ) -> None:
        result = translate(loop_workflow(*chain, version=version))
        assert result.mode == "delegate"
        assert reason in result.reasons[0]


class TestMoreTriggers:
    def test_interval_is_a_schedule(self) -> None:
        raw = manual_then(node("Tag", "n8n-nodes-base.noOp"))
        raw["nodes"][0] = node("Start", "n8n-nodes-base.interval", 1, interval=5, unit="minutes")
        assert translate(raw).triggers == [{"type": "schedule", "interval": "5m"}]

    def test_an_imap_email_trigger_is_a_webhook_taking_the_email(self) -> None:
        raw = manual_then(set_node("Subject", s="={{ $json.subject }}"))
        raw["nodes"][0] = node("Start", "n8n-nodes-base.emailReadImap", 2)
        result = translate(raw)
        assert result.mode == "translated", result.reasons
        assert result.triggers[0]["type"] == "webhook"
        assert steps(result)["Subject"]["with"] == {"s": "{{ input.body.subject }}"}


class TestFilter:
    conditions = {
        "options": {"caseSensitive": True, "typeValidation": "strict"},
        "conditions": [
            {
                "leftValue": "={{ $json.n % 2 }}",
                "rightValue": 0,
                "operator": {"type": "number", "operation": "equals"},
            }
        ],
        "combinator": "and",
    }

    def test_what_follows_runs_when_the_item_passes(self) -> None:
        keep = node("Even", "n8n-nodes-base.filter", 2, conditions=self.conditions)
        result = translate(manual_then(keep, node("Next", "n8n-nodes-base.noOp")))
        assert result.mode == "translated", result.reasons
        by_id = steps(result)
        assert by_id["Even"]["with"] == {"result": "{{ ((steps.Even__js.output.e0) == (0)) }}"}
        assert "steps.Even.output.result" in by_id["Next"]["when"]

    def test_a_filter_ending_the_workflow_delegates(self) -> None:
        keep = node("Even", "n8n-nodes-base.filter", 2, conditions=self.conditions)
        result = translate(manual_then(keep))
        assert result.reasons == ["Filter 'Even' ends the workflow"]


class TestSetFieldTypes:
    """Set v3.3+ converts an expression's value to the field's type: what n8n 1.123.81 gave."""

    @pytest.mark.parametrize(
        ("kind", "source", "answer"),
        [
            ("string", "5", "5"),
            ("string", "({a:1})", '{"a":1}'),
            ("string", "[1,2]", "[1,2]"),
            ("string", "true", "true"),
            ("string", "null", None),
            ("string", "undefined", None),
            ("number", "'5'", 5),
            ("number", "' 7 '", 7),
            ("number", "''", 0),
            ("number", "'1e3'", 1000),
            ("number", "'0x10'", 16),
            ("number", "[3]", 3),
            ("number", "true", 1),
            ("number", "null", None),
            ("boolean", "1", True),
            ("boolean", "0", False),
            ("boolean", "'0'", False),
            ("boolean", "'FALSE'", False),
            ("boolean", "'true'", True),
            ("array", "'[1]'", [1]),
            ("object", "'{\"a\":1}'", {"a": 1}),
        ],
    )
    def test_a_value_is_converted_as_n8n_does(self, kind: str, source: str, answer: Any) -> None:
        assert self.field(kind, source) == answer

    @pytest.mark.parametrize(
        ("kind", "source"),
        [
            ("number", "'abc'"),
            ("boolean", "'yes'"),
            ("boolean", "''"),
            ("boolean", "' true '"),
            ("array", "'x'"),
            ("array", "({a:1})"),
            ("object", "[1]"),
        ],
    )
    def test_what_n8n_refuses_fails_the_step(self, kind: str, source: str) -> None:
        with pytest.raises(AssertionError, match=f"is not a {kind}"):
            self.field(kind, source)

    def test_ignoring_conversion_errors_keeps_the_value(self) -> None:
        assert self.field("number", "'abc'", lenient=True) == "abc"

    @staticmethod
    def field(kind: str, source: str, lenient: bool = False) -> Any:
        assignment = {"id": "1", "name": "f", "value": "={{ " + source + " }}", "type": kind}
        raw = node(
            "S",
            "n8n-nodes-base.set",
            3.4,
            assignments={"assignments": [assignment]},
            options={"ignoreConversionErrors": lenient},
        )
        result = translate(manual_then(raw))
        assert result.mode == "translated", result.reasons
        assert steps(result)["S"]["with"] == {"f": "{{ steps.S__js.output.e0 }}"}
        return run(steps(result)["S__js"]["with"]["code"], {"nodes": {}})["e0"]
