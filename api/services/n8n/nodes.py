"""One n8n node to one Headrace step: a handler per supported node type.

A handler reads the node's parameters and returns a :class:`StepSpec`; anything it cannot
translate exactly raises :class:`Untranslatable` (the workflow is then delegated to n8n).

Why one module of this length: it is a table of small handlers, one per n8n node type, that
read best side by side.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from api.services.n8n.conditions import filter_condition
from api.services.n8n.expressions import (
    Item,
    ItemList,
    ItemRef,
    ItemResolver,
    Untranslatable,
    fixed_number,
    is_expression,
    literal_text,
    split_n8n_template,
    translate_value,
)
from api.services.n8n.graph import Node
from api.services.n8n.javascript import (
    Scripts,
    check_source,
    code_node_script,
    returned_items,
    script_input,
)
from api.services.n8n.triggers import duration_text
from temporal_workflows.javascript import check_syntax
from temporal_workflows.templates import whole_expression

_HTTP_OPTIONS = frozenset({"timeout", "redirect", "response", "allowUnauthorizedCerts"})
_HTTP_OPTIONS_LAX = frozenset({"lowercaseHeaders"})


@dataclass
class NodeContext:
    """What a handler may use: the node, its step id, items, and the sync's lookups."""

    node: Node
    step_id: str
    items: ItemResolver
    workflow_ids: Mapping[str, str]
    requirements: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # The items a node that gathers them (Code for all items, Aggregate) reads, when the
    # node before gave several (a Split Out's); ``None``: it reads the one current item.
    items_list: ItemList | None = None
    # AI sub-nodes attached to the node, by connection kind (api/services/n8n/ai.py).
    attached: Mapping[str, list[Node]] = field(default_factory=dict)

    def value(self, raw: Any) -> Any:
        return translate_value(raw, self.items)

    def current_template(self) -> str:
        """The node's whole input item as a lone template."""
        return "{{ " + self.items.resolve(None).path([]) + " }}"


@dataclass
class StepSpec:
    """The step a node becomes. ``item=None`` means the node passes its input item on."""

    type: str
    with_: dict[str, Any]
    item: Item | None = None
    branch: str | None = None  # "if" | "switch": children get a `when` on the output
    response: bool = False  # Respond to Webhook: `output.response` is the workflow result
    timeout: str | None = None


Handler = Callable[[NodeContext], StepSpec]


def _http(ctx: NodeContext) -> StepSpec:
    node = ctx.node
    if node.version < 3:
        raise Untranslatable(f"HTTP Request {node.name!r} is version {node.version:g} (< 3)")
    params: dict[str, Any] = {"method": str(node.param("method", "GET")).upper()}
    options = node.param("options", {}) or {}
    _http_options(node, options, params)
    target = ctx.value(node.param("url", ""))
    if node.param("authentication", "none") == "none":
        params["url"] = target
    else:
        http_connection(ctx, target, params)
    if node.param("sendQuery"):
        params["query"] = _keypairs(ctx, node, "query", "queryParameters", "specifyQuery")
    if node.param("sendHeaders"):
        headers = _keypairs(ctx, node, "headers", "headerParameters", "specifyHeaders")
        params["headers"] = {name: header_text(value) for name, value in headers.items()}
    if node.param("sendBody"):
        _http_body(ctx, params)
    item = ItemRef(f"steps.{ctx.step_id}.output.body", what=f"the response of {node.name!r}")
    return StepSpec("http", params, item=item)


def _http_options(node: Node, options: Mapping[str, Any], params: dict[str, Any]) -> None:
    unknown = set(options) - _HTTP_OPTIONS - _HTTP_OPTIONS_LAX
    if unknown:
        raise Untranslatable(f"HTTP Request {node.name!r} uses {', '.join(sorted(unknown))}")
    if options.get("allowUnauthorizedCerts"):
        raise Untranslatable(f"HTTP Request {node.name!r} ignores TLS certificate errors")
    response = (options.get("response") or {}).get("response", {}) or {}
    if response.get("fullResponse") or response.get("neverError"):
        raise Untranslatable(f"HTTP Request {node.name!r} returns the full response or never fails")
    if response.get("responseFormat", "autodetect") not in ("autodetect", "json"):
        raise Untranslatable(f"HTTP Request {node.name!r} reads the response as a file or text")
    redirect = (options.get("redirect") or {}).get("redirect", {}) or {}
    if redirect.get("followRedirects") is False:
        params["follow_redirects"] = False
    if isinstance(options.get("timeout"), int | float):
        params["timeout"] = duration_text(options["timeout"] / 1000, "seconds", node.name)


