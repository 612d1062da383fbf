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
* gives one evaluation a budget of work (:data:`MAX_WORK` characters and items, see
  :func:`work_budget`): every filter, method call, ``+``/``*``/``%``/``~`` and slice charges
  what it produces (generators per item, as they yield), ``wordwrap`` also the copying its
  long words cost, so chaining bounded operations (``map('center', ...)``) cannot add up to
  gigabytes or seconds. The budget counts work, never time: an evaluation fails or succeeds
  the same way on every replay;
* never folds constant filter calls at compile time (every filter takes the context), so
  compiling a template (validation, the first run) evaluates nothing;
* drops the ``random`` filter (runs must replay identically) and ``urlize``/``pprint``;
* reads dict keys before attributes, so ``output.items`` is the key ``items`` if present;
* gives :class:`MissingValue` for what is missing: it chains (``a.b.c``), works with
  ``default`` and ``is defined``, but fails when used as a value, and (strict mode, see
  :func:`missing_values`) also when compared, tested for truth or hashed.

Why one module of this length: each bounded operation (filters, methods, operators) charges
the same per-evaluation budget, and the budget's rules must be read together to see that no
operation escapes them.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, ItemsView, Iterable, Iterator, KeysView, Mapping, ValuesView
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, NoReturn

from jinja2 import ChainableUndefined, Undefined, nodes, pass_context, pass_environment
from jinja2.compiler import CodeGenerator, Frame, optimizeconst
from jinja2.exceptions import SecurityError
from jinja2.filters import (
    do_batch,
    do_center,
    do_format,
    do_indent,
    do_wordwrap,
    make_attrgetter,
    sync_do_slice,
    sync_do_sum,
)
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import _PassArg

from temporal_workflows.clock import DATE_FILTERS

__all__ = [
    "ENVIRONMENT",
    "MAX_EXPONENT",
    "MAX_REPEAT",
    "MAX_VALUE_SIZE",
    "MAX_WIDTH",
    "MAX_WORK",
    "ExpressionLimitError",
    "HeadraceEnvironment",
    "MissingValue",
    "WorkBudget",
    "missing_values",
    "render_text",
    "to_json_value",
    "work_budget",
]

MAX_EXPONENT = 1000
MAX_INT_BITS = 100_000
MAX_REPEAT = 100_000
MAX_VALUE_SIZE = 10_000_000
MAX_DEPTH = 200
MAX_FORMAT_WIDTH = 1000
# Widths of `center`, `indent` and `wordwrap`: wider is never text anyone reads.
MAX_WIDTH = 10_000
# What one evaluation (a step's `with`, a `when`, the output...) may produce in all, in
# characters and items as `measure` counts them: 2x the largest single value.
MAX_WORK = 2 * MAX_VALUE_SIZE
# `wordwrap` breaking a long word copies what is left of it for every piece: this many bytes
# copied cost one unit of work (a memory copy is that much cheaper than making a character).
_COPY_BYTES_PER_UNIT = 100

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


class WorkBudget:
    """What one evaluation may still produce (characters and items, as :func:`measure`)."""

    __slots__ = ("remaining",)

    def __init__(self, limit: float) -> None:
        self.remaining = limit

    def charge(self, amount: int) -> None:
        self.remaining -= amount
        if self.remaining < 0:
            raise ExpressionLimitError(
                f"the expression does more work than {MAX_WORK} characters or items"
            )


_BUDGET: ContextVar[WorkBudget | None] = ContextVar("headrace_work_budget", default=None)


@contextmanager
def work_budget(limit: int | None = MAX_WORK) -> Iterator[WorkBudget]:
    """The budget of one evaluation; evaluations inside it share it.

    Evaluation is synchronous (no await in between), so a context variable scopes it to the
    one evaluation running in this thread.

    Args:
        limit: Units of work allowed, or None for no budget (runs recorded before budgets).
    """
    current = _BUDGET.get()
    if current is not None:
        yield current
        return
    budget = WorkBudget(limit if limit is not None else math.inf)
    token = _BUDGET.set(budget)
    try:
        yield budget
    finally:
        _BUDGET.reset(token)


