"""What the ``code`` step shares between saving a definition and running it: the wrapper.

A script is the body of ``async function (input) { ... }``. Both the save-time syntax check
and the worker's sandbox (:mod:`activities.code`) compile it inside the same one-line prefix,
so a line and column the engine reports map back to the user's text the same way.

The syntax check never runs the user's text: QuickJS's ``Function`` constructor splices its
body into a string (``});  evil(); (function(){`` would escape), so the check instead
compiles a script whose first statement throws. The engine parses the whole script before it
runs any of it, so a syntax error is reported, and otherwise nothing but the ``throw`` runs.
A text that closes the function early parses inside ``( ... )`` but not inside ``[ ... ]``, so
it is compiled both ways: a script must be a function body, not a way out of the wrapper.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

import quickjs

__all__ = ["MAX_CODE_LENGTH", "SCRIPT_PREFIX", "JavaScriptSyntaxError", "check_syntax", "wrap"]

# The body starts on line 2 of the compiled script, column 1.
SCRIPT_PREFIX: Final = "(async function (input) {\n"
SCRIPT_SUFFIX: Final = "\n})"
# Scripts are definition text: a few hundred lines at most in practice.
MAX_CODE_LENGTH: Final = 100_000
_PARSED: Final = "__headrace_parsed__"
_POSITION: Final = re.compile(r"<input>:(\d+):(\d+)")
# Compiling a 100 kB script takes milliseconds; these only bound a pathological one.
_CHECK_MEMORY: Final = 32 * 1024 * 1024
_CHECK_SECONDS: Final = 2.0


@dataclass(frozen=True)
class JavaScriptSyntaxError:
    """Where a script does not parse: 1-based ``line``/``column`` of the user's text."""

    message: str
    line: int | None
    column: int | None

    def __str__(self) -> str:
        where = f" at line {self.line}, column {self.column}" if self.line else ""
        return f"{self.message}{where}"


def wrap(code: str) -> str:
    """The script that evaluates to the step's function (its body is ``code``)."""
    return f"{SCRIPT_PREFIX}{code}{SCRIPT_SUFFIX}"


def position(message: str) -> tuple[int | None, int | None]:
    """The user's line and column in an engine message about a :func:`wrap`-ped script."""
    match = _POSITION.search(message)
    if match is None:
        return None, None
    line = int(match.group(1)) - 1  # the prefix is one line
    return (line, int(match.group(2))) if line >= 1 else (None, None)


def check_syntax(code: str) -> JavaScriptSyntaxError | None:
    """Compile ``code`` as a function body without running any of it.

    Returns:
        None when it parses, else the engine's message with the line and column.
    """
    problem = _compile(wrap(code))
    if problem is not None:
        return problem
    if _compile(f"[{wrap(code)[1:-1]}]") is not None:
        return JavaScriptSyntaxError(
            "SyntaxError: the code closes its function early; write a function body", None, None
        )
    return None


def _compile(script: str) -> JavaScriptSyntaxError | None:
    context = quickjs.Context()
    context.set_memory_limit(_CHECK_MEMORY)
    context.set_time_limit(_CHECK_SECONDS)
    try:
        context.eval(f'throw "{_PARSED}"; {script}')
    except quickjs.JSException as exc:
        text = str(exc)
        if text.startswith(_PARSED):
            return None
        line, column = position(text)
        return JavaScriptSyntaxError(text.split("\n", 1)[0], line, column)
    return None  # unreachable: the script always throws