def http_connection(ctx: NodeContext, target: Any, params: dict[str, Any]) -> None:
    """Authenticated requests go through a Headrace connection named after the credential."""
    node = ctx.node
    credentials = node.raw.get("credentials") or {}
    # The parameters name the credential type n8n uses; an export may keep others (chosen
    # before) or none (a template exported without its credentials).
    chosen = node.param("genericAuthType") or node.param("nodeCredentialType")
    if isinstance(credentials, Mapping) and isinstance(chosen, str) and chosen:
        credentials = {chosen: credentials.get(chosen)}
    if not isinstance(credentials, Mapping) or len(credentials) != 1:
        raise Untranslatable(f"HTTP Request {node.name!r} has no single credential")
    kind, credential = next(iter(credentials.items()))
    # Older exports store the credential as its bare name: {"httpBasicAuth": "n8n Creds"}.
    if isinstance(credential, Mapping):
        credential = credential.get("name")
    name = str(credential or kind)
    prefix = target.split("{{", 1)[0] if isinstance(target, str) else ""
    parts = urlsplit(prefix)
    if parts.scheme not in ("http", "https") or not parts.netloc or "@" in parts.netloc:
        raise Untranslatable(f"HTTP Request {node.name!r}: the URL's host is not fixed")
    base = f"{parts.scheme}://{parts.netloc}"
    connection = _slug(name)
    params["connection"] = connection
    params["path"] = target[len(base) :] or "/"
    ctx.requirements.append(
        {"connection": connection, "base_url": base, "n8n_credential": {"type": kind, "name": name}}
    )
    ctx.notes.append(
        f"HTTP Request {node.name!r} needs an http integration named {connection!r}"
        f" (base URL {base}) holding the credential n8n calls {name!r}"
    )


def header_text(value: Any) -> Any:
    """A header value as the text n8n sends: a number or boolean written as JSON does.

    A template that is one ``{{ expr }}`` would keep the value's JSON type; headers are text.
    """
    if isinstance(value, str):
        expression = whole_expression(value)
        return value if expression is None else "{{ (" + expression.strip() + ") | string }}"
    return json.dumps(value) if isinstance(value, bool | int | float) else value


def _slug(text: str) -> str:
    return "-".join("".join(c.lower() if c.isalnum() else " " for c in text).split()) or "api"


def _keypairs(
    ctx: NodeContext, node: Node, what: str, param: str, mode_param: str
) -> dict[str, Any]:
    if node.param(mode_param, "keypair") != "keypair":
        raise Untranslatable(f"HTTP Request {node.name!r} gives its {what} as JSON text")
    pairs = (node.param(param, {}) or {}).get("parameters", []) or []
    result: dict[str, Any] = {}
    for pair in pairs:
        name = literal_text(pair.get("name", ""))
        if is_expression(name) or not isinstance(name, str) or name in result:
            raise Untranslatable(f"HTTP Request {node.name!r}: {what} name {name!r} is not fixed")
        result[name] = ctx.value(pair.get("value", ""))
    return result


def _http_body(ctx: NodeContext, params: dict[str, Any]) -> None:
    node = ctx.node
    content_type = node.param("contentType", "json")
    if content_type == "json" and node.param("specifyBody", "keypair") == "keypair":
        params["json"] = _keypairs(ctx, node, "body", "bodyParameters", "specifyBody")
    elif content_type == "json":
        params.update(_json_body(ctx, node.param("jsonBody", "")))
    elif content_type == "form-urlencoded":
        params["form"] = _keypairs(ctx, node, "form", "bodyParameters", "specifyBody")
    elif content_type == "raw":
        params["body"] = ctx.value(node.param("body", ""))
        media = literal_text(node.param("rawContentType", "text/plain"))
        params.setdefault("headers", {})["Content-Type"] = media
    else:
        raise Untranslatable(f"HTTP Request {node.name!r} sends a {content_type} body")


