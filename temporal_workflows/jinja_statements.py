"""Refusing Jinja statements (``{% if %}``, ``{% for %}``...) where templates are evaluated.

Templates here are ``{{ expression }}`` only: a ``{% if %}`` block used to pass through as
literal text, so a definition that meant a condition silently produced the raw braces.
Statements are refused when a definition is saved (422 with the pointer), and the message
says what to write instead (an inline ``if``/``else`` expression, ``when``, ``foreach`` or a
filter). Only saving checks this: stored definitions keep running as before (where such text
was, and stays, plain text). ``{%`` that does not open a Jinja statement (``"{%d}"``, prose)
is still plain text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from temporal_workflows.definition_checks import DefinitionProblem
from temporal_workflows.templates import escape_pointer

__all__ = ["statement_problems"]

_KEYWORDS = (
    "if|elif|else|endif|for|endfor|set|endset|macro|endmacro|call|endcall|filter|endfilter|"
    "block|endblock|include|import|from|extends|raw|endraw|with|endwith|do|break|continue"
)
_STATEMENT = re.compile(r"\{%[-+]?\s*(" + _KEYWORDS + r")\b.*?[-+]?%\}", re.DOTALL)
# Where a definition's strings are evaluated as templates.
_STEP_FIELDS = ("with", "when", "until", "foreach")


def statement_problems(raw: object) -> list[DefinitionProblem]:
    """A problem for each evaluated string of a definition holding a Jinja statement."""
    if not isinstance(raw, dict):
        return []
    problems = []
    for pointer, text in _evaluated_strings(raw):
        found = _STATEMENT.search(text)
        if found:
            message = (
                f"Jinja statements such as {found.group(0)[:40]!r} are not supported; "
                "templates are {{ expressions }}: write {{ a if cond else b }}, or use the "
                "step's when / foreach"
            )
            problems.append(DefinitionProblem(pointer, message, "template_statement"))
    return problems


def _evaluated_strings(raw: dict[str, Any]) -> Iterator[tuple[str, str]]:
    steps = raw.get("steps")
    for index, step in enumerate(steps if isinstance(steps, list) else []):
        if not isinstance(step, dict):
            continue
        for field in _STEP_FIELDS:
            yield from _strings(step.get(field), f"/steps/{index}/{field}")
        compensate = step.get("compensate")
        if isinstance(compensate, dict):
            yield from _strings(compensate.get("with"), f"/steps/{index}/compensate/with")
    yield from _strings(raw.get("output"), "/output")
    yield from _strings(raw.get("response"), "/response")


def _strings(value: Any, pointer: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield pointer, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, f"{pointer}/{escape_pointer(key)}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{pointer}/{index}")
