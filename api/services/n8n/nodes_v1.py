"""The first versions of IF (v1), Switch (v1, v2) and HTTP Request (v1, v2).

Their parameters differ from the later versions (see n8n's ``nodes/If/V1``, ``Switch/V1``,
``Switch/V2`` and ``HttpRequest/V1``, ``V2``); what they do is reproduced exactly where it
can be:

* IF v1 / Switch v1 and v2 compare with JavaScript: ``equal`` is ``===``; ``larger``… read
  ``(a || 0) > (b || 0)``; ``contains`` reads ``(a || '').toString().includes(…)``;
  ``startsWith``/``endsWith`` call the string method; IF's ``isEmpty`` is true for
  ``undefined``, ``null``, ``''`` and empty objects and arrays. Regular expressions and
  dates have no exact equal.
* HTTP Request v1 and v2 send the key-value pairs of the UI (header names lower-cased, as
  n8n sends them) or JSON given as literal text, with a JSON (or form) body, and read the
  response as JSON. Full responses, files, text, raw bodies, proxies, binary data,
  ``ignoreResponseCode`` and splitting into items have no exact equal.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from api.services.n8n.conditions import filter_condition
from api.services.n8n.expressions import (
    Item,
    ItemList,
    ItemRef,
    ItemResolver,
    Unavailable,
    Untranslatable,
    is_expression,
    literal_text,
    translate_operand,
    whole_number,
)
from api.services.n8n.graph import Node
from api.services.n8n.nodes import (
    HANDLERS as CURRENT_HANDLERS,
)
from api.services.n8n.nodes import (
    Handler,
    NodeContext,
    StepSpec,
    header_text,
    http_connection,
)
from api.services.n8n.triggers import duration_text

_TRUTHY_OR_ZERO = "(({v}) or 0)"
_TEXT = "((({v}) or '') | string)"
_COMPARE = {
    "equal": "({l}) == ({r})",
    "notEqual": "({l}) != ({r})",
    "larger": f"{_TRUTHY_OR_ZERO.format(v='{l}')} > {_TRUTHY_OR_ZERO.format(v='{r}')}",
    "largerEqual": f"{_TRUTHY_OR_ZERO.format(v='{l}')} >= {_TRUTHY_OR_ZERO.format(v='{r}')}",
    "smaller": f"{_TRUTHY_OR_ZERO.format(v='{l}')} < {_TRUTHY_OR_ZERO.format(v='{r}')}",
    "smallerEqual": f"{_TRUTHY_OR_ZERO.format(v='{l}')} <= {_TRUTHY_OR_ZERO.format(v='{r}')}",
    "contains": f"{_TEXT.format(v='{r}')} in {_TEXT.format(v='{l}')}",
    "notContains": f"{_TEXT.format(v='{r}')} not in {_TEXT.format(v='{l}')}",
    "startsWith": "({l}).startswith({r})",
    "notStartsWith": "not ({l}).startswith({r})",
    "endsWith": "({l}).endswith({r})",
    "notEndsWith": "not ({l}).endswith({r})",
}
_EMPTY = (
    "(({v}) | default(none)) in [none, '']"
    " or ((({v}) is mapping or (({v}) is sequence and ({v}) is not string))"
    " and ({v}) | length == 0)"
)
# The operations each data type offers (n8n's option lists), and each type's default.
_OPERATIONS = {
    "boolean": ({"equal", "notEqual"}, "equal", False),
    "number": (
        {"smaller", "smallerEqual", "equal", "notEqual", "larger", "largerEqual"},
        "smaller",
        0,
    ),
    "string": (
        {"contains", "notContains", "endsWith", "notEndsWith", "equal", "notEqual"}
        | {"startsWith", "notStartsWith"},
        "equal",
        "",
    ),
}
_IF_ONLY = {"isEmpty", "isNotEmpty"}  # IF v1 offers these for numbers and strings
_HTTP_V1_OPTIONS = frozenset(
    {"timeout", "followRedirect", "followAllRedirects", "bodyContentType", "batchSize"}
    | {"batchInterval"}
)
_HTTP_V1_AUTH = {
    "basicAuth": "httpBasicAuth",
    "headerAuth": "httpHeaderAuth",
    "queryAuth": "httpQueryAuth",
    "oAuth2": "oAuth2Api",
}


def compare(kind: str, operation: str, left: str, right: str, where: str, *, is_if: bool) -> str:
    """One v1 comparison as a Jinja boolean expression.

    Raises:
        Untranslatable: Dates, regular expressions, an unknown type or operation.
    """
    if kind not in _OPERATIONS:
        raise Untranslatable(f"{where}: comparing {kind} values has no exact equal")
    allowed = _OPERATIONS[kind][0] | (_IF_ONLY if is_if and kind != "boolean" else set())
    if operation not in allowed:
        raise Untranslatable(f"{where}: the {kind} operation {operation!r} has no exact equal")
    if operation == "isEmpty":
        return _EMPTY.format(v=left)
    if operation == "isNotEmpty":
        return f"not ({_EMPTY.format(v=left)})"
    return _COMPARE[operation].format(l=left, r=right)


def _operand(value: Any, items: ItemResolver) -> str:
    return translate_operand(value, items)


# --- IF v1 ----------------------------------------------------------------------------------


def if_v1(ctx: NodeContext) -> StepSpec:
    """IF v1: conditions grouped by type, checked in n8n's order, combined by ALL or ANY."""
    node = ctx.node
    combine = node.param("combineOperation", "all")
    if combine not in ("all", "any"):
        raise Untranslatable(f"IF {node.name!r} combines its conditions with {combine!r}")
    conditions = node.param("conditions", {}) or {}
    if not isinstance(conditions, Mapping):
        raise Untranslatable(f"IF {node.name!r} has malformed conditions")
    if conditions.get("dateTime"):
        raise Untranslatable(f"IF {node.name!r} compares dates")
    parts: list[str] = []
    for kind in ("boolean", "number", "string"):  # n8n's order (after dateTime)
        _, default_operation, default_value = _OPERATIONS[kind]
        for entry in conditions.get(kind) or []:
            left = _operand(entry.get("value1", default_value), ctx.items)
            right = _operand(entry.get("value2", default_value), ctx.items)
            operation = str(entry.get("operation", default_operation))
            parts.append(compare(kind, operation, left, right, f"IF {node.name!r}", is_if=True))
    if not parts:
        expression = "true" if combine == "all" else "false"
    else:
        expression = f" {'and' if combine == 'all' else 'or'} ".join(f"({p})" for p in parts)
    return StepSpec("transform", {"result": "{{ " + expression + " }}"}, branch="if")


