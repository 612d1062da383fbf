"""n8n JavaScript (expressions that are not plain paths, Code nodes) as ``code`` steps.

n8n evaluates ``{{ }}`` and Code nodes as JavaScript on Node.js, with its own globals. The
translation runs the same source in the ``code`` step's QuickJS sandbox, with those globals
rebuilt from the items the translation knows (one item per node, see expressions.py):

    $json, $input.item / .first() / .last() / .all()       the node's input item
    $('Node').item / .first() / .last() / .all() / .isExecuted, $node["Node"].json
    items, item (Code and Function nodes), $itemIndex, $runIndex (0: one item, one run)
    $if(c, a, b), $ifEmpty(value, fallback)

A source is checked before it is accepted; what could answer differently on QuickJS than on
n8n's Node.js keeps the workflow delegated, with the reason: another ``$`` global (``$now``,
``$vars``, ``$env``, ``$execution``...), Luxon (``DateTime``), ``require``, binary data,
``Intl`` and locale or local-time methods (n8n's time zone is not the worker's), a method
call that is not a standard one (n8n's expression extensions such as ``.isEmpty()`` or
``.toDateTime()``), a node named by a computed value, and any syntax QuickJS does not parse.
Every item passed in is the one the translation would give a plain path, so a webhook's item
passes only ``body``, ``query`` and ``headers``, and a script must read only those.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Final

import quickjs

from api.services.n8n.expressions import ItemRef, ItemResolver, Untranslatable
from temporal_workflows.javascript import check_syntax, wrap

# Method names n8n's Node.js (20) and QuickJS both have, with the same meaning. A method not
# listed is refused: it may be one of n8n's expression extensions (``.isEmpty()``,
# ``.sum()``, ``.toDateTime()``, ``.difference()``...), which QuickJS does not have.
NATIVE_METHODS: Final = frozenset(
    [
        "abs",
        "acos",
        "asin",
        "assign",
        "at",
        "atan",
        "atan2",
        "bind",
        "call",
        "apply",
        "catch",
        "cbrt",
        "ceil",
        "charAt",
        "charCodeAt",
        "codePointAt",
        "concat",
        "cos",
        "create",
        "defineProperty",
        "endsWith",
        "entries",
        "every",
        "exp",
        "fill",
        "filter",
        "finally",
        "find",
        "findIndex",
        "findLast",
        "findLastIndex",
        "flat",
        "flatMap",
        "floor",
        "forEach",
        "freeze",
        "from",
        "fromCharCode",
        "fromCodePoint",
        "fromEntries",
        "getOwnPropertyNames",
        "getPrototypeOf",
        "getTime",
        "getUTCDate",
        "getUTCDay",
        "getUTCFullYear",
        "getUTCHours",
        "getUTCMilliseconds",
        "getUTCMinutes",
        "getUTCMonth",
        "getUTCSeconds",
        "has",
        "hasOwn",
        "hasOwnProperty",
        "hypot",
        "includes",
        "indexOf",
        "isArray",
        "isFinite",
        "isInteger",
        "isNaN",
        "isSafeInteger",
        "join",
        "keys",
        "lastIndexOf",
        "log",
        "log10",
        "log2",
        "map",
        "match",
        "matchAll",
        "max",
        "min",
        "now",
        "of",
        "padEnd",
        "padStart",
        "parse",
        "parseFloat",
        "parseInt",
        "pop",
        "pow",
        "push",
        "random",
        "reduce",
        "reduceRight",
        "repeat",
        "replace",
        "replaceAll",
        "reverse",
        "round",
        "search",
        "setUTCDate",
        "setUTCFullYear",
        "setUTCHours",
        "setUTCMilliseconds",
        "setUTCMinutes",
        "setUTCMonth",
        "setUTCSeconds",
        "shift",
        "sign",
        "sin",
        "slice",
        "some",
        "sort",
        "splice",
        "split",
        "sqrt",
        "startsWith",
        "stringify",
        "substring",
        "tan",
        "test",
        "then",
        "toExponential",
        "toFixed",
        "toISOString",
        "toJSON",
        "toLowerCase",
        "toPrecision",
        "toString",
        "toUpperCase",
        "trim",
        "trimEnd",
        "trimStart",
        "trunc",
        "unshift",
        "UTC",
        "valueOf",
        "values",
        "exec",
        "String",
        "Number",
        "Boolean",
        "Array",
        "Object",
        "Date",
        "RegExp",
        "Error",
        "encodeURIComponent",
        "decodeURIComponent",
        "encodeURI",
        "decodeURI",
        "isArray",
        "resolve",
        "reject",
        "all",
    ]
)
# Words whose presence makes a source's answer depend on what QuickJS cannot reproduce.
_REFUSED_WORDS: Final = {
    "require": "loads a module",
    "DateTime": "uses Luxon dates",
    "Duration": "uses Luxon dates",
    "Interval": "uses Luxon dates",
    "luxon": "uses Luxon dates",
    "moment": "uses a date library",
    "binary": "reads binary data",
    "helpers": "uses n8n's helpers",
    "getWorkflowStaticData": "keeps state between runs",
    "Intl": "formats for a locale",
    "Buffer": "uses Node.js's Buffer",
    "process": "reads Node.js's process",
    "fetch": "makes requests",
    "setTimeout": "uses timers",
    "setInterval": "uses timers",
    "this": "reads `this`",
    "eval": "evaluates text as code",
    "Function": "builds code from text",
}
_LOCAL_TIME = re.compile(
    r"\.(?:get|set)(?:FullYear|Month|Date|Day|Hours|Minutes|Seconds|Milliseconds|Year)\s*\("
    r"|\.getTimezoneOffset\s*\(|\.toLocale\w*\s*\(|\.localeCompare\s*\(|\.to(?:Date|Time)String\s*\("
    r"|\.toGMTString\s*\(|\.toUTCString\s*\("
)
_WORD = re.compile(r"(?<![\w$])([A-Za-z_]\w*)\b")
_DOLLAR = re.compile(r"\$[A-Za-z_]\w*|\$(?=\s*\()")
_DOLLAR_KNOWN: Final = frozenset(
    {"$json", "$input", "$node", "$", "$itemIndex", "$runIndex", "$if", "$ifEmpty"}
)
_NAMED_CALL = re.compile(r"""\$\(\s*(?:'([^'\\]*)'|"([^"\\]*)")\s*\)""")
_NAMED_INDEX = re.compile(r"""\$node\s*\[\s*(?:'([^'\\]*)'|"([^"\\]*)")\s*\]""")
_NAMED_DOT = re.compile(r"\$node\s*\.\s*([A-Za-z_$][\w$]*)")
_API = re.compile(
    r"""(?:\$input|\$\(\s*(?:'[^'\\]*'|"[^"\\]*")\s*\))\s*\.\s*(?P<what>[A-Za-z_]\w*)"""
)
_API_MEMBERS: Final = frozenset({"item", "first", "last", "all", "isExecuted"})
_METHOD = re.compile(r"\.\s*([A-Za-z_$][\w$]*)\s*\(")
_JSON_WORD = re.compile(r"(?<![\w$])(\$json|\.\s*json|json)\b(?!\s*:)")
_HEAD_ACCESS = re.compile(
    r"""\s*(?:\?\.|\.)\s*(?P<a>[A-Za-z_]\w*)|\s*\[\s*(?:'(?P<b>[^'\\]*)'|"(?P<c>[^"\\]*)")\s*\]"""
)

