"""Whether a step runs, from how its dependencies ended: the ``join`` field.

The rules are Airflow's trigger rules under Headrace names:

* ``all_succeeded`` (the default): every dependency completed;
* ``any_succeeded``: at least one dependency completed (the join after ``when`` branches);
* ``all_done``: every dependency ended, whatever the outcome (a clean-up or a report step).

A step held back by its join is skipped with a reason naming the dependency, which the
``step.skipped`` event, the step's status and any later "is undefined" error repeat.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["DEFAULT_JOIN", "join_blocker"]

DEFAULT_JOIN = "all_succeeded"


def join_blocker(join: str, dependencies: Mapping[str, str]) -> str | None:
    """Why a step must be skipped under ``join``, or None if it may run.

    Args:
        join: ``all_succeeded``, ``any_succeeded`` or ``all_done``.
        dependencies: Each dependency's final status, in ``depends_on`` order.

    Returns:
        None, or a reason such as ``"skipped because 'pay' was skipped"``.
    """
    if join == "all_done" or not dependencies:
        return None
    unsuccessful = [
        (step, status) for step, status in dependencies.items() if status != "completed"
    ]
    if join == "any_succeeded":
        if len(unsuccessful) < len(dependencies):
            return None
        ends = ", ".join(f"{step!r} {_ended(status)}" for step, status in unsuccessful)
        return f"skipped because none of its dependencies succeeded: {ends}"
    if not unsuccessful:
        return None
    step, status = unsuccessful[0]
    return f"skipped because {step!r} {_ended(status)}"


def _ended(status: str) -> str:
    return {"skipped": "was skipped", "failed": "failed"}.get(status, f"ended {status}")
