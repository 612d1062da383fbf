"""Secret markers: how ``secrets.<name>`` crosses the workflow without its value.

Inside the workflow, ``{{ secrets.token }}`` evaluates to a marker string
``SECRET_MARKER_PREFIX + "token" + SECRET_MARKER_SUFFIX``; ``"Bearer {{ secrets.token }}"``
becomes ``"Bearer <marker>"``. Only markers travel through Temporal history, the database and
events. The activity that needs the value calls :func:`resolve_secret_markers` just before
use, and :func:`redact_secrets` before anything it returns or logs.

The markers start and end with NUL, which JSON text from users practically never holds, so
a marker cannot be forged by accident and is easy to spot.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

__all__ = [
    "SECRET_MARKER_PREFIX",
    "SECRET_MARKER_SUFFIX",
    "SecretReferences",
    "contains_secret_markers",
    "redact_secrets",
    "secret_marker",
    "substitute_secret_markers",
]

SECRET_MARKER_PREFIX = "\u0000headrace-secret:"
SECRET_MARKER_SUFFIX = "\u0000"
REDACTED = "***"
_MARKER = re.compile(
    re.escape(SECRET_MARKER_PREFIX) + r"([^\u0000]+)" + re.escape(SECRET_MARKER_SUFFIX)
)


def secret_marker(name: str) -> str:
    """The marker standing for the secret ``name``."""
    return f"{SECRET_MARKER_PREFIX}{name}{SECRET_MARKER_SUFFIX}"


class SecretReferences(Mapping[str, str]):
    """The ``secrets`` name on the workflow side: every key gives that secret's marker.

    It does not know which secrets exist (that is only checked in the activity), and it
    lists nothing, so ``{{ secrets }}`` reveals no names.
    """

    def __getitem__(self, name: str) -> str:
        if not isinstance(name, str) or not name or "\u0000" in name:
            raise KeyError(name)
        return secret_marker(name)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "SecretReferences()"


def contains_secret_markers(value: Any) -> bool:
    """Tell whether any string inside ``value`` (dict keys included) holds a marker."""
    if isinstance(value, str):
        return SECRET_MARKER_PREFIX in value
    if isinstance(value, Mapping):
        return any(
            contains_secret_markers(key) or contains_secret_markers(item)
            for key, item in value.items()
        )
    if isinstance(value, list | tuple):
        return any(contains_secret_markers(item) for item in value)
    return False


def substitute_secret_markers(value: Any, lookup: Callable[[str], str]) -> Any:
    """Replace every marker inside ``value`` with ``lookup(name)``; a copy is returned.

    Args:
        value: JSON-like data (dicts, lists, strings); dict keys are substituted too.
        lookup: Gives a secret's value; raises ``KeyError`` for an unknown name.

    Raises:
        KeyError: From ``lookup``, for a secret that does not exist.
    """
    if isinstance(value, str):
        if SECRET_MARKER_PREFIX not in value:
            return value
        return _MARKER.sub(lambda match: lookup(match.group(1)), value)
    if isinstance(value, Mapping):
        return {
            substitute_secret_markers(key, lookup): substitute_secret_markers(item, lookup)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [substitute_secret_markers(item, lookup) for item in value]
    return value


def redact_secrets(value: Any, secret_values: Iterable[str]) -> Any:
    """Replace every occurrence of a secret's value in the strings of ``value`` with ``***``.

    Markers are redacted as well, so neither a value nor the name of a secret leaks into
    logs by accident. Longer values are replaced first, so a secret containing another is
    hidden whole.

    Args:
        value: JSON-like data (dicts, lists, strings); a copy is returned.
        secret_values: The values to hide; empty strings are ignored.
    """
    needles = sorted({v for v in secret_values if isinstance(v, str) and v}, key=len, reverse=True)
    pattern = re.compile("|".join(re.escape(n) for n in needles)) if needles else None
    return _redact(value, pattern)


def _redact(value: Any, pattern: re.Pattern[str] | None) -> Any:
    if isinstance(value, str):
        value = _MARKER.sub(REDACTED, value) if SECRET_MARKER_PREFIX in value else value
        return pattern.sub(REDACTED, value) if pattern is not None else value
    if isinstance(value, Mapping):
        return {_redact(key, pattern): _redact(item, pattern) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redact(item, pattern) for item in value]
    return value