# The n8n globals, from `input` = {json? | all?, nodes: {name: json}}: one item each (the
# translation's model), or the list a gathering node reads (`all`).
_GLOBALS: Final = r"""
const __items = (json) => [{ json }];
const __has = (key) => Object.prototype.hasOwnProperty.call(input, key);
// `all`: the several items a Code node for all items gathers (after a Split Out).
const __all = __has("all") ? input.all : [__has("json") ? input.json : undefined];
const __json = __all[0];
const $json = __json;
// The same item objects every time, as in n8n: what a script changes in one it sees in all.
const __wrapped = __all.map((json) => ({ json }));
const $input = {
  get item() { return __wrapped[0]; },
  first: () => __wrapped[0],
  last: () => __wrapped[__wrapped.length - 1],
  all: () => __wrapped,
};
const __nodes = input.nodes || {};
const $ = (name) => {
  const json = __nodes[name];
  return { get item() { return { json }; }, first: () => ({ json }), last: () => ({ json }),
           all: () => __items(json), isExecuted: true };
};
const $node = Object.fromEntries(Object.keys(__nodes).map((k) => [k, { json: __nodes[k] }]));
const $itemIndex = 0, $runIndex = 0;
const $if = (condition, yes, no) => (condition ? yes : no);
const $ifEmpty = (value, fallback) =>
  value === undefined || value === null || value === "" ||
  (Array.isArray(value) && value.length === 0) ||
  (typeof value === "object" && !Array.isArray(value) && Object.keys(value).length === 0)
    ? fallback : value;
"""
# How n8n writes a value into text: nothing for null and undefined, JavaScript's String()
# otherwise (an object is "[object Object]", an array its items joined by commas).
_TEXT: Final = (
    'const __text = (v) => (v === null || v === undefined ? "" : '
    '(typeof v === "object" && !Array.isArray(v) ? "[object Object]" : String(v)));\n'
)