# --- Switch v1, v2 --------------------------------------------------------------------------


def switch_v1_v2(ctx: NodeContext) -> StepSpec:
    """Switch v1/v2: one value against rules in order; the first match picks the output."""
    node = ctx.node
    if node.param("mode", "rules") == "expression":
        return StepSpec(
            "transform", {"output": ctx.value(node.param("output", 0))}, branch="switch"
        )
    kind = str(node.param("dataType", "number"))
    if kind not in _OPERATIONS:
        raise Untranslatable(f"Switch {node.name!r} compares {kind} values")
    _, default_operation, default_value = _OPERATIONS[kind]
    left = _operand(node.param("value1", default_value), ctx.items)
    rules = (node.param("rules", {}) or {}).get("rules", []) or []
    fallback = node.param("fallbackOutput", -1)
    if is_expression(fallback) or not isinstance(fallback, int):
        raise Untranslatable(f"Switch {node.name!r}: its fallback output is not fixed")
    if node.version >= 2 and fallback >= len(rules):
        raise Untranslatable(f"Switch {node.name!r}: fallback output {fallback} does not exist")
    expression = str(fallback)
    for index in reversed(range(len(rules))):
        rule = rules[index]
        output = rule.get("output", 0) if node.version < 2 else index  # v2: rule order
        if not isinstance(output, int):
            raise Untranslatable(f"Switch {node.name!r}: rule {index + 1}'s output is not fixed")
        right = _operand(rule.get("value2", default_value), ctx.items)
        operation = str(rule.get("operation", default_operation))
        condition = compare(kind, operation, left, right, f"Switch {node.name!r}", is_if=False)
        expression = f"{output} if ({condition}) else ({expression})"
    return StepSpec("transform", {"output": "{{ " + expression + " }}"}, branch="switch")


# --- HTTP Request v1, v2 --------------------------------------------------------------------


