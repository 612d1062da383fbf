"""n8n trigger nodes to Headrace ``triggers`` and the item each gives its first nodes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from api.services.n8n.expressions import (
    Item,
    ItemRef,
    Unavailable,
    Untranslatable,
    fixed_number,
    is_expression,
    whole_number,
)
from api.services.n8n.graph import Node

MANUAL = "n8n-nodes-base.manualTrigger"
WEBHOOK = "n8n-nodes-base.webhook"
SCHEDULE = "n8n-nodes-base.scheduleTrigger"
CRON = "n8n-nodes-base.cron"
START = "n8n-nodes-base.start"
EXECUTE_WORKFLOW_TRIGGER = "n8n-nodes-base.executeWorkflowTrigger"
INTERVAL = "n8n-nodes-base.interval"
TRIGGER_TYPES = frozenset(
    {MANUAL, WEBHOOK, SCHEDULE, CRON, START, EXECUTE_WORKFLOW_TRIGGER, INTERVAL}
)
# Triggers whose type name does not end in "Trigger": a service's event, like the others.
EVENT_NODES = frozenset({"n8n-nodes-base.emailReadImap"})

# Triggers fired by n8n itself, with no outside sender to point at a Headrace webhook.
INTERNAL_TRIGGERS = frozenset(
    f"n8n-nodes-base.{kind}"
    for kind in ("errorTrigger", "n8nTrigger", "workflowTrigger", "localFileTrigger")
)

_URL_PATH = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-/.]{0,199}$")
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
_UNIT_SECONDS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}


def looks_like_trigger(node: Node) -> bool:
    """Tell whether n8n treats the node as a trigger (its type says so)."""
    kind = node.type.rsplit(".", 1)[-1]
    return (
        node.type in TRIGGER_TYPES
        or node.type in EVENT_NODES
        or kind.endswith("Trigger")
        or kind == "webhook"
    )


def trigger_item(node: Node) -> Item:
    """What ``$json`` means for the nodes right after this trigger."""
    if node.type == WEBHOOK:
        heads = {key: f"input.{key}" for key in ("body", "query", "headers")}
        return ItemRef("input", heads, what=f"the item of webhook {node.name!r}")
    if node.type in (MANUAL, START, EXECUTE_WORKFLOW_TRIGGER):
        return ItemRef("input", what=f"the item of {node.name!r}")
    if is_event_trigger(node):
        return ItemRef("input.body", what=f"the event of trigger {node.name!r}")
    return Unavailable(f"the item of trigger {node.name!r} (its timestamp fields) has no equal")


def convert_trigger(
    node: Node, settings: Mapping[str, Any]
) -> tuple[list[dict[str, Any]], list[str]]:
    """The Headrace triggers for an n8n trigger node, and notes for the user.

    Raises:
        Untranslatable: For a trigger type or setting Headrace has no equal for.
    """
    if node.type in (MANUAL, START, EXECUTE_WORKFLOW_TRIGGER):
        return ([{"type": "manual"}] if node.type != EXECUTE_WORKFLOW_TRIGGER else []), []
    if node.type == WEBHOOK:
        return _webhook(node)
    timezone = settings.get("timezone")
    extra = {"timezone": timezone} if isinstance(timezone, str) and timezone != "DEFAULT" else {}
    if node.type == SCHEDULE:
        return [{"type": "schedule", **spec, **extra} for spec in _schedule_rules(node)], []
    if node.type == CRON:
        return [{"type": "schedule", **spec, **extra} for spec in _cron_times(node)], []
    if node.type == INTERVAL:
        unit = str(node.param("unit", "seconds"))
        if unit not in ("seconds", "minutes", "hours"):
            raise Untranslatable(f"interval {node.name!r}: unit {unit!r}")
        every = whole_number(node.param("interval", 1), 1, f"interval {node.name!r}")
        if every < 1:
            raise Untranslatable(f"interval {node.name!r} is not positive")
        return [{"type": "schedule", "interval": f"{every}{unit[0]}"}], []
    if is_event_trigger(node):
        return [{"type": "webhook", "method": "POST", "authentication": {"type": "header"}}], [
            f"trigger {node.name!r} ({node.type}) has no Headrace equal: it becomes a webhook"
            " (POST, header auth X-Headrace-Token) whose request body is the event; point the"
            " sender (or a relay) at it"
        ]
    raise Untranslatable(f"trigger {node.name!r} ({node.type}) has no Headrace trigger")


def is_event_trigger(node: Node) -> bool:
    """A service's trigger (Telegram, a form, Gmail...): its event can be posted to Headrace."""
    kind = node.type.rsplit(".", 1)[-1]
    return node.type in EVENT_NODES or (
        kind.endswith("Trigger")
        and node.type not in TRIGGER_TYPES
        and node.type not in INTERNAL_TRIGGERS
        and node.type not in (SCHEDULE, CRON)
    )


