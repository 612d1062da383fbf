"""Finding ``{{ expr }}`` templates inside strings and JSON values, without evaluating them.

Only ``{{ }}`` is special: ``{%``, ``{#`` and a lone ``}}`` are plain text, so JSON bodies and
prose can contain them. An expression ends at the first ``}}`` outside brackets and string
literals, the same rule Jinja's lexer applies, so ``{{ {'a': {'b': 1}} }}`` is one expression.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

__all__ = [
    "Segment",
    "TemplateSyntaxProblem",
    "escape_pointer",
    "expression_source",
    "is_template",
    "iter_template_strings",
    "split_template",
    "whole_expression",
]

OPEN, CLOSE = "{{", "}}"
_PAIRS = {"(": ")", "[": "]", "{": "}"}
# What matters while looking for the end of an expression: string literals (skipped whole,
# backslash escapes included), brackets, and the closing braces.
_TOKEN = re.compile(r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|\}\}|[()\[\]{}]""", re.DOTALL)


class TemplateSyntaxProblem(ValueError):
    """A string's ``{{ }}`` structure is broken (before the expression itself is parsed)."""


@dataclass(frozen=True)
class Segment:
    """A piece of a template string: literal text, or the source of one expression."""

    text: str
    is_expression: bool


def is_template(value: object) -> bool:
    """Tell whether ``value`` is a string holding at least one ``{{``."""
    return isinstance(value, str) and OPEN in value


@lru_cache(maxsize=8192)
def split_template(text: str) -> tuple[Segment, ...]:
    """Cut a string into literal text and expression sources, in order.

    Args:
        text: Any string; without ``{{`` it is one literal segment.

    Returns:
        The segments; expression segments hold the source between the braces.

    Raises:
        TemplateSyntaxProblem: If a ``{{`` is never closed.
    """
    segments: list[Segment] = []
    position = 0
    while (start := text.find(OPEN, position)) != -1:
        if start > position:
            segments.append(Segment(text[position:start], False))
        end = _expression_end(text, start + len(OPEN))
        segments.append(Segment(text[start + len(OPEN) : end], True))
        position = end + len(CLOSE)
    if position < len(text) or not segments:
        segments.append(Segment(text[position:], False))
    return tuple(segments)


def _expression_end(text: str, position: int) -> int:
    """Index of the ``}}`` closing the expression that starts at ``position``."""
    closing: list[str] = []
    while match := _TOKEN.search(text, position):
        token, position = match.group(), match.end()
        if token == CLOSE:
            if not closing:
                return match.start()
            token, position = "}", match.start() + 1  # inside brackets: one brace closes one
        if token in _PAIRS:
            closing.append(_PAIRS[token])
        elif closing and token == closing[-1]:
            closing.pop()
    raise TemplateSyntaxProblem(f"'{{{{' at character {position - len(OPEN)} is never closed")


def whole_expression(text: str) -> str | None:
    """Return the expression source if ``text`` is exactly one ``{{ expr }}``.

    Whitespace around the braces is allowed. Such a string evaluates to the expression's
    native value instead of text.

    Raises:
        TemplateSyntaxProblem: If a ``{{`` is never closed.
    """
    stripped = text.strip()
    if not (stripped.startswith(OPEN) and stripped.endswith(CLOSE)):
        return None
    segments = split_template(stripped)
    if len(segments) == 1 and segments[0].is_expression:
        return segments[0].text
    return None


def expression_source(text: str) -> str:
    """The expression of a condition-like field: ``"{{ x > 1 }}"`` or the bare ``"x > 1"``.

    Raises:
        TemplateSyntaxProblem: If ``text`` mixes text and ``{{ }}`` (it must be one
            expression) or a ``{{`` is never closed.
    """
    if OPEN not in text:
        return text
    source = whole_expression(text)
    if source is None:
        raise TemplateSyntaxProblem(
            "must be a single expression, either '{{ expr }}' or a bare 'expr'"
        )
    return source


def escape_pointer(token: str | int) -> str:
    """Escape one JSON pointer reference token (RFC 6901: ``~`` → ``~0``, ``/`` → ``~1``)."""
    return str(token).replace("~", "~0").replace("/", "~1")


def iter_template_strings(value: Any, pointer: str) -> Iterator[tuple[str, str]]:
    """Yield ``(json_pointer, string)`` for every string with ``{{`` inside ``value``.

    Args:
        value: Any JSON-like value (dict keys are literal and are not searched).
        pointer: The JSON pointer of ``value`` itself.
    """
    if isinstance(value, str):
        if OPEN in value:
            yield pointer, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from iter_template_strings(item, f"{pointer}/{escape_pointer(key)}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from iter_template_strings(item, f"{pointer}/{index}")