def http_v1_v2(ctx: NodeContext) -> StepSpec:
    """HTTP Request v1/v2 with a JSON response."""
    node = ctx.node
    method = str(node.param("requestMethod", "GET")).upper()
    params: dict[str, Any] = {"method": method}
    if node.param("responseFormat", "json") != "json":
        raise Untranslatable(f"HTTP Request {node.name!r} reads the response as a file or text")
    if node.param("allowUnauthorizedCerts", False):
        raise Untranslatable(f"HTTP Request {node.name!r} ignores TLS certificate errors")
    if node.param("sendBinaryData", False):
        raise Untranslatable(f"HTTP Request {node.name!r} sends binary data")
    options = node.param("options", {}) or {}
    _options(node.name, method, options, params)
    target = ctx.value(node.param("url", ""))
    _target(ctx, target, params)
    parts = _json_parameters(ctx) if node.param("jsonParameters", False) else _ui_parameters(ctx)
    for key in ("query", "headers"):
        if key in parts:
            params[key] = parts[key]
    if "body" in parts and method in ("PATCH", "POST", "PUT"):
        if options.get("bodyContentType", "json") == "form-urlencoded":
            params["form"] = parts["body"]
        else:
            params["json"] = parts["body"]
    elif "body" in parts:
        raise Untranslatable(f"HTTP Request {node.name!r} sends a body with {method}")
    item = ItemRef(f"steps.{ctx.step_id}.output.body", what=f"the response of {node.name!r}")
    return StepSpec("http", params, item=item)


def _options(name: str, method: str, options: Mapping[str, Any], params: dict[str, Any]) -> None:
    unknown = {k for k, v in options.items() if v not in (False, None)} - _HTTP_V1_OPTIONS
    if unknown:
        raise Untranslatable(f"HTTP Request {name!r} uses {', '.join(sorted(unknown))}")
    if options.get("bodyContentType", "json") not in ("json", "form-urlencoded"):
        raise Untranslatable(f"HTTP Request {name!r} sends a {options['bodyContentType']} body")
    # n8n follows redirects of GET and HEAD unless told not to, of other methods only
    # with "follow all redirects"
    follows = options.get("followAllRedirects") or (
        method in ("GET", "HEAD") and options.get("followRedirect", True) is not False
    )
    if not follows:
        params["follow_redirects"] = False
    timeout = options.get("timeout")
    if isinstance(timeout, int | float):
        params["timeout"] = duration_text(timeout / 1000, "seconds", name)


def _target(ctx: NodeContext, target: Any, params: dict[str, Any]) -> None:
    node = ctx.node
    authentication = node.param("authentication", "none")
    if authentication == "none":
        params["url"] = target
        return
    if node.version < 2 and authentication not in _HTTP_V1_AUTH:
        raise Untranslatable(f"HTTP Request {node.name!r} authenticates with {authentication}")
    if node.version >= 2 and authentication not in (
        "predefinedCredentialType",
        "genericCredentialType",
    ):
        raise Untranslatable(f"HTTP Request {node.name!r} authenticates with {authentication}")
    if node.version >= 2 and node.param("genericAuthType", "") in (
        "httpDigestAuth",
        "oAuth1Api",
        "httpCustomAuth",
    ):
        raise Untranslatable(f"HTTP Request {node.name!r} uses an auth Headrace has no equal for")
    http_connection(ctx, target, params)


def _ui_parameters(ctx: NodeContext) -> dict[str, dict[str, Any]]:
    """The key-value pairs of the UI: names are fixed, values may be templates."""
    node = ctx.node
    result: dict[str, dict[str, Any]] = {}
    for param, key in (
        ("queryParametersUi", "query"),
        ("headerParametersUi", "headers"),
        ("bodyParametersUi", "body"),
    ):
        pairs = (node.param(param, {}) or {}).get("parameter")
        if pairs is None:
            continue
        values: dict[str, Any] = {}
        for pair in pairs:
            name = literal_text(pair.get("name", ""))
            if is_expression(name) or not isinstance(name, str):
                raise Untranslatable(f"HTTP Request {node.name!r}: a {key} name is not fixed")
            if key == "headers":
                name = name.lower()  # as n8n sends them
            if name in values:
                # n8n makes a repeated query name a list and keeps the last header or field
                raise Untranslatable(f"HTTP Request {node.name!r} repeats {key} {name!r}")
            value = ctx.value(pair.get("value", ""))
            values[name] = header_text(value) if key == "headers" else value
        result[key] = values
    return result


def _json_parameters(ctx: NodeContext) -> dict[str, Any]:
    """Query, headers and body given as JSON text: only literal JSON objects are exact."""
    node = ctx.node
    result: dict[str, Any] = {}
    for param, key in (
        ("queryParametersJson", "query"),
        ("headerParametersJson", "headers"),
        ("bodyParametersJson", "body"),
    ):
        raw = node.param(param, "")
        if raw == "":
            continue
        if is_expression(raw):
            raise Untranslatable(f"HTTP Request {node.name!r} builds its {key} from a template")
        try:
            value = json.loads(literal_text(raw))
        except ValueError as exc:
            raise Untranslatable(f"HTTP Request {node.name!r}: its {key} is not JSON") from exc
        if key != "body" and not isinstance(value, dict):
            raise Untranslatable(f"HTTP Request {node.name!r}: its {key} is not a JSON object")
        result[key] = value
    return result


