"""Checking an operator's ``with`` patch of a parked step before the run receives it.

``POST /executions/{id}/steps/{step}/resolve {"action": "retry", "with": {...}}`` merges the
patch into the step's ``with`` (key by key, as the interpreter does). The merged step must pass
the same validation as a saved definition, and the patch may not read ``secrets``: a patch is
typed by an operator at run time, so it must not be a way to send a secret somewhere the
workflow's author did not (the author's own ``with`` may still use them as saved).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from temporal_workflows.definition_checks import DefinitionProblem
from temporal_workflows.template_analysis import referenced_names
from temporal_workflows.templates import iter_template_strings
from temporal_workflows.validation import definition_problems

__all__ = ["step_patch_problems"]

PATCH_POINTER = "/with"


def step_patch_problems(
    definition: Mapping[str, Any], step_id: str, patch: Mapping[str, Any]
) -> list[DefinitionProblem]:
    """Every problem of ``patch`` applied to step ``step_id`` of ``definition``.

    Args:
        definition: The run's definition as stored (its version's JSON).
        step_id: The parked step.
        patch: The submitted ``with`` patch.

    Returns:
        Problems with pointers into the request body (``/with/url``); empty when the patch
        is acceptable or the step does not exist (the run itself answers that case).
    """
    steps = definition.get("steps")
    if not isinstance(steps, list):
        return []
    index = next(
        (i for i, s in enumerate(steps) if isinstance(s, dict) and s.get("id") == step_id), None
    )
    if index is None:
        return []
    step = steps[index]
    original = step.get("with") if isinstance(step.get("with"), dict) else {}
    merged = {**step, "with": {**original, **patch}}
    patched = {**definition, "steps": [*steps[:index], merged, *steps[index + 1 :]]}
    problems = {(p.pointer, p.code): p for p in _secret_reads(patch)}
    prefix = f"/steps/{index}/with"
    for problem in definition_problems(patched):
        if problem.pointer == prefix or problem.pointer.startswith(prefix + "/"):
            pointer = PATCH_POINTER + problem.pointer[len(prefix) :]
            problems.setdefault(
                (pointer, problem.code), DefinitionProblem(pointer, problem.message, problem.code)
            )
    return sorted(problems.values(), key=lambda p: p.pointer)


def _secret_reads(patch: Mapping[str, Any]) -> list[DefinitionProblem]:
    return [
        DefinitionProblem(
            pointer,
            "a `with` patch may not read secrets; change the workflow to use a secret",
            "secret_not_allowed",
        )
        for pointer, text in iter_template_strings(dict(patch), PATCH_POINTER)
        if "secrets" in referenced_names(text)
    ]
