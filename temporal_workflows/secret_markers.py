"""Secret markers: how ``secrets.<name>`` crosses the workflow without its value.

Inside the workflow, ``{{ secrets.token }}`` evaluates to a marker string
``SECRET_MARKER_PREFIX + key + ":token" + SECRET_MARKER_SUFFIX``, and
``"Bearer {{ secrets.token }}"`` becomes ``"Bearer <marker>"``. Only markers travel through
Temporal history, the database and events. The activity that needs the value calls
:func:`substitute_secret_markers` just before use, and :func:`redact_secrets` before anything
it returns or logs.

Why a key: a marker is text, and text also arrives from webhook callers, run inputs, step
outputs and expressions. Each run draws a random ``key`` inside the workflow (so it is the same
on replay) and hands it to its activities beside the data, never inside it. An activity turns
into a secret only the markers that carry its run's key; anything else that merely looks like
a marker stays plain text. Data cannot know the key: templates never see it, outputs and
events have every marker-shaped text redacted, and it differs from run to run.
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
    "contains_unkeyed_markers",
    "keyed_secret_names",
    "redact_secrets",
    "secret_marker",
    "substitute_secret_markers",
]

SECRET_MARKER_PREFIX = "\u0000headrace-secret:"
SECRET_MARKER_SUFFIX = "\u0000"
REDACTED = "***"
# Anything marker-shaped, keyed or not, genuine or forged: what redaction hides.
_ANY_MARKER = re.compile(
    re.escape(SECRET_MARKER_PREFIX) + r"[^\u0000]+" + re.escape(SECRET_MARKER_SUFFIX)
)
# The marker of a run started before keys existed: a name alone.
_UNKEYED_MARKER = re.compile(
    re.escape(SECRET_MARKER_PREFIX) + r"[A-Za-z_][A-Za-z0-9_]*" + re.escape(SECRET_MARKER_SUFFIX)
)
# A marker as a run writes it: its key, then the secret's name.
_KEYED_MARKER = re.compile(
    re.escape(SECRET_MARKER_PREFIX)
    + r"([0-9a-f]{16,64}):([A-Za-z_][A-Za-z0-9_]*)"
    + re.escape(SECRET_MARKER_SUFFIX)
)


def secret_marker(name: str, key: str) -> str:
    """The marker standing for the secret ``name`` in the run whose key is ``key``."""
    return f"{SECRET_MARKER_PREFIX}{key}:{name}{SECRET_MARKER_SUFFIX}"


class SecretReferences(Mapping[str, str]):
    """The ``secrets`` name on the workflow side: every key gives that secret's marker.

    It does not know which secrets exist (that is only checked in the activity), and it
    lists nothing, so ``{{ secrets }}`` reveals no names. Its ``repr`` hides the run's key.
    """

    def __init__(self, key: str) -> None:
        self._key = key

    def __getitem__(self, name: str) -> str:
        if not isinstance(name, str) or not name.isidentifier():
            raise KeyError(name)
        return secret_marker(name, self._key)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "SecretReferences()"


def contains_secret_markers(value: Any) -> bool:
    """Tell whether any string inside ``value`` (dict keys included) looks like a marker."""
    return any(SECRET_MARKER_PREFIX in text for text in _strings(value))


def contains_unkeyed_markers(value: Any) -> bool:
    """Tell whether ``value`` holds a marker of the form runs wrote before they had keys."""
    return any(_UNKEYED_MARKER.search(text) for text in _strings(value))


def substitute_secret_markers(value: Any, key: str, lookup: Callable[[str], str]) -> Any:
    """Replace every marker of the run keyed ``key`` with ``lookup(name)``; a copy is returned.

    Marker-shaped text with another key, or none, is left as it is: it is data, not a
    reference. An empty ``key`` substitutes nothing.

    Args:
        value: JSON-like data (dicts, lists, strings); dict keys are substituted too.
        key: The run's key, given to the activity beside ``value``.
        lookup: Gives a secret's value; raises ``KeyError`` for an unknown name.

    Raises:
        KeyError: From ``lookup``, for a secret that does not exist.
    """
    if not key:
        return value

    def replace(match: re.Match[str]) -> str:
        return lookup(match.group(2)) if match.group(1) == key else match.group(0)

    def substitute(text: str) -> str:
        return _KEYED_MARKER.sub(replace, text) if SECRET_MARKER_PREFIX in text else text

    return _map_strings(value, substitute)


def keyed_secret_names(value: Any, key: str) -> set[str]:
    """The names of the secrets whose markers, keyed ``key``, occur in ``value``."""
    names: set[str] = set()

    def note(name: str) -> str:
        names.add(name)
        return ""

    substitute_secret_markers(value, key, note)
    return names


def redact_secrets(value: Any, secret_values: Iterable[str]) -> Any:
    """Replace every occurrence of a secret's value in the strings of ``value`` with ``***``.

    Marker-shaped text is redacted as well, so neither a value, the name of a secret nor a
    run's key leaks into logs by accident. Longer values are replaced first, so a secret
    containing another is hidden whole.

    Args:
        value: JSON-like data (dicts, lists, strings); a copy is returned.
        secret_values: The values to hide; empty strings are ignored.
    """
    needles = sorted({v for v in secret_values if isinstance(v, str) and v}, key=len, reverse=True)
    pattern = re.compile("|".join(re.escape(n) for n in needles)) if needles else None

    def redact(text: str) -> str:
        text = _ANY_MARKER.sub(REDACTED, text) if SECRET_MARKER_PREFIX in text else text
        return pattern.sub(REDACTED, text) if pattern is not None else text

    return _map_strings(value, redact)


def _strings(value: Any) -> Iterator[str]:
    """Every string inside ``value``, dict keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def _map_strings(value: Any, change: Callable[[str], str]) -> Any:
    """``value`` with ``change`` applied to every string in it, dict keys included."""
    if isinstance(value, str):
        return change(value)
    if isinstance(value, Mapping):
        return {_map_strings(k, change): _map_strings(v, change) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_map_strings(item, change) for item in value]
    return value