# Set v3.3+ converts each field's value to its type (seen from n8n 1.123.81): null and
# undefined stay null; a string field takes JSON text for an object or list and String()
# otherwise; a number field Number() unless NaN; a boolean field true/false, 0/1, "0"/"1",
# "true"/"false" in any case; array and object fields a value of that kind or JSON text of
# it. Anything else fails the node, unless "ignore type conversion errors" keeps it as is.
_FIELD_TYPES: Final = frozenset({"string", "number", "boolean", "array", "object"})
_AS: Final = r"""const __as = (kind, lenient, v) => {
  if (v === null || v === undefined) return null;
  const fail = () => {
    if (lenient) return v;
    throw new Error("'" + String(v) + "' is not a " + kind + " (n8n's Set field type)");
  };
  if (kind === "string") return typeof v === "object" ? JSON.stringify(v) : String(v);
  if (kind === "number") {
    if (typeof v === "object" && !Array.isArray(v)) return fail();
    const n = Number(v);
    return Number.isNaN(n) ? fail() : n;
  }
  if (kind === "boolean") {
    if (typeof v === "boolean") return v;
    if (v === 0 || v === 1 || v === "0" || v === "1") return v === 1 || v === "1";
    if (typeof v === "string" && ["true", "false"].includes(v.toLowerCase())) {
      return v.toLowerCase() === "true";
    }
    return fail();
  }
  let value = v;
  if (typeof v === "string") {
    try { value = JSON.parse(v); } catch (e) { return fail(); }
  }
  const isList = Array.isArray(value);
  const ok = kind === "array" ? isList : value !== null && typeof value === "object" && !isList;
  return ok ? value : fail();
};
"""


@dataclass
class Scripts:
    """The JavaScript one node needs evaluated, gathered while its parameters translate.

    Each accepted expression gets a key ``e<N>`` in the output of the step ``step_id``,
    which runs before the node's own step.
    """

    step_id: str
    node: str
    sources: list[str] = field(default_factory=list)
    uses: set[str] = field(default_factory=set)  # node names read with $('Node')/$node
    current: bool = False  # reads the input item
    # For an item passed as some fields only (a webhook's): the fields read, by node name
    # (``None``: the input item).
    heads: dict[str | None, set[str]] = field(default_factory=dict)
    per_item: bool = False  # the node runs once per item (a foreach step): so does this one

    def expression(
        self,
        body: str,
        parts: list[tuple[str, bool]],
        items: ItemResolver,
        field_type: tuple[str, bool] | None = None,
    ) -> str:
        """The Jinja expression giving the value of an n8n expression's text ``body``.

        ``field_type`` (a Set v3.3+ field's type, and whether conversion errors are
        ignored) converts the value as n8n does before the field is written.
        """
        if len(parts) == 1 and parts[0][1]:
            code = "(" + parts[0][0].strip() + "\n)"
        else:
            pieces = [
                "__text((" + text.strip() + "\n))" if is_js else json.dumps(text)
                for text, is_js in parts
            ]
            code = "[" + ", ".join(pieces) + '].join("")'
        if field_type is not None:
            kind, lenient = field_type
            if kind not in _FIELD_TYPES:
                raise Untranslatable(f"a Set field of type {kind!r}")
            code = f"__as({json.dumps(kind)}, {json.dumps(lenient)}, {code})"
        source = " ".join(text for text, is_js in parts if is_js)
        what = f"the expression {body.strip()}"
        check_source(source, items, self, extensions=True, what=what)
        error = check_syntax(f"return {code};")
        if error is not None:
            raise Untranslatable(f"{what} is not JavaScript QuickJS reads ({error})")
        key = f"e{len(self.sources)}"
        self.sources.append(code)
        output = f"steps.{self.step_id}.output" + ("[index]" if self.per_item else "")
        return f"{output}.{key}"

    def step(self, items: ItemResolver) -> dict[str, Any]:
        """The ``code`` step evaluating every gathered expression."""
        lines = [f"e{i}: {code}" for i, code in enumerate(self.sources)]
        body = _GLOBALS + _TEXT + _AS + "return {\n" + ",\n".join(lines) + "\n};"
        return {
            "id": self.step_id,
            "type": "code",
            "name": f"{self.node} (expressions)",
            "with": {
                "language": "javascript",
                "input": script_input(items, self),
                "code": body,
            },
        }


