"""Trigger validation errors in the words definition errors use, each with its pointer.

pydantic's own texts for the tagged union of triggers (``union_tag_invalid``, "Value error,
give exactly one of…") name its machinery, not the document; these say what to write.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from api.errors import ProblemDetail
from api.problems import json_pointer
from api.schemas.triggers import (
    ManualTrigger,
    RateLimit,
    ScheduleTrigger,
    WebhookAuth,
    WebhookTrigger,
)

TRIGGER_MODELS: dict[str, type[BaseModel]] = {
    "manual": ManualTrigger,
    "schedule": ScheduleTrigger,
    "webhook": WebhookTrigger,
}
_NESTED: dict[str, type[BaseModel]] = {"authentication": WebhookAuth, "rate_limit": RateLimit}
_TYPES = ", ".join(TRIGGER_MODELS)
_VALUE_ERROR = "Value error, "


def trigger_problems(
    errors: Iterable[ErrorDetails], prefix: str, *, indexed: bool
) -> list[ProblemDetail]:
    """``errors`` of a trigger (``indexed``: of a list of triggers) as problems under ``prefix``.

    pydantic's locations hold the union's tag after the index (``(0, "schedule", "cron")``);
    it is dropped from the pointer, and used to name the fields that trigger type takes.
    """
    problems = []
    for error in errors:
        loc = list(error["loc"])
        head = loc[:1] if indexed else []
        rest = loc[1:] if indexed else loc
        tag = rest[0] if rest and rest[0] in TRIGGER_MODELS else None
        fields = rest[1:] if tag is not None else rest
        problems.append(_problem(error, prefix + json_pointer(head), tag, fields))
    return problems


def _problem(
    error: ErrorDetails, base: str, tag: object, fields: Sequence[str | int]
) -> ProblemDetail:
    kind = error["type"]
    pointer = base + json_pointer(fields)
    if kind == "union_tag_invalid":
        given = str((error.get("ctx") or {}).get("tag", ""))
        close = difflib.get_close_matches(given, list(TRIGGER_MODELS), n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else f"; valid types: {_TYPES}"
        return ProblemDetail(
            f"{base}/type", f"unknown trigger type {given!r}{hint}", "unknown_trigger_type"
        )
    if kind == "union_tag_not_found":
        return ProblemDetail(f"{base}/type", f"'type' is required ({_TYPES})", "missing_field")
    if kind in ("model_attributes_type", "dict_type", "model_type"):
        return ProblemDetail(
            pointer, 'a trigger is an object such as {"type": "manual"}', "invalid_type"
        )
    if kind == "missing":
        return ProblemDetail(pointer, f"{fields[-1]!r} is required", "missing_field")
    if kind == "extra_forbidden":
        model = _model(tag, fields[:-1])
        return ProblemDetail(pointer, _unknown_field(str(fields[-1]), model), "unknown_field")
    message = str(error["msg"]).removeprefix(_VALUE_ERROR)
    return ProblemDetail(pointer, message, "invalid_value")


def _model(tag: object, parent: Sequence[str | int]) -> type[BaseModel] | None:
    if not isinstance(tag, str) or tag not in TRIGGER_MODELS:
        return None
    if not parent:
        return TRIGGER_MODELS[tag]
    return _NESTED.get(str(parent[-1])) if len(parent) == 1 else None


def _unknown_field(name: str, model: type[BaseModel] | None) -> str:
    if model is None:
        return f"unknown field {name!r}"
    allowed = [field.alias or key for key, field in model.model_fields.items()]
    close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
    if close:
        return f"unknown field {name!r}; did you mean {close[0]!r}?"
    return f"unknown field {name!r}; allowed: {', '.join(allowed)}"