def charge(amount: int) -> None:
    """Charge ``amount`` units of work to the running evaluation (if it has a budget)."""
    budget = _BUDGET.get()
    if budget is not None:
        budget.charge(amount)


def account(result: Any, source: Any = None) -> Any:
    """Charge what an operation produced; iterators are charged per item as they yield.

    ``source`` is the operation's input: a result that *is* its input (``default``,
    ``first`` of a one-item list...) made nothing new.
    """
    budget = _BUDGET.get()
    if budget is None or result is source:
        return result
    if isinstance(result, str):
        budget.charge(len(result))
    elif isinstance(result, Iterator):
        return _metered(result)
    elif isinstance(result, list | tuple | Mapping):
        budget.charge(measure(result, max(int(min(budget.remaining, MAX_WORK)), 0) + 1))
    else:
        budget.charge(1)
    return result


def _metered(items: Iterable[Any]) -> Iterator[Any]:
    for item in items:
        yield account(item)


_STRICT: ContextVar[bool] = ContextVar("headrace_strict_missing", default=True)


@contextmanager
def missing_values(*, strict: bool) -> Iterator[None]:
    """How missing values behave during one evaluation.

    Strict (the default): comparing (``==``, ``!=``, ``in``), testing for truth (``if``,
    ``and``, ``or``, ``not``) or hashing a missing value fails, so ``a.typo != 'x'`` is an
    error instead of ``true``. Lenient: those give what they gave before strictness (equal
    to nothing, false), for runs recorded before it.
    """
    token = _STRICT.set(strict)
    try:
        yield
    finally:
        _STRICT.reset(token)


class MissingValue(ChainableUndefined):
    """What a missing name, key or index evaluates to.

    ``a.b.c`` on a missing ``a`` stays missing (so ``| default(x)`` and ``is defined``
    work on whole paths), but printing, iterating, measuring or computing with it fails,
    and so (strict mode) do comparing it and testing it for truth: a typo is never
    silently an empty string, ``false`` or ``true``.
    """

    __slots__ = ()
    __str__ = Undefined._fail_with_undefined_error
    __iter__ = Undefined._fail_with_undefined_error
    __len__ = Undefined._fail_with_undefined_error

    def __eq__(self, other: object) -> bool:
        if _STRICT.get():
            self._fail_with_undefined_error()
        return type(self) is type(other)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __bool__(self) -> bool:
        if _STRICT.get():
            self._fail_with_undefined_error()
        return False

    def __hash__(self) -> int:
        if _STRICT.get():
            self._fail_with_undefined_error()
        return id(type(self))


class HeadraceEnvironment(ImmutableSandboxedEnvironment):
    """The sandboxed, bounded Jinja environment for Headrace expressions."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self) -> None:
        super().__init__(undefined=MissingValue, autoescape=False)
        self.code_generator_class = _MeteredCodeGenerator
        self.globals.clear()
        for name in ("random", "urlize", "pprint"):
            del self.filters[name]
        self.filters.update(_BOUNDED_FILTERS)
        self.filters.update(DATE_FILTERS)
        for name, func in list(self.filters.items()):
            self.filters[name] = _metered_filter(func)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        """Call a (safe) method and charge what it returns."""
        return account(super().call(__context, __obj, *args, **kwargs), __obj)

    def getitem(self, obj: Any, argument: Any) -> Any:
        """Index or slice; a slice is a copy, so it is charged."""
        result = super().getitem(obj, argument)
        return account(result, obj) if isinstance(argument, slice) else result

    def concat_metered(self, parts: tuple[Any, ...]) -> str:
        """``a ~ b ~ c`` (the compiled code calls this): each part's text is charged before
        the next is made, so ``big ~ big ~ ...`` stops at the budget."""
        texts = []
        for part in parts:
            text = str(part)
            charge(len(text))
            texts.append(text)
        return "".join(texts)

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
        return account(self.binop_table[operator](left, right), left)


class _MeteredCodeGenerator(CodeGenerator):
    """Jinja's code generator, with every ``~`` concatenation charged to the budget."""

    @optimizeconst
    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        # Autoescaping is off in this environment, so there is no Markup variant to keep.
        self.write("environment.concat_metered((")
        for argument in node.nodes:
            self.visit(argument, frame)
            self.write(", ")
        self.write("))")


