"""Validating a submitted definition, reporting every problem with a JSON pointer.

:func:`validate_definition` is the one way user input becomes a
:class:`~temporal_workflows.definition.WorkflowDefinition` (the API and ``headrace validate``
both use it). It reports all problems at once, each a :class:`DefinitionProblem` with an
RFC 6901 pointer into the submitted document (``/steps/2/depends_on/0``) and a stable
``code``. The codes are listed in docs/definitions.md; the graph and template checks are in
:mod:`temporal_workflows.definition_checks`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import Any

from jsonschema import Draft202012Validator, validators
from jsonschema.protocols import Validator
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource, Unresolvable

from temporal_workflows.definition import (
    JOINS,
    STEP_TYPES,
    CompensateSpec,
    RetrySpec,
    StepDefinition,
    WorkflowDefinition,
)
from temporal_workflows.definition_checks import DefinitionProblem, graph_and_template_problems
from temporal_workflows.express_rules import express_problems
from temporal_workflows.responses import response_problems
from temporal_workflows.step_types import WITH_MODELS, HttpAuth
from temporal_workflows.templates import escape_pointer

__all__ = [
    "MAX_DEFINITION_DEPTH",
    "DefinitionInvalid",
    "DefinitionProblem",
    "definition_problems",
    "validate_definition",
    "validate_input",
]

# Our own pydantic error types: their code and message go through unchanged.
_CUSTOM_CODES = frozenset(
    {
        "invalid_duration",
        "invalid_id",
        "invalid_type",
        "invalid_url",
        "invalid_timestamp",
        "conflicting_fields",
        "missing_field",
        "javascript_syntax",
    }
)
_TYPE_MESSAGES = {
    "model_type": "expected a JSON object",
    "dict_type": "expected a JSON object",
    "model_attributes_type": "expected a JSON object",
    "list_type": "expected a list",
    "string_type": "expected a string",
    "int_type": "expected an integer",
    "int_parsing": "expected an integer",
    "int_from_float": "expected an integer",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
}
# Deeper JSON than this is refused before anything walks it (pydantic, the checks and the
# interpreter all recurse): real definitions nest a handful of levels.
MAX_DEFINITION_DEPTH = 64
# The keywords that make a JSON Schema validator look another schema up.
_REFERENCE_KEYWORDS = ("$ref", "$dynamicRef", "$recursiveRef")
_StepShape = tuple[str | type, ...]
_STEP_TYPE_FIELDS = {("steps", int, "type"), ("steps", int, "compensate", "type")}
_MODELS_AT: dict[_StepShape, type[BaseModel]] = {
    (): WorkflowDefinition,
    ("steps", int): StepDefinition,
    ("steps", int, "retry"): RetrySpec,
    ("steps", int, "compensate"): CompensateSpec,
    ("steps", int, "compensate", "retry"): RetrySpec,
}


class DefinitionInvalid(Exception):
    """A definition has problems; ``problems`` lists every one of them."""

    def __init__(self, problems: Sequence[DefinitionProblem]) -> None:
        self.problems = list(problems)
        first = self.problems[0] if self.problems else None
        summary = f"{first.pointer or '/'}: {first.message}" if first else "invalid"
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        super().__init__(f"invalid definition: {summary}{more}")


def validate_definition(raw: object) -> WorkflowDefinition:
    """Check a submitted definition completely and build its model.

    Args:
        raw: The definition as decoded from JSON.

    Returns:
        The immutable, validated definition.

    Raises:
        DefinitionInvalid: With every problem found, each with its JSON pointer and code.
    """
    model, problems = _check(raw)
    if problems or model is None:
        raise DefinitionInvalid(problems)
    return model


def definition_problems(raw: object) -> list[DefinitionProblem]:
    """Every problem of a submitted definition, in document order (empty if it is valid)."""
    return _check(raw)[1]


def _check(raw: object) -> tuple[WorkflowDefinition | None, list[DefinitionProblem]]:
    model: WorkflowDefinition | None = None
    too_deep = _too_deep(raw, MAX_DEFINITION_DEPTH)
    if too_deep is not None:
        message = f"nested deeper than {MAX_DEFINITION_DEPTH} levels"
        return None, [DefinitionProblem(_pointer(too_deep), message, "too_deep")]
    problems: list[DefinitionProblem] = []
    try:
        model = WorkflowDefinition.model_validate(raw)
    except ValidationError as exc:
        problems.extend(_from_pydantic(exc.errors(), ()))
    if isinstance(raw, dict):
        problems.extend(_with_problems(raw))
        problems.extend(graph_and_template_problems(raw))
        problems.extend(_input_schema_problems(raw.get("input_schema")))
        problems.extend(response_problems(raw.get("response")))
        problems.extend(express_problems(raw))
    return model, _in_document_order(problems)


def _too_deep(value: object, limit: int) -> tuple[str | int, ...] | None:
    """The path of the first value nested deeper than ``limit``, or None (no recursion)."""
    if not _deeper_than(value, limit):
        return None
    path: tuple[str | int, ...] = ()
    while len(path) <= limit:  # follow a branch that goes too deep, down to where it does
        children: list[tuple[str | int, object]] = (
            [(str(k), v) for k, v in value.items()]
            if isinstance(value, dict)
            else list(enumerate(value))
            if isinstance(value, list)
            else []
        )
        key, value = next((k, c) for k, c in children if _deeper_than(c, limit - len(path) - 1))
        path = (*path, key)
    return path


def _deeper_than(value: object, limit: int) -> bool:
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return False


# --- pydantic errors to problems ---------------------------------------------------------


def _from_pydantic(
    errors: Iterable[ErrorDetails],
    prefix: tuple[str | int, ...],
    with_model: type[BaseModel] | None = None,
) -> list[DefinitionProblem]:
    problems = []
    for error in errors:
        location = prefix + tuple(error["loc"])
        field = (error.get("ctx") or {}).get("field")
        if isinstance(field, str):
            location += (field,)
        code, message = _describe(error, location, with_model)
        problems.append(DefinitionProblem(_pointer(location), message, code))
    return problems


def _describe(
    error: ErrorDetails, location: tuple[str | int, ...], with_model: type[BaseModel] | None
) -> tuple[str, str]:
    kind = error["type"]
    if kind in _CUSTOM_CODES:
        return kind, error["msg"]
    if kind == "missing":
        return "missing_field", f"{location[-1]!r} is required"
    if kind == "extra_forbidden":
        model = _model_at(location[:-1], with_model)
        return "unknown_field", _unknown_field_message(str(location[-1]), model)
    if kind == "literal_error" and _shape(location) in _STEP_TYPE_FIELDS:
        valid = ", ".join(STEP_TYPES)
        return "unknown_step_type", f"unknown step type {error['input']!r}; valid types: {valid}"
    if kind == "literal_error" and _shape(location) == ("steps", int, "join"):
        close = difflib.get_close_matches(str(error["input"]), JOINS, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}?" if close else f"use one of {', '.join(JOINS)}"
        return "invalid_join", f"unknown join {error['input']!r}; {hint}"
    if kind == "too_short" and location == ("steps",):
        return "invalid_value", "a definition needs at least one step"
    if kind in _TYPE_MESSAGES:
        return "invalid_type", _TYPE_MESSAGES[kind]
    return "invalid_value", error["msg"]


def _shape(location: tuple[str | int, ...]) -> _StepShape:
    return tuple(int if isinstance(part, int) else part for part in location)


def _model_at(
    parent: tuple[str | int, ...], with_model: type[BaseModel] | None
) -> type[BaseModel] | None:
    shape = _shape(parent)
    for with_at in (("steps", int, "with"), ("steps", int, "compensate", "with")):
        if shape[: len(with_at)] == with_at:
            rest = shape[len(with_at) :]
            return with_model if rest == () else HttpAuth if rest == ("auth",) else None
    return _MODELS_AT.get(shape)


def _unknown_field_message(name: str, model: type[BaseModel] | None) -> str:
    if model is None:
        return f"unknown field {name!r}"
    allowed = [field.alias or key for key, field in model.model_fields.items()]
    close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
    if close:
        return f"unknown field {name!r}; did you mean {close[0]!r}?"
    return f"unknown field {name!r}; allowed: {', '.join(allowed)}"


def _pointer(location: Iterable[str | int]) -> str:
    return "".join(f"/{escape_pointer(part)}" for part in location)


# --- the `with` of each step type --------------------------------------------------------


def _with_problems(raw: dict[str, Any]) -> list[DefinitionProblem]:
    steps = raw.get("steps")
    if not isinstance(steps, list):
        return []
    problems: list[DefinitionProblem] = []
    for index, step in enumerate(steps):
        if not isinstance(step, dict):
            continue
        problems.extend(_check_with(step, ("steps", index)))
        if isinstance(step.get("compensate"), dict):
            problems.extend(_check_with(step["compensate"], ("steps", index, "compensate")))
    return problems


def _check_with(step: dict[str, Any], prefix: tuple[str | int, ...]) -> list[DefinitionProblem]:
    kind = step.get("type")
    model = WITH_MODELS.get(kind) if isinstance(kind, str) else None
    block = step.get("with", {})
    if model is None or not isinstance(block, dict):
        return []  # unknown type or a `with` that is not an object: reported by the model
    try:
        model.model_validate(block)
    except ValidationError as exc:
        return _from_pydantic(exc.errors(), (*prefix, "with"), model)
    return []


# --- JSON Schema -------------------------------------------------------------------------


def _input_schema_problems(schema: object) -> list[DefinitionProblem]:
    if not isinstance(schema, dict):
        return []  # absent, or not an object: the model reports the latter
    meta = _validator_class(schema)
    checker = meta(meta.META_SCHEMA, registry=_NO_RETRIEVAL)
    problems = [
        DefinitionProblem(
            _pointer(("input_schema", *error.absolute_path)),
            f"not a valid JSON Schema: {error.message}",
            "invalid_input_schema",
        )
        for error in checker.iter_errors(schema)
    ]
    problems.extend(_reference_problems(schema))
    return problems


def _reference_problems(schema: dict[str, Any]) -> list[DefinitionProblem]:
    """Every reference must point inside the schema (``#...``): nothing is ever fetched."""
    problems = []
    stack: list[tuple[object, tuple[str | int, ...]]] = [(schema, ("input_schema",))]
    while stack:
        item, path = stack.pop()
        if isinstance(item, dict):
            for keyword in _REFERENCE_KEYWORDS:
                ref = item.get(keyword)
                if isinstance(ref, str) and not ref.startswith("#"):
                    problems.append(
                        DefinitionProblem(
                            _pointer((*path, keyword)),
                            f"only references inside the schema ('#/...') are allowed, "
                            f"not {ref!r}: Headrace never fetches schemas",
                            "remote_reference",
                        )
                    )
            stack.extend((child, (*path, str(key))) for key, child in item.items())
        elif isinstance(item, list):
            stack.extend((child, (*path, index)) for index, child in enumerate(item))
    return problems


def _retrieve_nothing(uri: str) -> Resource[Any]:
    raise NoSuchResource(ref=uri)  # type: ignore[call-arg]


# Only the schema itself (and the JSON Schema meta-schemas) can be referenced: jsonschema's
# default registry would fetch any other URI with urllib (no SSRF guard, no timeout).
_NO_RETRIEVAL: Registry[Any] = Registry(retrieve=_retrieve_nothing)  # type: ignore[call-arg]


def _validator_class(schema: dict[str, Any]) -> type[Validator]:
    validator: type[Validator] = validators.validator_for(schema, default=Draft202012Validator)
    return validator


def validate_input(definition: WorkflowDefinition, input_data: object) -> list[DefinitionProblem]:
    """Check a run's input against the definition's ``input_schema``.

    References are resolved inside the schema only; one that is not there (a definition
    stored before remote references were refused) is a problem at ``/input_data``.

    Args:
        definition: A validated definition.
        input_data: The input given to the run.

    Returns:
        One problem per schema violation, pointers prefixed with ``/input_data``; empty when
        the input fits or the definition has no schema.
    """
    schema = definition.input_schema
    if schema is None:
        return []
    cls = _validator_class(schema)
    checker = cls(schema, format_checker=cls.FORMAT_CHECKER, registry=_NO_RETRIEVAL)
    instance: Any = input_data
    try:
        errors = sorted(checker.iter_errors(instance), key=lambda e: [str(p) for p in e.path])
    except Unresolvable as exc:
        message = f"the input_schema has a reference that cannot be resolved: {exc}"
        return [DefinitionProblem("/input_data", message, "unresolvable_reference")]
    return [
        DefinitionProblem(
            _pointer(("input_data", *error.absolute_path)), error.message, "invalid_input"
        )
        for error in errors
    ]


def _in_document_order(problems: Iterable[DefinitionProblem]) -> list[DefinitionProblem]:
    unique = list(dict.fromkeys(problems))  # the model and the checks may both see something

    def key(problem: DefinitionProblem) -> list[tuple[int, int, str]]:
        tokens = problem.pointer.split("/")[1:]
        return [(0, int(t), "") if t.isdecimal() else (1, 0, t) for t in tokens]

    return sorted(unique, key=key)
