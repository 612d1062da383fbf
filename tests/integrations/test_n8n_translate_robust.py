"""The translator never crashes: every export it cannot read becomes a delegation reason.

The crash classes come from running the translator over public n8n exports (issue 17); each
has a test that failed on the code before the fix. A property test then throws generated and
mutated exports at it: the only exception allowed is :class:`MalformedWorkflow`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.services.n8n.translate import MalformedWorkflow, translate_workflow
from temporal_workflows.validation import validate_definition
from tests.integrations.fake_n8n import FIXTURES
from tests.integrations.test_n8n_translate import chain, manual_then, node, set_node

SCHEDULE = "n8n-nodes-base.scheduleTrigger"
WEBHOOK = "n8n-nodes-base.webhook"


def translate(raw: Any) -> Any:
    result = translate_workflow(raw, n8n_id="w1", integration="n8n-main", workflow_ids={})
    validate_definition(result.definition)
    return result


class TestCrashesFoundOnPublicExports:
    def test_a_node_fed_by_a_webhook_and_another_trigger(self) -> None:
        raw = {
            "nodes": [
                node("Hook", WEBHOOK, 2, httpMethod="POST", path="in"),
                node("Start", "n8n-nodes-base.manualTrigger"),
                set_node("Reply", n=1),
            ],
            "connections": {**chain("Hook", "Reply"), **chain("Start", "Reply")},
        }
        result = translate(raw)
        assert result.mode == "translated", result.reasons
        assert [s["id"] for s in result.definition["steps"]] == ["Reply"]

    def test_a_credential_stored_as_plain_text(self) -> None:
        http = node(
            "Call",
            "n8n-nodes-base.httpRequest",
            4.2,
            url="https://api.example.com/items",
            authentication="genericCredentialType",
            genericAuthType="httpBasicAuth",
        )
        http["credentials"] = {"httpBasicAuth": "n8n Creds"}
        result = translate(manual_then(http))
        assert result.mode == "translated", result.reasons
        assert result.definition["steps"][0]["with"]["connection"] == "n8n-creds"

    def test_a_schedule_with_a_null_minute(self) -> None:
        rule = {"interval": [{"field": "hours", "triggerAtMinute": None}]}
        raw = {
            "nodes": [node("Every hour", SCHEDULE, 1.2, rule=rule), set_node("Tick", n=1)],
            "connections": chain("Every hour", "Tick"),
        }
        assert translate(raw).triggers == [{"type": "schedule", "cron": "0 * * * *"}]

    def test_a_schedule_with_a_minute_that_is_not_a_number(self) -> None:
        rule = {"interval": [{"field": "hours", "triggerAtMinute": "soon"}]}
        raw = {
            "nodes": [node("Every hour", SCHEDULE, 1.2, rule=rule), set_node("Tick", n=1)],
            "connections": chain("Every hour", "Tick"),
        }
        result = translate(raw)
        assert result.mode == "delegate"
        assert "'soon'" in result.reasons[0]

    def test_a_respond_to_webhook_status_from_an_expression(self) -> None:
        respond = node(
            "Answer",
            "n8n-nodes-base.respondToWebhook",
            1.1,
            respondWith="noData",
            options={"responseCode": "={{ $json.code }}"},
        )
        result = translate(manual_then(respond))
        assert result.mode == "delegate"
        assert "status code" in result.reasons[0]

    def test_a_wait_amount_that_is_not_a_number(self) -> None:
        wait = node("Pause", "n8n-nodes-base.wait", 1.1, amount="a while", unit="minutes")
        result = translate(manual_then(wait))
        assert result.mode == "delegate"
        assert "'a while'" in result.reasons[0]


# --- generated and mutated exports ---------------------------------------------------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
_TYPES = st.sampled_from(
    [
        "n8n-nodes-base.httpRequest",
        "n8n-nodes-base.set",
        "n8n-nodes-base.if",
        "n8n-nodes-base.switch",
        "n8n-nodes-base.merge",
        "n8n-nodes-base.wait",
        "n8n-nodes-base.respondToWebhook",
        "n8n-nodes-base.executeWorkflow",
        "n8n-nodes-base.noOp",
        "n8n-nodes-base.code",
        WEBHOOK,
        SCHEDULE,
        "n8n-nodes-base.cron",
        "n8n-nodes-base.manualTrigger",
        "n8n-nodes-base.telegramTrigger",
    ]
)
_NAMES = st.sampled_from(["A", "B", "C", "D"])


@st.composite
def _node(draw: st.DrawFn) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "name": draw(_NAMES),
        "type": draw(_TYPES),
        "typeVersion": draw(st.sampled_from([1, 2, 2.1, 3, 3.4, 4.2]) | _JSON),
        "parameters": draw(st.dictionaries(st.sampled_from(_PARAMETERS), _JSON, max_size=4)),
    }
    for key in ("credentials", "onError", "disabled", "retryOnFail", "maxTries"):
        if draw(st.booleans()):
            raw[key] = draw(_JSON)
    return raw


_PARAMETERS = [
    "url", "method", "authentication", "options", "rule", "triggerTimes", "amount", "unit",
    "resume", "respondWith", "responseBody", "mode", "assignments", "values", "keepOnlySet",
    "conditions", "rules", "path", "httpMethod", "sendBody", "jsonBody", "workflowId",
    "includeOtherFields", "fallbackOutput",
]  # fmt: skip


@st.composite
def _connections(draw: st.DrawFn) -> dict[str, Any]:
    edge = st.fixed_dictionaries(
        {"node": _NAMES | _JSON, "type": st.just("main"), "index": st.integers(-1, 2) | _JSON}
    )
    outputs = st.lists(st.lists(edge, max_size=3) | st.none() | _JSON, max_size=3)
    return draw(st.dictionaries(_NAMES, st.fixed_dictionaries({"main": outputs}) | _JSON))


@st.composite
def _export(draw: st.DrawFn) -> Any:
    return {
        "name": draw(st.text(max_size=5)),
        "nodes": draw(st.lists(_node() | _JSON, max_size=5)),
        "connections": draw(_connections()),
        "settings": draw(_JSON),
        "active": draw(st.booleans()),
    }


def _survives(raw: Any) -> None:
    try:
        result = translate_workflow(raw, n8n_id="w1", integration="n8n-main", workflow_ids={})
    except MalformedWorkflow:
        return
    assert result.mode in ("translated", "delegate")
    if result.mode == "delegate":
        assert result.reasons or result.notes


class TestNeverCrashes:
    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(_export())
    def test_generated_exports(self, raw: Any) -> None:
        _survives(raw)

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        st.sampled_from(sorted([*FIXTURES.glob("*.json"), *FIXTURES.glob("corpus/*.json")])),
        st.lists(
            st.tuples(st.integers(0, 50), st.sampled_from(["drop", "null", "swap"]), _JSON),
            max_size=4,
        ),
    )
    def test_mutated_real_exports(self, path: Path, mutations: list[Any]) -> None:
        raw = json.loads(path.read_text(encoding="utf-8"))
        for position, action, value in mutations:
            _mutate(raw, position, action, value)
        _survives(raw)

    def test_anything_at_the_top_level(self) -> None:
        raws: list[Any] = [None, 1, "x", [], {"nodes": None}, {"nodes": [None], "connections": []}]
        for raw in raws:
            _survives(raw)


def _mutate(raw: Any, position: int, action: str, value: Any) -> None:
    """Change one value somewhere in ``raw`` (the ``position``-th container met depth first)."""
    containers: list[Any] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict | list):
            containers.append(value)
            for child in value.values() if isinstance(value, dict) else value:
                walk(child)

    walk(raw)
    target = containers[position % len(containers)]
    keys = list(target) if isinstance(target, dict) else list(range(len(target)))
    if not keys:
        return
    key = keys[position % len(keys)]
    if action == "drop":
        del target[key]
    elif action == "null":
        target[key] = None
    else:
        target[key] = value