def _webhook(node: Node) -> tuple[list[dict[str, Any]], list[str]]:
    notes: list[str] = []
    method = str(node.param("httpMethod", "GET")).upper()
    if node.param("multipleMethods") or method not in _METHODS:
        raise Untranslatable(f"webhook {node.name!r} answers method {method}")
    trigger: dict[str, Any] = {"type": "webhook", "method": method}
    path = node.param("path", "")
    if isinstance(path, str) and _URL_PATH.match(path):
        trigger["url_path"] = path
    else:
        notes.append(f"webhook {node.name!r}: path {path!r} is not a valid Headrace path")
    auth = node.param("authentication", "none")
    # Said explicitly either way: a Headrace webhook never gets `none` by omission.
    trigger["authentication"] = {"type": "none"}
    if auth != "none":
        trigger["authentication"] = {"type": "header"}
        notes.append(
            f"webhook {node.name!r} used n8n {auth}: it now takes Headrace header auth"
            " (X-Headrace-Token) with a new secret"
        )
    return [trigger], notes


def _schedule_rules(node: Node) -> list[dict[str, Any]]:
    rule = node.param("rule", {}) or {}
    intervals = rule.get("interval", [{}]) if isinstance(rule, Mapping) else None
    if not isinstance(intervals, list) or not intervals:
        raise Untranslatable(f"schedule {node.name!r} has no rule")
    return [_schedule_rule(node, r if isinstance(r, Mapping) else {}) for r in intervals]


def _schedule_rule(node: Node, rule: Mapping[str, Any]) -> dict[str, Any]:
    if any(is_expression(v) for v in rule.values()):
        raise Untranslatable(f"schedule {node.name!r} computes its rule with an expression")
    kind = rule.get("field", "days")

    def number(key: str, default: int) -> int:
        return whole_number(rule.get(key), default, f"schedule {node.name!r}: {key}")

    minute, hour = number("triggerAtMinute", 0), number("triggerAtHour", 0)
    if kind == "cronExpression":
        return {"cron": _five_field_cron(str(rule.get("expression", "")), node)}
    if kind in ("seconds", "minutes"):
        every = number(f"{kind}Interval", 30 if kind == "seconds" else 5)
        return {"interval": f"{every}{kind[0]}"}
    if kind == "hours":
        every = number("hoursInterval", 1)
        return {"cron": f"{minute} {'*' if every == 1 else f'*/{every}'} * * *"}
    if kind == "days":
        every = number("daysInterval", 1)
        return {"cron": f"{minute} {hour} {'*' if every == 1 else f'*/{every}'} * *"}
    if kind == "weeks" and number("weeksInterval", 1) == 1:
        days = rule.get("triggerAtDay", [0]) or [0]
        if not isinstance(days, list):
            raise Untranslatable(f"schedule {node.name!r}: triggerAtDay is not a list")
        week = (str(whole_number(d, 0, f"schedule {node.name!r}: a weekday")) for d in days)
        return {"cron": f"{minute} {hour} * * {','.join(week)}"}
    if kind == "months":
        every = number("monthsInterval", 1)
        day = number("triggerAtDayOfMonth", 1)
        return {"cron": f"{minute} {hour} {day} {'*' if every == 1 else f'*/{every}'} *"}
    raise Untranslatable(f"schedule {node.name!r}: rule {kind!r} has no cron equal")


def _five_field_cron(expression: str, node: Node) -> str:
    fields = expression.split()
    if len(fields) == 6 and fields[0] == "0":
        fields = fields[1:]  # n8n's optional leading seconds field, at second 0
    if len(fields) != 5:
        raise Untranslatable(f"cron {expression!r} of {node.name!r} needs seconds precision")
    return " ".join(fields)


def _cron_times(node: Node) -> list[dict[str, Any]]:
    times = (node.param("triggerTimes", {}) or {}).get("item", [])
    if not isinstance(times, list) or not times:
        raise Untranslatable(f"cron {node.name!r} has no trigger times")
    return [_cron_time(node, t if isinstance(t, Mapping) else {}) for t in times]


def _cron_time(node: Node, item: Mapping[str, Any]) -> dict[str, Any]:
    mode = item.get("mode", "everyDay")

    def number(key: str, default: int) -> int:
        return whole_number(item.get(key), default, f"cron {node.name!r}: {key}")

    minute, hour = number("minute", 0), number("hour", 14)
    if mode == "everyMinute":
        return {"cron": "* * * * *"}
    if mode == "everyHour":
        return {"cron": f"{minute} * * * *"}
    if mode == "everyDay":
        return {"cron": f"{minute} {hour} * * *"}
    if mode == "everyWeek":
        return {"cron": f"{minute} {hour} * * {number('weekday', 1)}"}
    if mode == "everyMonth":
        return {"cron": f"{minute} {hour} {number('dayOfMonth', 1)} * *"}
    if mode == "everyX" and item.get("unit", "hours") in ("minutes", "hours"):
        return {"interval": f"{number('value', 2)}{str(item.get('unit', 'hours'))[0]}"}
    if mode == "custom":
        return {"cron": _five_field_cron(str(item.get("cronExpression", "")), node)}
    raise Untranslatable(f"cron {node.name!r}: mode {mode!r} has no equal")


def duration_text(amount: float, unit: str, where: str) -> str:
    """``amount`` ``unit``s as a Headrace duration (``"90s"``, ``"1500ms"``)."""
    if unit not in _UNIT_SECONDS:
        raise Untranslatable(f"{where}: unit {unit!r} has no fixed length")
    milliseconds = round(
        fixed_number(amount, 0, f"{where}: the amount") * _UNIT_SECONDS[unit] * 1000
    )
    if milliseconds <= 0:
        raise Untranslatable(f"{where}: the duration is not positive")
    return f"{milliseconds // 1000}s" if milliseconds % 1000 == 0 else f"{milliseconds}ms"