# --- list nodes on the translation's one item --------------------------------------------
# The translation passes one item from node to node (docs/integrations.md), and on one item
# these nodes are exact: sorting, limiting (to at least one) or de-duplicating it keeps it.


def filter_node(ctx: NodeContext) -> StepSpec:
    """Filter v2+: the item goes on when the conditions hold (like IF's true output)."""
    node = ctx.node
    if node.version < 2:
        raise Untranslatable(f"Filter {node.name!r} version {node.version:g} (< 2)")
    conditions = node.param("conditions", {})
    options = node.param("options", {}) or {}
    ignore_case = bool(options.get("ignoreCase")) or not _case_sensitive(conditions)
    condition = filter_condition(conditions, ctx.items, ignore_case, node.name)
    return StepSpec("transform", {"result": "{{ " + condition + " }}"}, branch="if")


def _case_sensitive(filter_value: Any) -> bool:
    options = filter_value.get("options", {}) if isinstance(filter_value, Mapping) else {}
    return bool((options or {}).get("caseSensitive", True))


def limit_node(ctx: NodeContext) -> StepSpec:
    node = ctx.node
    where = f"Limit {node.name!r}: max items"
    if whole_number(node.param("maxItems", 1), 1, where) < 1:
        raise Untranslatable(f"Limit {node.name!r} keeps no item")
    return StepSpec("transform", {})


def sort_node(ctx: NodeContext) -> StepSpec:
    return StepSpec("transform", {})


def remove_duplicates_node(ctx: NodeContext) -> StepSpec:
    node = ctx.node
    operation = node.param("operation", "removeDuplicateInputItems")
    if operation != "removeDuplicateInputItems":
        raise Untranslatable(f"Remove Duplicates {node.name!r} compares with earlier runs")
    return StepSpec("transform", {})


def aggregate_node(ctx: NodeContext) -> StepSpec:
    """Aggregate all item data into one list field (a list of the one item)."""
    node = ctx.node
    if node.param("aggregate", "aggregateIndividualFields") != "aggregateAllItemData":
        raise Untranslatable(f"Aggregate {node.name!r} aggregates individual fields")
    if node.param("include", "allFields") != "allFields":
        raise Untranslatable(f"Aggregate {node.name!r} keeps some fields only")
    destination = literal_text(node.param("destinationFieldName", "data"))
    if not isinstance(destination, str) or is_expression(destination) or not destination:
        raise Untranslatable(f"Aggregate {node.name!r}: its field name is not fixed")
    item = ItemRef(f"steps.{ctx.step_id}.output", what=f"the item of {node.name!r}")
    listed = ctx.items_list
    every = "{{ " + listed.base + " }}" if listed is not None else [ctx.current_template()]
    return StepSpec("transform", {destination: every}, item=item)


def item_lists_node(ctx: NodeContext) -> StepSpec:
    """Item Lists (before Sort, Limit... were nodes of their own)."""
    node = ctx.node
    operation = node.param("operation", "splitOutItems")
    if operation in ("sort", "removeDuplicates"):
        return StepSpec("transform", {})
    if operation == "limit":
        return limit_node(ctx)
    raise Untranslatable(f"Item Lists {node.name!r}: operation {operation!r}")


# --- several items: Split Out, then nodes once per item, then a node gathering them ----------

SPLIT_OUT = "n8n-nodes-base.splitOut"
_PER_ITEM = frozenset(
    {
        "n8n-nodes-base.set",
        "n8n-nodes-base.httpRequest",
        "n8n-nodes-base.noOp",
        "n8n-nodes-base.functionItem",
        "n8n-nodes-base.splitInBatches",
    }
)

# n8n's Split Out, "no other fields": each object of the list is an item, a text, number or
# boolean becomes {<field as written>: value} (both seen from n8n 1.123). The translation
# refuses at run time what it has not checked against n8n: a value that is not a list, null
# or list elements, and an empty list (n8n stops the branch there).
_SPLIT_OUT = r"""let value = input.json;
for (const key of input.path) {
  value = value === null || value === undefined ? undefined : value[key];
}
if (!Array.isArray(value) || value.length === 0) {
  throw new Error("Split Out: field '" + input.field + "' is " +
    (Array.isArray(value) ? "an empty list (n8n stops the branch here)" : "not a list") +
    "; the translation splits non-empty lists only");
}
return value.map((element) => {
  if (element === null || Array.isArray(element)) {
    throw new Error("Split Out: an element of '" + input.field + "' is null or a list," +
      " which the translation does not split");
  }
  return typeof element === "object" ? element : { [input.field]: element };
});"""