def _metered_filter(func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` taking the context (so Jinja never folds a call at compile time), with what
    it returns charged to the evaluation's budget."""
    pass_arg = _PassArg.from_obj(func)

    @functools.wraps(func)
    def metered(context: Context, *args: Any, **kwargs: Any) -> Any:
        if pass_arg is _PassArg.context:
            result = func(context, *args, **kwargs)
        elif pass_arg is _PassArg.eval_context:
            result = func(context.eval_ctx, *args, **kwargs)
        elif pass_arg is _PassArg.environment:
            result = func(context.environment, *args, **kwargs)
        else:
            result = func(*args, **kwargs)
        return account(result, args[0] if args else None)

    return pass_context(metered)


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


def _check_width(width: Any, what: str, limit: int = MAX_REPEAT) -> None:
    size = len(width) if isinstance(width, str) else width
    if isinstance(size, int) and size > limit:
        raise ExpressionLimitError(f"{what} must be at most {limit}")


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
    result = _convert(value, budget, 0)
    charge(limit - budget[0])
    return result


def _convert(value: Any, budget: list[int], depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise ExpressionLimitError(f"the value is nested deeper than {MAX_DEPTH} levels")
    _spend(budget, len(value) if isinstance(value, str) else 1)
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


def _spend(budget: list[int], amount: int) -> None:
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
    _check_width(width, "center width", MAX_WIDTH)
    return do_center(value, width)


def _indent(text: str, width: int | str = 4, first: bool = False, blank: bool = False) -> str:
    _check_width(width, "indent width", MAX_WIDTH)
    lines = str(text).count("\n") + 1
    if lines * (len(width) if isinstance(width, str) else width) > MAX_VALUE_SIZE:
        raise ExpressionLimitError(f"indent would build more than {MAX_VALUE_SIZE} characters")
    return do_indent(text, width, first, blank)


@pass_environment
def _wordwrap(environment: Any, text: str, width: int = 79, *args: Any, **kwargs: Any) -> str:
    _check_width(width, "wordwrap width", MAX_WIDTH)
    wrapstring = kwargs.get("wrapstring", args[1] if len(args) > 1 else None) or "\n"
    lines = len(str(text)) // max(int(width), 1) + 1
    if lines * len(str(wrapstring)) > MAX_VALUE_SIZE:
        raise ExpressionLimitError(f"wordwrap would build more than {MAX_VALUE_SIZE} characters")
    # Breaking a word longer than the width copies the rest of it for every piece: that
    # work grows with the square of the word's length (a 100 000-letter word at width 1
    # copies 5 GB). Charge it before doing it.
    break_long_words = kwargs.get("break_long_words", args[0] if args else True)
    longest = max(map(len, str(text).split()), default=0)
    width_ = max(int(width), 1)
    copies = longest * longest // (2 * width_) if break_long_words and longest > width_ else 0
    charge(len(str(text)) + copies // _COPY_BYTES_PER_UNIT)
    return do_wordwrap(environment, text, width, *args, **kwargs)


def _format(value: str, *args: Any, **kwargs: Any) -> str:
    _check_printf(str(value))
    return do_format(value, *args, **kwargs)


@pass_environment
def _sum(environment: Any, iterable: Any, attribute: Any = None, start: Any = 0) -> Any:
    # sum() of lists copies the growing total for every item (quadratic): join them once.
    if not isinstance(start, list):
        return sync_do_sum(environment, iterable, attribute, start)
    items = list(iterable)
    if attribute is not None:
        items = [make_attrgetter(environment, attribute)(item) for item in items]
    if not all(isinstance(item, list) for item in items):
        raise TypeError("can only add lists to a list")
    charge(sum(map(len, items)))
    return [*start, *(element for item in items for element in item)]


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
    "sum": _sum,
    "batch": _batch,
    "slice": _slice,
}

# One shared instance: environments are not cheap, and compiled expressions are cached per
# process on top of it.
ENVIRONMENT = HeadraceEnvironment()