def _json_body(ctx: NodeContext, raw: Any) -> dict[str, Any]:
    """JSON text: literal JSON is parsed; a template is sent as text with a JSON type."""
    if not is_expression(raw):
        try:
            return {"json": json.loads(literal_text(raw) or "null")}
        except ValueError as exc:
            raise Untranslatable(
                f"HTTP Request {ctx.node.name!r}: its JSON body is not JSON"
            ) from exc
    template = ctx.value(raw)
    if template.startswith("{{") and template.endswith("}}") and template.count("{{") == 1:
        return {"json": template}
    return {"body": template, "headers": {"Content-Type": "application/json"}}


def _set(ctx: NodeContext) -> StepSpec:
    node = ctx.node
    entries: list[tuple[list[str], Any]] = []
    if node.version < 3:
        fields, keep = _set_v1_fields(ctx, entries)
    elif node.version >= 3.3:
        fields, keep = _set_v3_fields(ctx, entries)
    else:
        fields, keep = _set_v30_fields(ctx, entries)
    item = ItemRef(f"steps.{ctx.step_id}.output", what=f"the item of {node.name!r}")
    if keep:
        return _set_keeping(ctx, entries, item)
    return StepSpec("transform", fields, item=item)


# n8n copies the input item and writes each field into the copy with lodash's `set`: a
# missing or non-object step on the path becomes an object, the rest of the item stays.
_KEEP_OTHER_FIELDS = r"""const out = JSON.parse(JSON.stringify(input.json));
for (const [keys, value] of input.fields) {
  let target = out;
  for (const key of keys.slice(0, -1)) {
    if (target[key] === null || typeof target[key] !== "object") target[key] = {};
    target = target[key];
  }
  target[keys[keys.length - 1]] = value;
}
return out;"""


def _set_keeping(ctx: NodeContext, entries: list[tuple[list[str], Any]], item: ItemRef) -> StepSpec:
    """Set keeping the input's other fields: a ``code`` step merging into a copy."""
    node = ctx.node
    for keys, _ in entries:
        if any(key.isdigit() for key in keys):
            raise Untranslatable(f"Set {node.name!r}: field {'.'.join(keys)!r} indexes a list")
    with_ = {
        "language": "javascript",
        "input": {
            "json": ctx.current_template(),
            "fields": [[keys, value] for keys, value in entries],
        },
        "code": _KEEP_OTHER_FIELDS,
    }
    return StepSpec("code", with_, item=item)


# Set 3.0-3.2 name each value's key after its type: {"name": "n", "numberValue": 1}.
_SET_V30_TYPES = {
    "stringValue": "string",
    "numberValue": "number",
    "booleanValue": "boolean",
    "arrayValue": "array",
    "objectValue": "object",
}


def _set_v30_fields(
    ctx: NodeContext, entries: list[tuple[list[str], Any]]
) -> tuple[dict[str, Any], bool]:
    """Set 3.0-3.2: ``include`` says which input fields are kept (``all`` unless said)."""
    node = ctx.node
    include = node.param("include", "all")
    if include not in ("none", "all"):
        raise Untranslatable(
            f"Set {node.name!r} keeps some of the input's other fields ({include!r})"
        )
    keep = include == "all"
    if node.param("mode", "manual") == "raw":
        return _set_raw(node, keep)
    dotted = (node.param("options", {}) or {}).get("dotNotation", True)
    result: dict[str, Any] = {}
    for entry in (node.param("fields", {}) or {}).get("values", []) or []:
        kind = str(entry.get("type") or "stringValue")
        if kind not in _SET_V30_TYPES:
            raise Untranslatable(f"Set {node.name!r}: a field of type {kind!r}")
        value = _typed(ctx, entry.get(kind, ""), _SET_V30_TYPES[kind])
        _put(result, str(entry.get("name", "")), value, dotted, node, entries)
    return result, keep


def _set_raw(node: Node, keep: bool) -> tuple[dict[str, Any], bool]:
    if keep:
        raise Untranslatable(f"Set {node.name!r} merges JSON into the input's fields")
    raw = node.param("jsonOutput", "{}")
    if is_expression(raw):
        raise Untranslatable(f"Set {node.name!r} builds its JSON from a template text")
    try:
        value = json.loads(literal_text(raw))
    except ValueError as exc:
        raise Untranslatable(f"Set {node.name!r}: its JSON output is not JSON") from exc
    if not isinstance(value, dict):
        raise Untranslatable(f"Set {node.name!r}: its JSON output is not an object")
    return value, False