def script_input(items: ItemResolver, scripts: Scripts) -> dict[str, Any]:
    """The script's ``input``: the current item if read, and each node read by name."""
    result: dict[str, Any] = {"nodes": {}}
    if scripts.current:
        result["json"] = _item_value(items.resolve(None), scripts.heads.get(None, set()))
    for name in sorted(scripts.uses):
        result["nodes"][name] = _item_value(items.resolve(name), scripts.heads.get(name, set()))
    return result


def _item_value(item: ItemRef, read: set[str]) -> Any:
    if item.heads is None:
        return "{{ " + item.path([]) + " }}"
    return {head: "{{ " + path + " }}" for head, path in item.heads.items() if head in read}


def check_source(
    source: str, items: ItemResolver, scripts: Scripts, *, extensions: bool, what: str
) -> None:
    """Refuse a source whose answer on QuickJS could differ from n8n's; note what it reads.

    Raises:
        Untranslatable: Naming what in the source has no exact equal.
    """
    for word in _WORD.findall(source):
        if word in _REFUSED_WORDS:
            raise Untranslatable(f"{what} {_REFUSED_WORDS[word]} ({word})")
    for name in _DOLLAR.findall(source):
        if name not in _DOLLAR_KNOWN:
            raise Untranslatable(f"{what} reads {name or '$()'}, which has no equal here")
    if _LOCAL_TIME.search(source):
        raise Untranslatable(f"{what} uses local time or a locale (n8n's time zone)")
    for match in _API.finditer(source):
        if match.group("what") not in _API_MEMBERS:
            raise Untranslatable(f"{what} reads .{match.group('what')} of an n8n item list")
    if extensions:
        rest = _API.sub("", source)
        for method in _METHOD.findall(rest):
            if method not in NATIVE_METHODS:
                raise Untranslatable(
                    f"{what} calls .{method}(), not a standard JavaScript method"
                    " (an n8n extension?)"
                )
    named = [a or b for a, b in _NAMED_CALL.findall(source)]
    named += [a or b for a, b in _NAMED_INDEX.findall(source)]
    named += _NAMED_DOT.findall(source)
    calls = len(re.findall(r"\$\s*\(", source))
    if calls != len(_NAMED_CALL.findall(source)) or re.search(r"\$node\s*(?![\s.\[])", source):
        raise Untranslatable(f"{what} names a node with a computed value")
    if re.search(r"\$node\s*\[", source) and len(_NAMED_INDEX.findall(source)) != len(
        re.findall(r"\$node\s*\[", source)
    ):
        raise Untranslatable(f"{what} names a node with a computed value")
    rest = source
    for name in named:
        item = items.resolve(name)
        if item.heads is not None:
            read, rest = _named_fields(item, name, rest, what)
            scripts.heads.setdefault(name, set()).update(read)
        scripts.uses.add(name)
    if re.search(r"\$json\b|\$input\b|(?<![\w$.])items?\b", rest):
        scripts.heads.setdefault(None, set()).update(
            _whole_items_only(items.resolve(None), rest, what)
        )
        scripts.current = True