def split_out(ctx: NodeContext) -> StepSpec:
    """Split Out of one list field: a code step giving the items, one per element."""
    node = ctx.node
    field = literal_text(node.param("fieldToSplitOut", ""))
    if not isinstance(field, str) or not field or is_expression(field) or "," in field:
        raise Untranslatable(f"Split Out {node.name!r}: the field to split is not one fixed name")
    if node.param("include", "noOtherFields") != "noOtherFields":
        raise Untranslatable(f"Split Out {node.name!r} copies other fields into each item")
    options = node.param("options", {}) or {}
    if set(options) - {"disableDotNotation"}:
        raise Untranslatable(f"Split Out {node.name!r} uses {', '.join(sorted(options))}")
    path = [field] if options.get("disableDotNotation") else field.split(".")
    with_ = {
        "language": "javascript",
        "input": {"json": _split_source(ctx, path), "path": path, "field": field},
        "code": _SPLIT_OUT,
    }
    item = ItemList(f"the items of Split Out {node.name!r}", base=f"steps.{ctx.step_id}.output")
    return StepSpec("code", with_, item=item)


def _split_source(ctx: NodeContext, path: list[str]) -> Any:
    """The item to split, or for a webhook's item (passed as fields) the field split."""
    item = ctx.items.resolve(None)
    if item.heads is None:
        return ctx.current_template()
    return {path[0]: "{{ " + item.path([path[0]]) + " }}"}


def folded_loop(ctx: NodeContext) -> StepSpec:
    """Loop Over Items once loops.py has folded it: a pass-through into its chain."""
    return StepSpec("transform", {})


def runs_per_item(node: Node) -> bool:
    """Tell whether n8n runs the node on each item alone (a foreach step can do it)."""
    if node.type == "n8n-nodes-base.code":
        return bool(node.param("mode", "runOnceForAllItems") == "runOnceForEachItem")
    return node.type in _PER_ITEM


def gathers_items(node: Node) -> bool:
    """Tell whether the node reads all its items at once (Code for all items, Aggregate)."""
    if node.type == "n8n-nodes-base.code":
        return bool(node.param("mode", "runOnceForAllItems") != "runOnceForEachItem")
    return node.type in ("n8n-nodes-base.function", "n8n-nodes-base.aggregate")


def listed_outputs(item: Item, step_id: str, listed: ItemList) -> Item:
    """The items a foreach step gives on: each run's item, in order."""
    own = f"steps.{step_id}.output"
    if not isinstance(item, ItemRef) or item.heads is not None:
        return Unavailable(f"the items after {listed.reason} have another shape")
    if item.base == own:
        return ItemList(listed.reason, base=own)
    if item.base == own + ".body":
        return ItemList(listed.reason, base=f"({own} | map(attribute='body') | list)")
    return Unavailable(f"the items after {listed.reason} have another shape")


# --- dispatch by version --------------------------------------------------------------------


def _by_version(current: Handler, older: Handler, first_current: float) -> Handler:
    def handler(ctx: NodeContext) -> StepSpec:
        return (current if ctx.node.version >= first_current else older)(ctx)

    return handler


HANDLERS: dict[str, Handler] = {
    **CURRENT_HANDLERS,
    "n8n-nodes-base.if": _by_version(CURRENT_HANDLERS["n8n-nodes-base.if"], if_v1, 2),
    "n8n-nodes-base.switch": _by_version(
        CURRENT_HANDLERS["n8n-nodes-base.switch"], switch_v1_v2, 3
    ),
    "n8n-nodes-base.httpRequest": _by_version(
        CURRENT_HANDLERS["n8n-nodes-base.httpRequest"], http_v1_v2, 3
    ),
    "n8n-nodes-base.filter": filter_node,
    "n8n-nodes-base.limit": limit_node,
    "n8n-nodes-base.sort": sort_node,
    "n8n-nodes-base.removeDuplicates": remove_duplicates_node,
    "n8n-nodes-base.aggregate": aggregate_node,
    "n8n-nodes-base.itemLists": item_lists_node,
    SPLIT_OUT: split_out,
    "n8n-nodes-base.splitInBatches": folded_loop,
}
