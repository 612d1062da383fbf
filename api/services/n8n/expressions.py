"""n8n expressions to Headrace templates, for the forms whose meaning is certain.

An n8n parameter is an expression when it is a string starting with ``=``; the rest is text
with ``{{ js }}`` parts. Only these JavaScript forms are accepted inside the braces, each a
path into one item, matched whole (anything else raises :class:`Untranslatable`):

    $json<path>                                 the node's input item
    $input.item.json<path>, $input.first().json<path>
    $('Node').item.json<path>                   also .first() / .last(), " or ' quotes
    $node["Node"].json<path>                    also ' quotes

where ``<path>`` is any sequence of ``.name``, ``[0]``, ``["key"]`` and ``['key']``. Items
are resolved by the caller (an :class:`ItemResolver`): the translation assumes every node
handles one item, which holds for workflows started by a trigger that gives one item.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # javascript.py imports this module
    from api.services.n8n.javascript import Scripts

_NAME = r"""(?:'(?P<{g}1>[^'\\]*)'|"(?P<{g}2>[^"\\]*)")"""
_ROOTS: tuple[tuple[re.Pattern[str], bool], ...] = (
    (re.compile(r"\$json"), False),
    (re.compile(r"\$input\.(?:item|first\(\))\.json"), False),
    (
        re.compile(r"\$\(\s*" + _NAME.format(g="a") + r"\s*\)\.(?:item|first\(\)|last\(\))\.json"),
        True,
    ),
    (re.compile(r"\$node\[\s*" + _NAME.format(g="a") + r"\s*\]\.json"), True),
)
_ACCESSOR = re.compile(
    r"""\.(?P<ident>[A-Za-z_$][A-Za-z0-9_$]*)"""
    r"""|\[\s*(?P<index>\d+)\s*\]"""
    r"""|\[\s*'(?P<sq>[^'\\]*)'\s*\]"""
    r"""|\[\s*"(?P<dq>[^"\\]*)"\s*\]"""
)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Words Jinja reads as operators or literals: such keys are written as ["key"].
_JINJA_WORDS = frozenset(
    {"and", "or", "not", "in", "is", "if", "else", "true", "false", "none", "True", "False"}
    | {"None", "recursive", "with", "without", "context", "ignore", "missing"}
)


