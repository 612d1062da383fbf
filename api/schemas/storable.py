"""Text the database can store: no U+0000 and no lone surrogates.

PostgreSQL refuses U+0000 in ``text`` and ``jsonb``, and a lone surrogate (U+D800 to U+DFFF,
which JSON's ``\\ud800`` escapes can produce) has no UTF-8 encoding, so neither backend can
store it. What users author (a workflow's name, description, definition, a webhook's event
type...) is refused with a 422 that points at the offending string or key, on every backend
alike, instead of being stored altered. Data that only passes through (a run's
``input_data``, a webhook's body) is not refused: JSON columns store it with U+FFFD
(:func:`db.base.storable_json`), and :data:`RUN_DATA` fields replace lone surrogates
before the run starts (Temporal's JSON payloads cannot carry them either).

:class:`api.schemas.common.RequestModel` applies :func:`refuse_unstorable_fields` to
every field of every request body, except fields marked :data:`RUN_DATA`;
:data:`StorableText` is the same rule for a single string (query and path parameters).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, SecretStr, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")

Path = tuple[str | int, ...]


def _reason(text: str) -> str | None:
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    char = found.group()
    return "U+0000 (NUL)" if char == "\x00" else f"a lone surrogate (U+{ord(char):04X})"


def is_storable(text: str) -> bool:
    """True if ``text`` has neither U+0000 nor a lone surrogate."""
    return _UNSTORABLE.search(text) is None


def printable(text: str) -> str:
    """``text`` with its unstorable characters as U+FFFD (for pointers and messages)."""
    return _UNSTORABLE.sub("\ufffd", text)


def without_lone_surrogates(value: Any) -> Any:
    """``value`` (JSON-like) with lone surrogates in strings and keys as U+FFFD.

    Run data travels through Temporal as UTF-8 JSON, which cannot carry a lone surrogate;
    U+0000 is kept (the run sees it; a JSON column stores U+FFFD).
    """
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {without_lone_surrogates(k): without_lone_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_lone_surrogates(item) for item in value]
    return value


RUN_DATA = AfterValidator(without_lone_surrogates)
"""Marks a field as run data: never refused; lone surrogates become U+FFFD."""


def find_unstorable(value: Any, path: Path = ()) -> Iterator[tuple[Path, str]]:
    """Where ``value`` (a string or JSON-like data) holds text that cannot be stored.

    Yields:
        The path to each offending string or key (keys printable) and what is wrong with it.
        Nested pydantic models are not entered: their own validation checks them.
    """
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if isinstance(value, str):
        reason = _reason(value)
        if reason:
            yield path, f"Text contains {reason}, which cannot be stored"
    elif isinstance(value, dict):
        for key, item in value.items():
            where = (*path, printable(key)) if isinstance(key, str) else (*path, key)
            reason = _reason(key) if isinstance(key, str) else None
            if reason:
                yield where, f"Key contains {reason}, which cannot be stored"
            yield from find_unstorable(item, where)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from find_unstorable(item, (*path, index))


def _storable_text(value: str) -> str:
    reason = _reason(value)
    if reason:
        raise PydanticCustomError(
            "unstorable_text",
            "Text contains {reason}, which cannot be stored",
            {"reason": reason},
        )
    return value


StorableText = Annotated[str, AfterValidator(_storable_text)]
"""A string without U+0000 or lone surrogates (422 otherwise)."""


def refuse_unstorable_fields(model: BaseModel) -> None:
    """Check every field of ``model`` not marked :data:`RUN_DATA`.

    Raises:
        ValidationError: One entry per unstorable string or key, located under the field
            (raised inside a pydantic validator, the locations nest under the model's, so
            the 422 points at ``/definition/steps/0/name`` rather than at ``/definition``).
    """
    problems: list[tuple[Path, str]] = []
    for name, info in type(model).model_fields.items():
        if not any(meta is RUN_DATA for meta in info.metadata):
            problems += find_unstorable(getattr(model, name), (info.alias or name,))
    if problems:
        raise ValidationError.from_exception_data(
            "unstorable text",
            [
                InitErrorDetails(
                    type=PydanticCustomError("unstorable_text", "{reason}", {"reason": reason}),
                    loc=where,
                    input="…",
                )
                for where, reason in problems
            ],
        )