def _set_v3_fields(
    ctx: NodeContext, entries: list[tuple[list[str], Any]]
) -> tuple[dict[str, Any], bool]:
    node = ctx.node
    keep = bool(node.param("includeOtherFields"))
    if keep and node.param("include", "all") != "all":
        raise Untranslatable(f"Set {node.name!r} keeps some of the input's other fields")
    dotted = (node.param("options", {}) or {}).get("dotNotation", True)
    if node.param("mode", "manual") == "raw":
        return _set_raw(node, keep)
    result: dict[str, Any] = {}
    assignments = (node.param("assignments", {}) or {}).get("assignments", []) or []
    lenient = bool((node.param("options", {}) or {}).get("ignoreConversionErrors"))
    for assignment in assignments:
        name = str(assignment.get("name", ""))
        kind = str(assignment.get("type", "string"))
        raw = assignment.get("value")
        value = _typed_v3(ctx, raw, kind, lenient)
        _put(result, name, value, dotted, node, entries)
    return result, keep


def _typed_v3(ctx: NodeContext, raw: Any, kind: str, lenient: bool) -> Any:
    """A Set v3.3+ field: a plain item path as a template (its value as it is, a known
    difference), any other expression evaluated and converted to its type as n8n does."""
    scripts = ctx.items.scripts
    if not is_expression(raw) or scripts is None:
        return _typed(ctx, raw, kind)
    ctx.items.scripts = None
    try:
        return _typed(ctx, raw, kind)
    except Untranslatable:
        body = raw[1:]
        return (
            "{{ "
            + scripts.expression(body, split_n8n_template(body), ctx.items, (kind, lenient))
            + " }}"
        )
    finally:
        ctx.items.scripts = scripts


def _set_v1_fields(
    ctx: NodeContext, entries: list[tuple[list[str], Any]]
) -> tuple[dict[str, Any], bool]:
    node = ctx.node
    keep = not node.param("keepOnlySet", False)
    dotted = (node.param("options", {}) or {}).get("dotNotation", True)
    result: dict[str, Any] = {}
    for kind, values in (node.param("values", {}) or {}).items():
        for entry in values or []:
            _put(
                result,
                str(entry.get("name", "")),
                _typed(ctx, entry.get("value"), kind),
                dotted,
                node,
                entries,
            )
    return result, keep


def _typed(ctx: NodeContext, value: Any, kind: str) -> Any:
    if is_expression(value):
        return ctx.value(value)
    value = literal_text(value)
    try:
        if kind == "number" and isinstance(value, str):
            number = float(value)
            return int(number) if number.is_integer() and "." not in value else number
        if kind == "boolean" and isinstance(value, str):
            return {"true": True, "false": False}[value.strip().lower()]
        if kind in ("array", "object") and isinstance(value, str):
            return json.loads(value)
    except (ValueError, KeyError) as exc:
        raise Untranslatable(f"Set {ctx.node.name!r}: {value!r} is not a {kind}") from exc
    return ctx.value(value)


def _put(
    target: dict[str, Any],
    name: str,
    value: Any,
    dotted: bool,
    node: Node,
    entries: list[tuple[list[str], Any]],
) -> None:
    keys = name.split(".") if dotted else [name]
    if not all(keys):
        raise Untranslatable(f"Set {node.name!r}: field name {name!r} is not usable")
    entries.append((keys, value))
    for key in keys[:-1]:
        nested = target.setdefault(key, {})
        if not isinstance(nested, dict):
            raise Untranslatable(f"Set {node.name!r}: field {name!r} clashes with another")
        target = nested
    target[keys[-1]] = value


def _if(ctx: NodeContext) -> StepSpec:
    node = ctx.node
    if node.version < 2:
        raise Untranslatable(f"IF {node.name!r} version {node.version:g} (< 2) is not supported")
    ignore_case = not _case_sensitive(node.param("conditions", {}))
    condition = filter_condition(node.param("conditions", {}), ctx.items, ignore_case, node.name)
    return StepSpec("transform", {"result": "{{ " + condition + " }}"}, branch="if")


def _case_sensitive(filter_value: Any) -> bool:
    options = filter_value.get("options", {}) if isinstance(filter_value, Mapping) else {}
    return bool((options or {}).get("caseSensitive", True))