def _named_fields(item: ItemRef, name: str, source: str, what: str) -> tuple[set[str], str]:
    """The fields of a named node's item read (a webhook's: passed as some fields only).

    Each reference must be ``$('Name').item|first()|last().json.<field>`` or
    ``$node["Name"].json.<field>``. Returns the fields and the source without those
    references (so that their ``json`` is not taken for the input item's).
    """
    quoted = "(?:'" + re.escape(name) + "'|\"" + re.escape(name) + '")'
    named = r"\$\(\s*" + quoted + r"\s*\)"
    indexed = r"\$node\s*\[\s*" + quoted + r"\s*\]"
    reference = re.compile(
        named + r"\s*\.\s*(?:item|first\(\s*\)|last\(\s*\))\s*\.\s*json"
        "|" + indexed + r"\s*\.\s*json"
    )
    read: set[str] = set()
    for match in reference.finditer(source):
        access = _HEAD_ACCESS.match(source, match.end())
        key = access and next((g for g in access.group("a", "b", "c") if g is not None), None)
        heads = item.heads or {}
        if not isinstance(key, str) or key not in heads:
            known = ", ".join(sorted(heads))
            raise Untranslatable(
                f"{what} reads {item.what} beyond its {known} (other fields have no equal)"
            )
        read.add(key)
    rest = reference.sub("__named", source)
    if re.search(named + "|" + indexed, rest):
        raise Untranslatable(f"{what} reads {item.what} as a whole (only its fields translate)")
    return read, rest


def _whole_items_only(item: ItemRef, source: str, what: str) -> set[str]:
    """An item passed as some fields only (a webhook's) may only be read through those.

    Returns:
        The fields the source reads (none for an item passed whole).
    """
    read: set[str] = set()
    if item.heads is None:
        return read
    for match in _JSON_WORD.finditer(source):
        access = _HEAD_ACCESS.match(source, match.end())
        key = access and next((g for g in access.group("a", "b", "c") if g is not None), None)
        if not isinstance(key, str) or key not in item.heads:
            known = ", ".join(sorted(item.heads))
            raise Untranslatable(
                f"{what} reads {item.what} beyond its {known} (other fields have no equal)"
            )
        read.add(key)
    return read


# --- Code, Function and Function Item nodes ------------------------------------------------

_ONE_ITEM: Final = r"""
if (__out.length !== 1) {
  throw new Error("the n8n node returned " + __out.length + " items; its Headrace" +
    " translation passes one item from node to node (docs/integrations.md)");
}
const __one = __out[0];
if (__one === null || typeof __one !== "object" || Array.isArray(__one)) {
  throw new Error("Code doesn't return items properly");
}
return Object.prototype.hasOwnProperty.call(__one, "json") ? __one.json : __one;
"""


def code_node_script(code: str, mode: str) -> str:
    """The code step body running an n8n node's JavaScript and returning its one item.

    ``mode`` is ``all`` (Code "run once for all items", Function), ``each`` (Code "run once
    for each item") or ``item`` (Function Item: ``item`` is the json and is returned).
    """
    if mode == "all":
        setup = "const items = $input.all();\n"
        finish = "const __out = Array.isArray(__result) ? __result : [__result];\n"
    elif mode == "each":
        setup = "const item = __wrapped[0];\n"
        finish = (
            "if (Array.isArray(__result)) {\n"
            '  throw new Error("Code doesn\'t return a single object");\n}\n'
            "const __out = [__result];\n"
        )
    else:
        setup = "const item = __json;\n"
        finish = "const __out = [{ json: __result }];\n"
    return (
        _GLOBALS
        + setup
        + "const __result = await (async () => {\n"
        + code
        + "\n})();\n"
        + finish
        + _ONE_ITEM
    )


# A node that reads no input returns the same items on every run (short of Date or
# Math.random): the translation runs it once, in a small sandbox of its own, to know their
# number. The budget bounds what a sync spends on hostile code.
_PROBE_SECONDS: Final = 0.05
_PROBE_MEMORY: Final = 16 * 1024 * 1024
_RETURNED = re.compile(r"the n8n node returned (\d+) items")


def returned_items(script: str) -> int | None:
    """The number of items a ``code_node_script`` that reads no input returns, when it says
    it is not one; ``None`` when it returns one item, fails otherwise or runs too long."""
    context = quickjs.Context()
    context.set_memory_limit(_PROBE_MEMORY)
    context.set_max_stack_size(256 * 1024)
    context.set_time_limit(_PROBE_SECONDS)
    probe = (
        'globalThis.__outcome = "";\n'
        + wrap(script)
        + '({"nodes": {}}).then(() => { __outcome = "ok"; },'
        + " (e) => { __outcome = String(e && e.message); });"
    )
    try:
        context.eval(probe)
        for _ in range(1000):
            if not context.execute_pending_job():
                break
        outcome = str(context.get("__outcome"))
    except quickjs.JSException:
        return None
    match = _RETURNED.search(outcome)
    return int(match.group(1)) if match else None
