"""The Jinja environment templates run in: Jinja's immutable sandbox, with bounded work.

Jinja's sandbox already refuses ``_``/dunder attribute walking and mutation of lists and
dicts. On top of it, this environment:

* has no globals (no ``range``, ``lipsum``, ``cycler``, ``joiner``, ``namespace``, ``dict``):
  expressions see only the names of the evaluation context;
* lets expressions call only a short list of harmless methods (``'a'.upper()``,
  ``x.split(',')``, ``d.get('k')``...), and no ``str.format``;
* bounds the operators and filters that can make huge values from small ones: ``**`` (an
  exponent over 1000), ``*`` on strings and lists (results over 100 000 characters/items),
  ``%`` formatting and the ``format``/``center``/``indent``/``wordwrap``/``batch``/``slice``
  filters (widths and counts), and every value turned into JSON or text (10 million);
* drops the ``random`` filter (runs must replay identically) and ``urlize``/``pprint``;
* reads dict keys before attributes, so ``output.items`` is the key ``items`` if present;
* gives :class:`MissingValue` for what is missing: it chains (``a.b.c``), works with
  ``default`` and ``is defined``, but fails when used as a value.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, ItemsView, Iterator, KeysView, Mapping, ValuesView
from typing import Any, NoReturn

from jinja2 import ChainableUndefined, Undefined, pass_environment
from jinja2.exceptions import SecurityError
from jinja2.filters import (
    do_batch,
    do_center,
    do_format,
    do_indent,
    do_wordwrap,
    make_attrgetter,
    sync_do_slice,
)
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

__all__ = [
    "ENVIRONMENT",
    "MAX_EXPONENT",
    "MAX_REPEAT",
    "MAX_VALUE_SIZE",
    "ExpressionLimitError",
    "HeadraceEnvironment",
    "MissingValue",
    "render_text",
    "to_json_value",
]

MAX_EXPONENT = 1000
MAX_INT_BITS = 100_000
MAX_REPEAT = 100_000
MAX_VALUE_SIZE = 10_000_000
MAX_DEPTH = 200
MAX_FORMAT_WIDTH = 1000

_SAFE_METHODS: dict[type, frozenset[str]] = {
    str: frozenset(
        {
            "lower",
            "upper",
            "title",
            "capitalize",
            "casefold",
            "swapcase",
            "strip",
            "lstrip",
            "rstrip",
            "split",
            "rsplit",
            "splitlines",
            "startswith",
            "endswith",
            "find",
            "rfind",
            "count",
            "removeprefix",
            "removesuffix",
            "partition",
            "rpartition",
            "isdigit",
            "isdecimal",
            "isnumeric",
            "isalpha",
            "isalnum",
            "isspace",
            "islower",
            "isupper",
        }
    ),
    dict: frozenset({"get", "keys", "values", "items"}),
    list: frozenset({"index", "count"}),
}
_PRINTF_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")


class ExpressionLimitError(SecurityError):
    """An expression tried to build a value or do work beyond the sandbox's bounds."""


class MissingValue(ChainableUndefined):
    """What a missing name, key or index evaluates to.

    ``a.b.c`` on a missing ``a`` stays missing (so ``| default(x)`` and ``is defined``
    work on whole paths), but printing, iterating, measuring or computing with it fails,
    so a typo is never silently an empty string.
    """

    __slots__ = ()
    __str__ = Undefined._fail_with_undefined_error
    __iter__ = Undefined._fail_with_undefined_error
    __len__ = Undefined._fail_with_undefined_error


