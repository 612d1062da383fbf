"""n8n's condition filter (IF v2+, Switch v3+) to one Jinja boolean expression.

A filter is ``{"conditions": [{"leftValue", "rightValue", "operator": {"type",
"operation"}}], "combinator": "and" | "or"}``. Each supported operation maps to one Jinja
expression with the same result for values of the operator's type; the others (regular
expressions, dates, objects beyond emptiness) are untranslatable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from api.services.n8n.expressions import ItemResolver, Untranslatable, translate_operand

_COMPARE = {"equals": "==", "notEquals": "!=", "gt": ">", "lt": "<", "gte": ">=", "lte": "<="}
_STRING = {
    "contains": "({r}) in ({l})",
    "notContains": "({r}) not in ({l})",
    "startsWith": "({l}).startswith({r})",
    "notStartsWith": "not ({l}).startswith({r})",
    "endsWith": "({l}).endswith({r})",
    "notEndsWith": "not ({l}).endswith({r})",
}
_PRESENCE = {
    "exists": "(({l}) | default(none)) is not none",
    "notExists": "(({l}) | default(none)) is none",
    "empty": "(({l}) | default(none)) in [none, '']",
    "notEmpty": "(({l}) | default(none)) not in [none, '']",
}
_ARRAY = {
    "contains": "({r}) in ({l})",
    "notContains": "({r}) not in ({l})",
    "empty": "(({l}) | default([])) | length == 0",
    "notEmpty": "(({l}) | default([])) | length > 0",
    "lengthEquals": "({l}) | length == ({r})",
    "lengthNotEquals": "({l}) | length != ({r})",
    "lengthGt": "({l}) | length > ({r})",
    "lengthLt": "({l}) | length < ({r})",
    "lengthGte": "({l}) | length >= ({r})",
    "lengthLte": "({l}) | length <= ({r})",
}


def filter_condition(
    filter_value: Any, items: ItemResolver, ignore_case: bool, node_name: str
) -> str:
    """The Jinja expression of a whole filter.

    Raises:
        Untranslatable: For an operation without an exact equal, or a malformed filter.
    """
    if not isinstance(filter_value, Mapping):
        raise Untranslatable(f"{node_name!r} has no conditions")
    conditions = filter_value.get("conditions", [])
    combinator = filter_value.get("combinator", "and")
    if combinator not in ("and", "or") or not isinstance(conditions, list) or not conditions:
        raise Untranslatable(f"{node_name!r} has no usable conditions")
    parts = [_one(c, items, ignore_case, node_name) for c in conditions]
    return f" {combinator} ".join(f"({p})" for p in parts)


def _one(condition: Any, items: ItemResolver, ignore_case: bool, node_name: str) -> str:
    if not isinstance(condition, Mapping):
        raise Untranslatable(f"{node_name!r} has a malformed condition")
    operator = condition.get("operator") or {}
    kind, operation = operator.get("type", "string"), operator.get("operation", "equals")
    left = translate_operand(condition.get("leftValue", ""), items)
    right_raw = condition.get("rightValue", "")
    if kind == "number" and isinstance(right_raw, str) and not right_raw.startswith("="):
        right_raw = _number(right_raw, node_name)
    right = translate_operand(right_raw, items)
    if kind in ("string", "number", "boolean") and operation in _PRESENCE:
        return _PRESENCE[operation].format(l=left)
    if kind == "string" and ignore_case:
        left, right = f"({left}) | lower", f"({right}) | lower"
    if kind in ("string", "number") and operation in _COMPARE:
        if kind == "string" and operation not in ("equals", "notEquals"):
            raise Untranslatable(f"{node_name!r} compares strings by order")
        return f"({left}) {_COMPARE[operation]} ({right})"
    if kind == "string" and operation in _STRING:
        return _STRING[operation].format(l=left, r=right)
    if kind == "boolean":
        return _boolean(operation, left, right, node_name)
    if kind == "array" and operation in _ARRAY:
        return _ARRAY[operation].format(l=left, r=right)
    if kind == "object" and operation in ("empty", "notEmpty", "exists", "notExists"):
        if operation in ("exists", "notExists"):
            return _PRESENCE[operation].format(l=left)
        size = "== 0" if operation == "empty" else "> 0"
        return f"(({left}) | default({{}})) | length {size}"
    raise Untranslatable(f"{node_name!r}: the {kind} operation {operation!r} has no exact equal")


def _boolean(operation: str, left: str, right: str, node_name: str) -> str:
    if operation == "true":
        return f"({left}) is sameas true"
    if operation == "false":
        return f"({left}) is sameas false"
    if operation in ("equals", "notEquals"):
        return f"({left}) {_COMPARE[operation]} ({right})"
    raise Untranslatable(f"{node_name!r}: the boolean operation {operation!r} has no exact equal")


def _number(text: str, node_name: str) -> int | float | str:
    if text.strip() == "":
        return text
    try:
        number = float(text)
    except ValueError as exc:
        raise Untranslatable(f"{node_name!r} compares a number with {text!r}") from exc
    return int(number) if number.is_integer() and "." not in text else number
