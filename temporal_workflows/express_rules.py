"""What an express definition (``execution_mode: express``) may not hold.

An express run has no history: nothing can wait for a person, an event or an operator, and
the run must end well within HEADRACE_EXPRESS_MAX_DURATION. These are refused at save, each
with the pointer of the field at fault.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporal_workflows.definition_checks import DefinitionProblem
from temporal_workflows.durations import parse_duration

# Steps that wait for someone or something outside the run.
WAITING_TYPES = frozenset({"approval", "wait_for_event"})
# The longest `sleep` an express step may take (its duration must be written, not computed).
EXPRESS_MAX_SLEEP = timedelta(seconds=10)


def express_problems(raw: dict[str, Any]) -> list[DefinitionProblem]:
    if raw.get("execution_mode") != "express":
        return []
    problems: list[DefinitionProblem] = []
    if raw.get("concurrency") is not None:
        problems.append(
            DefinitionProblem(
                "/concurrency",
                "express runs do not queue for a concurrency group; use a durable run",
                "express_concurrency",
            )
        )
    steps = raw.get("steps")
    for index, step in enumerate(steps if isinstance(steps, list) else []):
        if isinstance(step, dict):
            problems.extend(_step_problems(step, f"/steps/{index}"))
    return problems


def _step_problems(step: dict[str, Any], pointer: str) -> list[DefinitionProblem]:
    kind = step.get("type")
    if kind in WAITING_TYPES:
        return [
            DefinitionProblem(
                f"{pointer}/type",
                f"a {kind} step waits outside the run, which an express run cannot do; "
                "make the workflow durable",
                "express_waiting_step",
            )
        ]
    if step.get("on_error") == "park":
        return [
            DefinitionProblem(
                f"{pointer}/on_error",
                "on_error: park waits for an operator, which an express run cannot do",
                "express_waiting_step",
            )
        ]
    if kind == "sleep":
        return _sleep_problems(step, pointer)
    return []


def _sleep_problems(step: dict[str, Any], pointer: str) -> list[DefinitionProblem]:
    with_ = step.get("with") if isinstance(step.get("with"), dict) else {}
    assert isinstance(with_, dict)
    duration = with_.get("duration")
    bound = f"at most {EXPRESS_MAX_SLEEP.total_seconds():g}s"
    if not isinstance(duration, str) or "{" in duration:
        return [
            DefinitionProblem(
                f"{pointer}/with/duration" if duration is not None else f"{pointer}/with",
                f"an express sleep needs a written duration of {bound}",
                "express_long_sleep",
            )
        ]
    try:
        delay = parse_duration(duration)
    except ValueError:
        return []  # the sleep step's own check reports it
    if delay > EXPRESS_MAX_SLEEP:
        return [
            DefinitionProblem(
                f"{pointer}/with/duration",
                f"an express sleep may last {bound}; make the workflow durable to wait longer",
                "express_long_sleep",
            )
        ]
    return []