class HeadraceEnvironment(ImmutableSandboxedEnvironment):
    """The sandboxed, bounded Jinja environment for Headrace expressions."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def __init__(self) -> None:
        super().__init__(undefined=MissingValue, autoescape=False)
        self.globals.clear()
        for name in ("random", "urlize", "pprint"):
            del self.filters[name]
        self.filters.update(_BOUNDED_FILTERS)

    def getattr(self, obj: Any, attribute: str) -> Any:
        """Look a key up before an attribute, so JSON keys named like methods work."""
        if isinstance(obj, Mapping):
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        """Allow data attributes and only the listed harmless methods."""
        if not super().is_safe_attribute(obj, attr, value):
            return False
        if isinstance(value, Undefined) or not callable(value):
            return True
        return any(isinstance(obj, kind) and attr in names for kind, names in _SAFE_METHODS.items())

    def unsafe_undefined(self, obj: Any, attribute: str) -> NoReturn:
        """Refuse unsafe attribute access at once instead of yielding an undefined."""
        raise SecurityError(
            f"access to attribute {attribute!r} of a {type(obj).__name__} is not allowed"
        )

    def wrap_str_format(self, value: Any) -> None:
        """Never hand out ``str.format``: its width specifiers are unbounded."""
        return None

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """Run ``*``, ``**`` and ``%`` after checking the size of what they would build."""
        if operator == "**":
            _check_power(left, right)
        elif operator == "*":
            _check_repeat(left, right)
        elif operator == "%" and isinstance(left, str):
            _check_printf(left)
        return self.binop_table[operator](left, right)


def _check_power(base: Any, exponent: Any) -> None:
    if not isinstance(exponent, int | float) or not isinstance(base, int | float):
        return
    if abs(exponent) > MAX_EXPONENT:
        raise ExpressionLimitError(f"exponent {exponent} is larger than {MAX_EXPONENT}")
    if not (isinstance(base, int) and isinstance(exponent, int)) or exponent <= 0:
        return
    if abs(base).bit_length() * exponent > MAX_INT_BITS:
        raise ExpressionLimitError("the power is too large a number")


def _check_repeat(left: Any, right: Any) -> None:
    for sequence, count in ((left, right), (right, left)):
        if not (isinstance(sequence, str | list | tuple) and isinstance(count, int)):
            continue
        if measure(sequence, MAX_REPEAT) * max(count, 0) > MAX_REPEAT:
            raise ExpressionLimitError(
                f"repetition would build more than {MAX_REPEAT} characters or items"
            )


def _check_printf(template: str) -> None:
    for match in _PRINTF_SPEC.finditer(template):
        for number in match.groups():
            if number == "*" or (number is not None and int(number) > MAX_FORMAT_WIDTH):
                raise ExpressionLimitError(
                    f"format widths and precisions must be at most {MAX_FORMAT_WIDTH}"
                )


def _check_width(width: Any, what: str) -> None:
    size = len(width) if isinstance(width, str) else width
    if isinstance(size, int) and size > MAX_REPEAT:
        raise ExpressionLimitError(f"{what} must be at most {MAX_REPEAT}")


def measure(value: Any, limit: int) -> int:
    """Size of ``value`` as JSON would spell it out (characters + items), stopping past ``limit``.

    Shared references count every time they appear, as they would once serialised.
    """
    total, stack = 0, [value]
    while stack and total <= limit:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, Mapping):
            total += 1
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            total += 1
            stack.extend(item)
        else:
            total += 1
    return total


def to_json_value(value: Any, limit: int = MAX_VALUE_SIZE) -> Any:
    """Convert an expression result to plain JSON types (lists, dicts with str keys...).

    Generators and views (``map``, ``select``, ``items``...) become lists, tuples become
    lists, Markup becomes str.

    Raises:
        jinja2.exceptions.UndefinedError: If a missing value is inside.
        ExpressionLimitError: If the value is larger than ``limit`` or nested too deeply.
        TypeError: If a value has no JSON form (a method, NaN...).
    """
    budget = [limit]
    return _convert(value, budget, 0)


def _convert(value: Any, budget: list[int], depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise ExpressionLimitError(f"the value is nested deeper than {MAX_DEPTH} levels")
    _charge(budget, len(value) if isinstance(value, str) else 1)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TypeError(f"{value} is not a JSON number")
        return float(value)
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    if isinstance(value, Mapping):
        result: dict[str, Any] = {}
        for key, item in value.items():
            result[_json_key(key)] = _convert(item, budget, depth + 1)
        return result
    if isinstance(value, list | tuple | Iterator | KeysView | ValuesView | ItemsView):
        items: list[Any] = []
        for item in value:
            items.append(_convert(item, budget, depth + 1))
        return items
    if callable(value):
        raise TypeError("a method is not a value: call it with () or check the key exists")
    raise TypeError(f"a {type(value).__name__} is not a JSON value")


def _charge(budget: list[int], amount: int) -> None:
    budget[0] -= amount
    if budget[0] < 0:
        raise ExpressionLimitError(f"the value is larger than {MAX_VALUE_SIZE} characters")


def _json_key(key: Any) -> str:
    # The same keys json.dumps accepts, spelled the same way.
    if isinstance(key, str):
        return str(key)
    if key is None or isinstance(key, bool | int | float):
        return json.dumps(key)
    raise TypeError(f"a {type(key).__name__} cannot be a JSON object key")


def render_text(value: Any) -> str:
    """Text of a value inside an interpolated string (and of the ``string`` filter).

    None is ``""``, booleans ``true``/``false``, lists and dicts compact JSON.
    """
    if isinstance(value, str) and not isinstance(value, Undefined):
        return str(value)
    plain = to_json_value(value)
    if plain is None:
        return ""
    if isinstance(plain, bool | dict | list):
        return json.dumps(plain, ensure_ascii=False, separators=(",", ":"))
    return str(plain)


# --- filters that need bounds or JSON semantics ------------------------------------------


def _tojson(value: Any, indent: int | None = None) -> str:
    _check_width(indent or 0, "indent")
    return json.dumps(to_json_value(value), ensure_ascii=False, indent=indent)


@pass_environment
def _join(environment: Any, value: Any, d: str = "", attribute: Any = None) -> str:
    items = list(value)
    if attribute is not None:
        items = [make_attrgetter(environment, attribute)(item) for item in items]
    size = len(d) * max(len(items) - 1, 0) + measure(items, MAX_VALUE_SIZE)
    if size > MAX_VALUE_SIZE:
        raise ExpressionLimitError(f"join would build more than {MAX_VALUE_SIZE} characters")
    return str(d).join(render_text(item) for item in items)


def _replace(text: str, old: str, new: str, count: int | None = None) -> str:
    text, old, new = str(text), str(old), str(new)
    hits = text.count(old) if old else len(text) + 1
    if count is not None and count >= 0:
        hits = min(hits, count)
    if len(text) + hits * (len(new) - len(old)) > MAX_VALUE_SIZE:
        raise ExpressionLimitError(f"replace would build more than {MAX_VALUE_SIZE} characters")
    return text.replace(old, new, -1 if count is None else count)


def _center(value: str, width: int = 80) -> str:
    _check_width(width, "center width")
    return do_center(value, width)


def _indent(text: str, width: int | str = 4, first: bool = False, blank: bool = False) -> str:
    _check_width(width, "indent width")
    lines = str(text).count("\n") + 1
    if lines * (len(width) if isinstance(width, str) else width) > MAX_VALUE_SIZE:
        raise ExpressionLimitError(f"indent would build more than {MAX_VALUE_SIZE} characters")
    return do_indent(text, width, first, blank)


@pass_environment
def _wordwrap(environment: Any, text: str, width: int = 79, *args: Any, **kwargs: Any) -> str:
    wrapstring = kwargs.get("wrapstring", args[1] if len(args) > 1 else None) or "\n"
    lines = len(str(text)) // max(int(width), 1) + 1
    if lines * len(str(wrapstring)) > MAX_VALUE_SIZE:
        raise ExpressionLimitError(f"wordwrap would build more than {MAX_VALUE_SIZE} characters")
    return do_wordwrap(environment, text, width, *args, **kwargs)


def _format(value: str, *args: Any, **kwargs: Any) -> str:
    _check_printf(str(value))
    return do_format(value, *args, **kwargs)


def _batch(value: Any, linecount: int, fill_with: Any = None) -> Iterator[list[Any]]:
    _check_fill(linecount, fill_with, "batch size")
    return do_batch(value, linecount, fill_with)


def _slice(value: Any, slices: int, fill_with: Any = None) -> Iterator[list[Any]]:
    _check_fill(slices, fill_with, "number of slices")
    return sync_do_slice(value, slices, fill_with)


def _check_fill(count: Any, fill_with: Any, what: str) -> None:
    # The filler is repeated up to `count` times by reference: bound what that spells out.
    _check_width(count, what)
    if isinstance(count, int) and measure(fill_with, MAX_REPEAT) * count > MAX_REPEAT:
        raise ExpressionLimitError(
            f"filling would build more than {MAX_REPEAT} characters or items"
        )


_BOUNDED_FILTERS: dict[str, Callable[..., Any]] = {
    "tojson": _tojson,
    "string": render_text,
    "join": _join,
    "replace": _replace,
    "center": _center,
    "indent": _indent,
    "wordwrap": _wordwrap,
    "format": _format,
    "batch": _batch,
    "slice": _slice,
}

# One shared instance: environments are not cheap, and compiled expressions are cached per
# process on top of it.
ENVIRONMENT = HeadraceEnvironment()