class Untranslatable(Exception):
    """Something in an n8n workflow has no exact Headrace equivalent; ``reason`` says what."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ItemRef:
    """Where a node's item lives in Headrace, as a Jinja expression.

    ``heads`` restricts the first key of a path: for a webhook item, ``body`` is
    ``input.body`` but n8n's ``params`` has no counterpart. ``None`` allows any key.
    """

    base: str
    heads: Mapping[str, str] | None = None
    what: str = "this item"

    def path(self, keys: list[str | int]) -> str:
        """The Jinja expression of ``keys`` under this item."""
        if self.heads is None:
            return self.base + "".join(_accessor(k) for k in keys)
        if not keys:
            raise Untranslatable(f"{self.what} as a whole has a different shape in Headrace")
        head = keys[0]
        if not isinstance(head, str) or head not in self.heads:
            known = ", ".join(sorted(self.heads)) or "nothing"
            raise Untranslatable(
                f"{self.what} has no {head!r} field in Headrace (only {known} translate)"
            )
        return self.heads[head] + "".join(_accessor(k) for k in keys[1:])


@dataclass(frozen=True)
class Unavailable:
    """An item that cannot be referenced; ``reason`` says why."""

    reason: str


@dataclass(frozen=True)
class ItemList(Unavailable):
    """Several items (after a Split Out): ``base`` is the Jinja list of their json.

    Only the nodes that run once per item (a ``foreach`` step) or gather the items (Code
    for all items, Aggregate) read it; to anything else it is unavailable.
    """

    base: str = ""


Item = ItemRef | Unavailable


@dataclass
class ItemResolver:
    """Resolves ``$json`` (the current item) and ``$('Node')`` (a named node's item)."""

    current: Item
    named: Callable[[str], Item]
    used_nodes: set[str] = field(default_factory=set)
    # Where an expression that is not a plain path goes to be evaluated as JavaScript (a
    # ``code`` step before the node); ``None``: such an expression is untranslatable.
    scripts: Scripts | None = None

    def resolve(self, node: str | None) -> ItemRef:
        item = self.current if node is None else self.named(node)
        if node is not None:
            self.used_nodes.add(node)
        if isinstance(item, Unavailable):
            raise Untranslatable(item.reason)
        return item


def chain_items(options: list[tuple[str, Item]], what: str) -> Item:
    """The item of the first option whose Jinja condition holds (``none`` if none does)."""
    if len(options) == 1:
        return options[0][1]
    if any(not isinstance(i, ItemRef) or i.heads is not None for _, i in options):
        return Unavailable("the item comes from branches with different shapes")
    expression = "none"
    for condition, item in reversed(options):
        assert isinstance(item, ItemRef)
        expression = f"{item.base} if ({condition}) else ({expression})"
    return ItemRef(f"({expression})", what=what)


def _accessor(key: str | int) -> str:
    if isinstance(key, int):
        return f"[{key}]"
    if _IDENTIFIER.fullmatch(key) and key not in _JINJA_WORDS:
        return f".{key}"
    return "[" + json.dumps(key) + "]"


def translate_js(source: str, items: ItemResolver) -> str:
    """Translate the JavaScript inside one ``{{ }}`` to a Jinja expression.

    Raises:
        Untranslatable: If the source is not one of the accepted path forms.
    """
    text = source.strip()
    for pattern, named in _ROOTS:
        match = pattern.match(text)
        if match is None:
            continue
        node = (
            (match.group("a1") if match.group("a1") is not None else match.group("a2"))
            if named
            else None
        )
        keys = _parse_path(text, match.end(), source)
        return items.resolve(node).path(keys)
    raise Untranslatable(f"the expression {{{{{source}}}}} is not a plain item path")


def _parse_path(text: str, position: int, source: str) -> list[str | int]:
    keys: list[str | int] = []
    while position < len(text):
        match = _ACCESSOR.match(text, position)
        if match is None:
            raise Untranslatable(f"the expression {{{{{source}}}}} is not a plain item path")
        if match.group("index") is not None:
            keys.append(int(match.group("index")))
        else:
            keys.append(next(g for g in match.group("ident", "sq", "dq") if g is not None))
        position = match.end()
    return keys


def split_n8n_template(body: str) -> list[tuple[str, bool]]:
    """Cut the text of an n8n expression into literal text and ``{{ }}`` sources."""
    parts: list[tuple[str, bool]] = []
    position = 0
    while (start := body.find("{{", position)) != -1:
        end = body.find("}}", start + 2)
        if end == -1:
            raise Untranslatable("an n8n expression has a '{{' that is never closed")
        if start > position:
            parts.append((body[position:start], False))
        parts.append((body[start + 2 : end], True))
        position = end + 2
    if position < len(body):
        parts.append((body[position:], False))
    return parts


def translate_value(value: Any, items: ItemResolver) -> Any:
    """Translate a parameter value (and, recursively, dicts and lists) to a template value.

    Literal strings stay as they are; ``=`` strings become Headrace templates: a lone
    ``{{ }}`` keeps its JSON type, text with ``{{ }}`` parts is interpolated.
    """
    if isinstance(value, dict):
        return {k: translate_value(v, items) for k, v in value.items()}
    if isinstance(value, list):
        return [translate_value(v, items) for v in value]
    if not isinstance(value, str):
        return value
    if not value.startswith("="):
        if "{{" in value:
            raise Untranslatable("a literal text holds '{{', which Headrace reads as a template")
        return value
    parts = split_n8n_template(value[1:])
    try:
        if len(parts) == 1 and parts[0][1]:
            return "{{ " + translate_js(parts[0][0], items) + " }}"
        out: list[str] = []
        for text, is_expression in parts:
            if is_expression:
                out.append("{{ " + translate_js(text, items) + " }}")
            elif "{{" in text:  # pragma: no cover - split_n8n_template never yields this
                raise Untranslatable("a literal text holds '{{'")
            else:
                out.append(text)
        return "".join(out)
    except Untranslatable:
        if items.scripts is None:
            raise
    return "{{ " + items.scripts.expression(value[1:], parts, items) + " }}"


def translate_operand(value: Any, items: ItemResolver) -> str:
    """A value as a Jinja *expression*: a literal, or the path of a lone ``{{ }}``."""
    if isinstance(value, str) and value.startswith("="):
        parts = split_n8n_template(value[1:])
        if not parts:
            return '""'
        try:
            if len(parts) == 1:
                text, is_expression = parts[0]
                return translate_js(text, items) if is_expression else jinja_literal(text)
            raise Untranslatable("a condition mixes text and expressions")
        except Untranslatable:
            if items.scripts is None:
                raise
        return items.scripts.expression(value[1:], parts, items)
    return jinja_literal(value)


def jinja_literal(value: Any) -> str:
    """A JSON value written as a Jinja literal."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(jinja_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        pairs = (f"{json.dumps(str(k))}: {jinja_literal(v)}" for k, v in value.items())
        return "{" + ", ".join(pairs) + "}"
    raise Untranslatable(f"a value of type {type(value).__name__} has no literal form")


def is_expression(value: Any) -> bool:
    """Tell whether an n8n parameter value is an expression (``=...`` with ``{{``)."""
    return isinstance(value, str) and value.startswith("=") and "{{" in value


def literal_text(value: Any) -> Any:
    """The value of a parameter that is not an expression (``"=abc"`` is ``"abc"``)."""
    if isinstance(value, str) and value.startswith("=") and "{{" not in value:
        return value[1:]
    return value


def whole_number(value: Any, default: int, what: str) -> int:
    """An integer parameter; ``None`` (an emptied field in n8n) is the default.

    Raises:
        Untranslatable: If the value is an expression or not a whole number.
    """
    number = fixed_number(value, default, what)
    if not float(number).is_integer():
        raise Untranslatable(f"{what} {value!r} is not a whole number")
    return int(number)


def fixed_number(value: Any, default: float, what: str) -> float:
    """A numeric parameter known at sync time (n8n also stores numbers as text).

    Raises:
        Untranslatable: If the value is an expression or not a number.
    """
    if value is None:
        return default
    if isinstance(value, bool) or is_expression(value):
        raise Untranslatable(f"{what} {value!r} is not a fixed number")
    if isinstance(value, int | float):
        number = float(value)
    else:
        try:
            number = float(str(literal_text(value)).strip())
        except ValueError as exc:
            raise Untranslatable(f"{what} {value!r} is not a fixed number") from exc
    if number != number or number in (float("inf"), float("-inf")):
        raise Untranslatable(f"{what} {value!r} is not a fixed number")
    return int(number) if number.is_integer() else number
