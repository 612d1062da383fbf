"""Templates in definitions: ``{{ expr }}`` evaluated with Jinja's immutable sandbox.

Rules (docs/expressions.md has the user's version):

* a string that is exactly one ``{{ expr }}`` (whitespace around allowed) becomes the
  expression's value with its JSON type; any other string with ``{{ }}`` is text, each
  expression rendered (None → ``""``, booleans → ``true``/``false``, lists/dicts → JSON);
  dicts and lists are evaluated value by value (keys are literal); other values pass through;
* a missing name, key or index is a :class:`~temporal_workflows.expression_sandbox.MissingValue`:
  ``a.b.c | default(1)`` and ``a.b is defined`` work, but a result that is missing, or an
  operation on a missing value (comparing it and testing it for truth included, unless
  ``strict=False``), raises :class:`ExpressionError` naming the missing path, with a "did
  you mean" over the keys that exist, or why a step's output is null (it was skipped);
* evaluation is deterministic and bounded (see :mod:`temporal_workflows.expression_sandbox`):
  one call of :func:`evaluate` (or ``evaluate_expression``/``evaluate_condition``) has one budget of
  work, and going over it, or over any single operation's bound, raises
  :class:`ExpressionLimitExceeded`;
* ``secrets.<name>`` gives a marker string unless real secrets are in the context (see
  :mod:`temporal_workflows.secret_markers`).

Compiled expressions are cached by source, so a template is compiled once per process.

Why one module of this length: evaluation, its error types and the secret-marker context are
the one public face of templates; the sandbox and the static analysis are modules of their own.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import Undefined
from jinja2.environment import TemplateExpression
from jinja2.exceptions import SecurityError, TemplateError, TemplateSyntaxError, UndefinedError

from temporal_workflows.expression_sandbox import (
    ENVIRONMENT,
    MAX_WORK,
    ExpressionLimitError,
    charge,
    missing_values,
    render_text,
    to_json_value,
    work_budget,
)
from temporal_workflows.secret_markers import (
    SECRET_MARKER_PREFIX,
    SECRET_MARKER_SUFFIX,
    SecretReferences,
    contains_secret_markers,
    redact_secrets,
    substitute_secret_markers,
)
from temporal_workflows.template_analysis import (
    Path,
    analyse,
    expression_problems,
    referenced_names,
    referenced_paths,
    referenced_steps,
    template_problems,
    uses_dynamic_step_reference,
)
from temporal_workflows.templates import (
    TemplateSyntaxProblem,
    expression_source,
    split_template,
    whole_expression,
)

__all__ = [
    "CONTEXT_NAMES",
    "MAX_WORK",
    "SECRET_MARKER_PREFIX",
    "SECRET_MARKER_SUFFIX",
    "ExpressionError",
    "ExpressionLimitExceeded",
    "UnknownSecretError",
    "build_context",
    "contains_secret_markers",
    "evaluate",
    "evaluate_condition",
    "evaluate_expression",
    "expression_problems",
    "redact_secrets",
    "referenced_names",
    "referenced_paths",
    "referenced_steps",
    "resolve_secret_markers",
    "template_problems",
    "uses_dynamic_step_reference",
]

CONTEXT_NAMES = frozenset(
    {
        "input",
        "vars",
        "steps",
        "item",
        "index",
        "output",
        "loop",
        "trigger",
        "now",
        "execution",
        "workflow",
        "secrets",
    }
)
_UNSET: Any = object()


class ExpressionError(Exception):
    """A template could not be parsed or evaluated.

    Attributes:
        message: What went wrong, for users.
        expression: The expression source (or whole template string) concerned.
        location: Where the template sits, e.g. ``steps.vip.with.discount``.
        error_type: What a step failing with it reports as its error type.
    """

    error_type = "ExpressionError"

    def __init__(self, message: str, *, expression: str = "", location: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.expression = expression
        self.location = location

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        shown = self.expression.strip()
        if shown and "{{" not in shown:
            shown = f"{{{{ {shown} }}}}"
        what = f" (in {shown})" if shown else ""
        return f"{where}{self.message}{what}"


class ExpressionLimitExceeded(ExpressionError):
    """An expression tried to do more work, or build a larger value, than allowed."""

    error_type = "ExpressionLimitExceeded"


class UnknownSecretError(ExpressionError, KeyError):
    """A secret marker names a secret that does not exist."""


@dataclass(frozen=True)
class _Expression:
    source: str
    run: TemplateExpression
    paths: tuple[Path, ...]  # static access paths, to name what is missing in errors


@lru_cache(maxsize=8192)
def _compile(source: str) -> _Expression:
    analysis = analyse(source)
    return _Expression(
        source, ENVIRONMENT.compile_expression(source, undefined_to_none=False), analysis.paths
    )


@lru_cache(maxsize=4096)
def _compile_text(text: str) -> tuple[str | _Expression, ...]:
    """A template string as its literal parts and compiled expressions."""
    return tuple(
        _compile(segment.text) if segment.is_expression else segment.text
        for segment in split_template(text)
    )


# --- evaluation --------------------------------------------------------------------------


def evaluate(
    value: Any,
    context: Mapping[str, Any],
    *,
    location: str = "",
    budget: int | None = MAX_WORK,
    strict: bool = True,
) -> Any:
    """Evaluate every template inside ``value``, all of them within one budget of work.

    Args:
        value: A JSON-like value: strings are templates, dicts and lists are walked.
        context: The names expressions see, usually from :func:`build_context`.
        location: Where ``value`` sits, for error messages (``steps.vip.with``).
        budget: Units of work (characters and items produced) allowed; None: unbounded
            (only for replaying runs recorded before budgets existed).
        strict: Comparing a missing value or testing it for truth fails (False only for
            replaying runs recorded before that, when it gave false).

    Returns:
        A new JSON-safe value; values without templates are returned as they are.

    Raises:
        ExpressionLimitExceeded: If it does too much work.
        ExpressionError: If a template does not parse, fails, or yields a missing value.
    """
    with work_budget(budget), missing_values(strict=strict):
        return _evaluate_value(value, context, location)


def _evaluate_value(value: Any, context: Mapping[str, Any], location: str) -> Any:
    if isinstance(value, str):
        return _evaluate_string(value, context, location) if "{{" in value else value
    if isinstance(value, dict):
        return {
            key: _evaluate_value(item, context, _child(location, key))
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_evaluate_value(item, context, f"{location}[{i}]") for i, item in enumerate(value)]
    return value


def evaluate_expression(
    expr: str,
    context: Mapping[str, Any],
    *,
    location: str = "",
    budget: int | None = MAX_WORK,
    strict: bool = True,
) -> Any:
    """Evaluate one expression, written ``"{{ x }}"`` or bare ``"x"``, to its JSON value.

    Raises:
        ExpressionError: As :func:`evaluate`, and if ``expr`` mixes text and templates.
    """
    try:
        source = expression_source(expr)
    except TemplateSyntaxProblem as exc:
        raise ExpressionError(str(exc), expression=expr, location=location) from None
    with work_budget(budget), missing_values(strict=strict):
        return _value(_compiled(source, location), context, location)


def evaluate_condition(
    expr: str,
    context: Mapping[str, Any],
    *,
    location: str = "",
    budget: int | None = MAX_WORK,
    strict: bool = True,
) -> bool:
    """Evaluate a ``when``/``until`` expression (``"{{ x }}"`` or bare ``"x"``) to a bool.

    The value is coerced with Python truthiness: ``0``, ``""``, ``[]``, ``{}`` and null are
    false.

    Raises:
        ExpressionError: As :func:`evaluate_expression`.
    """
    return bool(evaluate_expression(expr, context, location=location, budget=budget, strict=strict))


def _evaluate_string(text: str, context: Mapping[str, Any], location: str) -> Any:
    try:
        source = whole_expression(text)
        if source is not None:
            return _value(_compiled(source, location), context, location)
        parts = _compile_text(text)
    except TemplateSyntaxProblem as exc:
        raise ExpressionError(str(exc), expression=text, location=location) from None
    except TemplateSyntaxError as exc:
        raise _syntax_error(exc, text, location) from None
    return "".join(
        part if isinstance(part, str) else _render(part, context, location) for part in parts
    )


def _compiled(source: str, location: str) -> _Expression:
    try:
        return _compile(source)
    except TemplateSyntaxError as exc:
        raise _syntax_error(exc, source, location) from None
    except RecursionError:  # validation refuses these; a definition stored before may not
        raise ExpressionLimitExceeded(
            "too much work: the expression is nested too deeply",
            expression=source,
            location=location,
        ) from None


def _render(expression: _Expression, context: Mapping[str, Any], location: str) -> str:
    result = _run(expression, context, location)
    try:
        text = render_text(result)
        charge(len(text))  # `{{ big }}` a thousand times in one string is work too
    except Exception as exc:  # one funnel: users get an ExpressionError, never a crash
        raise _runtime_error(exc, expression, context, location) from None
    return text


def _value(expression: _Expression, context: Mapping[str, Any], location: str) -> Any:
    result = _run(expression, context, location)
    try:
        return to_json_value(result)
    except Exception as exc:
        raise _runtime_error(exc, expression, context, location) from None


def _run(expression: _Expression, context: Mapping[str, Any], location: str) -> Any:
    try:
        result = expression.run(context)
    except Exception as exc:
        raise _runtime_error(exc, expression, context, location) from None
    if isinstance(result, Undefined):
        raise _missing_error(expression, context, location)
    return result


def _runtime_error(
    exc: Exception, expression: _Expression, context: Mapping[str, Any], location: str
) -> ExpressionError:
    if isinstance(exc, UndefinedError):
        return _missing_error(expression, context, location)
    limit = {RecursionError: "the value is nested too deeply", MemoryError: "out of memory"}
    if isinstance(exc, ExpressionLimitError) or type(exc) in limit:
        what = limit.get(type(exc), str(exc))
        return ExpressionLimitExceeded(
            f"too much work: {what}", expression=expression.source, location=location
        )
    if isinstance(exc, SecurityError):
        message = f"not allowed: {exc}"
    elif isinstance(exc, TemplateError | TypeError | ValueError | ArithmeticError | LookupError):
        message = str(exc) or type(exc).__name__
    else:
        message = f"{type(exc).__name__}: {exc}"
    return ExpressionError(message, expression=expression.source, location=location)


def _missing_error(
    expression: _Expression, context: Mapping[str, Any], location: str
) -> ExpressionError:
    path, parent = _first_missing_path(expression.paths, context)
    if not path:
        what = "the value is undefined"
    else:
        what = f"{_format_path(path)!r} is undefined{_why_missing(path, parent, context)}"
    return ExpressionError(
        f"{what}. If it may be absent, test it with 'is defined' or give a fallback with "
        "'| default(...)'",
        expression=expression.source,
        location=location,
    )


def _first_missing_path(paths: Iterable[Path], context: Mapping[str, Any]) -> tuple[Path, Any]:
    """The first static path that is missing, and the value it is missing from."""
    for path in paths:
        value: Any = context.get(str(path[0]), _UNSET)
        if value is _UNSET:
            return path[:1], context
        for index, segment in enumerate(path[1:], start=2):
            parent = value
            value = (
                ENVIRONMENT.getattr(value, segment)
                if isinstance(segment, str)
                else ENVIRONMENT.getitem(value, segment)
            )
            if isinstance(value, Undefined):
                return path[:index], parent
    return (), None


_MAX_KEYS_SHOWN = 10


def _why_missing(path: Path, parent: Any, context: Mapping[str, Any]) -> str:
    """Why ``path`` is missing: a close key ("did you mean"), the keys there are, or what the
    value it was looked up in is (null because its step was skipped...)."""
    if path[0] == "secrets":
        return ""  # the names of secrets are not listed in errors
    skipped = _skipped_step(path, context)
    if skipped:
        return f" ({skipped})"
    if isinstance(parent, Mapping):
        keys = [str(key) for key in parent]
        close = difflib.get_close_matches(str(path[-1]), keys, n=1, cutoff=0.6)
        if close:
            return f"; did you mean {_format_path((*path[:-1], close[0]))!r}"
        if not keys:
            return f" ({_format_path(path[:-1])} is empty)" if len(path) > 1 else ""
        shown = ", ".join(sorted(keys)[:_MAX_KEYS_SHOWN])
        more = ", ..." if len(keys) > _MAX_KEYS_SHOWN else ""
        where = f"{_format_path(path[:-1])} has" if len(path) > 1 else "the names are"
        return f" ({where} {shown}{more})"
    kind = _kind_of(parent)
    return f" ({_format_path(path[:-1])} is {kind})" if kind else ""


def _skipped_step(path: Path, context: Mapping[str, Any]) -> str:
    """ "step 'x' was skipped because 'y' was skipped" when ``path`` reads a skipped step."""
    if path[0] != "steps" or len(path) < 3:
        return ""
    steps = context.get("steps")
    state = steps.get(path[1]) if isinstance(steps, Mapping) else None
    if not isinstance(state, Mapping) or state.get("status") != "skipped":
        return ""
    reason = state.get("reason")
    return f"step {path[1]!r} was {reason}" if reason else f"step {path[1]!r} was skipped"


def _kind_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list | tuple):
        return f"a list of {len(value)} items"
    return ""


def _format_path(path: Path) -> str:
    text = str(path[0])
    for segment in path[1:]:
        if isinstance(segment, str) and segment.isidentifier():
            text += f".{segment}"
        else:
            text += f"[{segment!r}]"
    return text


def _child(location: str, key: object) -> str:
    name = str(key)
    if name.isidentifier():
        return f"{location}.{name}" if location else name
    return f"{location}[{name!r}]"


def _syntax_error(exc: TemplateSyntaxError, source: str, location: str) -> ExpressionError:
    return ExpressionError(f"cannot parse: {exc.message}", expression=source, location=location)


# --- context and secrets -----------------------------------------------------------------


def build_context(
    *,
    input: Any,
    vars: Mapping[str, Any],
    steps: Mapping[str, Mapping[str, Any]],
    execution_id: str,
    workflow_id: str,
    item: Any = _UNSET,
    index: Any = _UNSET,
    output: Any = _UNSET,
    secrets: Mapping[str, str] | None = None,
    secret_key: str = "",
    started_at: str | None = None,
    trigger: Mapping[str, Any] | None = None,
    now: Callable[[], str] | None = None,
) -> dict[str, Any]:
    """The names templates see.

    Args:
        input: The run's input.
        vars: Definition variables overlaid with the run's.
        steps: Step id → ``{"output", "status", "error"}`` (missing keys read as null).
        execution_id: Exposed as ``execution.id``.
        workflow_id: Exposed as ``workflow.id``.
        item: The current element inside ``foreach`` (omit elsewhere).
        index: The current element's position inside ``foreach``.
        output: The last attempt's output, inside ``until``.
        secrets: Real secret values (activity side only). Without them ``secrets.<name>``
            evaluates to a marker, resolved later by :func:`resolve_secret_markers`.
        secret_key: The run's key, written into its markers (see
            :mod:`temporal_workflows.secret_markers`).
        started_at: Exposed as ``execution.started_at`` (ISO 8601), when given.
        trigger: Exposed as ``trigger`` (``type``, ``id``, ``scheduled_at``), when given.
        now: Exposed as ``now()``: the time, read from the workflow's clock, when given.
    """
    context: dict[str, Any] = {
        "input": input,
        "vars": vars,
        "steps": {
            sid: {"output": None, "status": None, "error": None, **state}
            for sid, state in steps.items()
        },
        "execution": {"id": execution_id}
        | ({"started_at": started_at} if started_at is not None else {}),
        "workflow": {"id": workflow_id},
        "secrets": SecretReferences(secret_key) if secrets is None else secrets,
    }
    if trigger is not None:
        context["trigger"] = trigger
    if now is not None:
        context["now"] = now
    for name, value in (("item", item), ("index", index), ("output", output)):
        if value is not _UNSET:
            context[name] = value
    return context


def resolve_secret_markers(
    value: Any, key: str, lookup: Callable[[str], str], *, location: str = ""
) -> Any:
    """Replace the run's secret markers inside ``value`` with the secrets' values (activity side).

    Args:
        value: An evaluated JSON-like value (dicts, lists, strings).
        key: The run's key: only markers carrying it are references.
        lookup: Gives a secret's value by name; raises ``KeyError`` if there is none.
        location: Where ``value`` comes from, for the error message.

    Raises:
        UnknownSecretError: (an :class:`ExpressionError` and a ``KeyError``) for a secret
            that does not exist.
    """
    try:
        return substitute_secret_markers(value, key, lookup)
    except KeyError as exc:
        name = exc.args[0] if exc.args else "?"
        raise UnknownSecretError(
            f"there is no secret named {name!r}", expression=f"secrets.{name}", location=location
        ) from None