def _switch(ctx: NodeContext) -> StepSpec:
    node = ctx.node
    if node.version < 3:
        raise Untranslatable(
            f"Switch {node.name!r} version {node.version:g} (< 3) is not supported"
        )
    options = node.param("options", {}) or {}
    if options.get("allMatchingOutputs"):
        raise Untranslatable(f"Switch {node.name!r} sends to every matching output")
    if node.param("mode", "rules") == "expression":
        return StepSpec(
            "transform", {"output": ctx.value(node.param("output", ""))}, branch="switch"
        )
    rules = (node.param("rules", {}) or {}).get("values", []) or []
    fallback = options.get("fallbackOutput", "none")
    chosen = {"none": "-1", "extra": str(len(rules))}.get(str(fallback), str(fallback))
    if not chosen.lstrip("-").isdigit():
        raise Untranslatable(f"Switch {node.name!r}: fallback output {fallback!r} is not fixed")
    expression = chosen
    for index in reversed(range(len(rules))):
        conditions = rules[index].get("conditions", {})
        ignore_case = bool(options.get("ignoreCase")) or not _case_sensitive(conditions)
        condition = filter_condition(conditions, ctx.items, ignore_case, node.name)
        expression = f"{index} if ({condition}) else ({expression})"
    return StepSpec("transform", {"output": "{{ " + expression + " }}"}, branch="switch")


def _passthrough(ctx: NodeContext) -> StepSpec:
    return StepSpec("transform", {})


def _wait(ctx: NodeContext) -> StepSpec:
    node = ctx.node
    resume = node.param("resume", "timeInterval")
    if resume == "timeInterval":
        amount, unit = node.param("amount", 1), node.param("unit", "hours")
        if is_expression(amount) or is_expression(unit):
            raise Untranslatable(f"Wait {node.name!r} computes its duration with an expression")
        return StepSpec(
            "sleep", {"duration": duration_text(amount, str(unit), f"Wait {node.name!r}")}
        )
    if resume == "specificTime":
        moment = ctx.value(node.param("dateTime", ""))
        return StepSpec("sleep", {"until": moment})
    if resume == "webhook":
        if node.param("limitWaitTime"):
            raise Untranslatable(f"Wait {node.name!r} resumes by itself after a time limit")
        item = ItemRef(
            "",
            {"body": f"steps.{ctx.step_id}.output"},
            what=f"the request that resumes {node.name!r}",
        )
        ctx.notes.append(
            f"Wait {node.name!r} resumes on POST /api/v1/executions/{{id}}/signal"
            f' {{"name": "{ctx.step_id}", "payload": <the body>}}'
        )
        return StepSpec("wait_for_event", {"event": ctx.step_id}, item=item)
    raise Untranslatable(f"Wait {node.name!r} resumes on {resume!r}")


def _execute_workflow(ctx: NodeContext) -> StepSpec:
    node = ctx.node
    if node.param("source", "database") != "database":
        raise Untranslatable(f"Execute Workflow {node.name!r} runs a workflow that is not stored")
    options = node.param("options", {}) or {}
    if options.get("waitForSubWorkflow") is False:
        raise Untranslatable(f"Execute Workflow {node.name!r} does not wait for the result")
    if ((node.param("workflowInputs") or {}).get("value") or {}) != {}:
        raise Untranslatable(f"Execute Workflow {node.name!r} maps inputs to fields")
    reference = node.param("workflowId", "")
    if isinstance(reference, Mapping):
        reference = reference.get("value", "")
    reference = literal_text(reference)
    if is_expression(reference) or not isinstance(reference, str) or not reference:
        raise Untranslatable(
            f"Execute Workflow {node.name!r} picks its workflow with an expression"
        )
    target = ctx.workflow_ids.get(reference)
    if target is None:
        raise Untranslatable(
            f"Execute Workflow {node.name!r} calls n8n workflow {reference} that is not synced"
        )
    item = ItemRef(f"steps.{ctx.step_id}.output.output", what=f"the result of {node.name!r}")
    return StepSpec("workflow", {"workflow_id": target, "input": ctx.current_template()}, item=item)


def _respond(ctx: NodeContext) -> StepSpec:
    node = ctx.node
    options = node.param("options", {}) or {}
    code = options.get("responseCode", 200)
    if (
        is_expression(code)
        or fixed_number(code, 200, f"Respond to Webhook {node.name!r}: status code") != 200
    ):
        raise Untranslatable(f"Respond to Webhook {node.name!r} sets a status code or headers")
    if options.get("responseHeaders"):
        raise Untranslatable(f"Respond to Webhook {node.name!r} sets a status code or headers")
    mode = node.param("respondWith", "firstIncomingItem")
    if mode == "firstIncomingItem":
        response: Any = ctx.current_template()
    elif mode == "allIncomingItems":
        response = [ctx.current_template()]
    elif mode == "noData":
        response = None
    elif mode == "text":
        response = ctx.value(node.param("responseBody", ""))
    elif mode == "json":
        response = _json_body(ctx, node.param("responseBody", "{}"))
        if "body" in response:
            raise Untranslatable(f"Respond to Webhook {node.name!r} builds JSON from template text")
        response = response["json"]
    else:
        raise Untranslatable(f"Respond to Webhook {node.name!r} responds with {mode!r}")
    return StepSpec("transform", {"response": response}, response=True)


def _code(ctx: NodeContext) -> StepSpec:
    """Code (JavaScript), Function and Function Item nodes: a ``code`` step, one item out."""
    node = ctx.node
    if node.type == FUNCTION:
        code, mode = node.param("functionCode", ""), "all"
    elif node.type == FUNCTION_ITEM:
        code, mode = node.param("functionCode", ""), "item"
    else:
        if node.param("language", "javaScript") != "javaScript":
            raise Untranslatable(f"Code {node.name!r} is written in Python")
        each = node.param("mode", "runOnceForAllItems") == "runOnceForEachItem"
        code, mode = node.param("jsCode", ""), "each" if each else "all"
    if not isinstance(code, str):
        raise Untranslatable(f"Code {node.name!r} has no JavaScript text")
    scripts = Scripts(ctx.step_id, node.name)
    what = f"Code {node.name!r}"
    each_only = r"\$input\s*\.\s*(?:all|first|last)\b|(?<![\w$.])items\b"
    if mode == "each" and re.search(each_only, code):
        # n8n fails such a node ("can't use .all() here"): delegating gives that answer
        raise Untranslatable(f"{what} reads all items while running for each item")
    listed = ctx.items_list
    if listed is not None and re.search(r"\$json\b|\$input\s*\.\s*item\b", code):
        raise Untranslatable(f"{what} reads $json or $input.item among several items")
    if listed is not None:
        ctx.items.current = ItemRef("none")  # never read: the list is passed as `all`
    check_source(code, ctx.items, scripts, extensions=False, what=what)
    script = code_node_script(code, mode)
    # the node's own text first: it must be a function body, as n8n runs it
    error = check_syntax(code) or check_syntax(script)
    if error is not None:
        raise Untranslatable(f"{what} is not JavaScript QuickJS reads ({error})")
    script_in = script_input(ctx.items, scripts)
    if listed is not None:
        script_in.pop("json", None)
        script_in["all"] = "{{ " + listed.base + " }}"
    if set(script_in) == {"nodes"} and not script_in["nodes"]:
        count = returned_items(script)  # it reads no input: its items are known now
        if count is not None:
            raise Untranslatable(
                f"{what} returns {count} items (the translation passes one item on)"
            )
    with_ = {"language": "javascript", "input": script_in, "code": script}
    item = ItemRef(f"steps.{ctx.step_id}.output", what=f"the item of {node.name!r}")
    return StepSpec("code", with_, item=item)


FUNCTION = "n8n-nodes-base.function"
FUNCTION_ITEM = "n8n-nodes-base.functionItem"

HANDLERS: dict[str, Handler] = {
    "n8n-nodes-base.code": _code,
    FUNCTION: _code,
    FUNCTION_ITEM: _code,
    "n8n-nodes-base.httpRequest": _http,
    "n8n-nodes-base.set": _set,
    "n8n-nodes-base.if": _if,
    "n8n-nodes-base.switch": _switch,
    "n8n-nodes-base.noOp": _passthrough,
    "n8n-nodes-base.wait": _wait,
    "n8n-nodes-base.executeWorkflow": _execute_workflow,
    "n8n-nodes-base.respondToWebhook": _respond,
}
MERGE = "n8n-nodes-base.merge"
