"""Checks that relate steps and fields to each other: ids, dependencies, cycles, templates.

They read the submitted document itself (not the model), so they still run, and still
point at the right place, when other parts of the document are invalid.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from temporal_workflows.durations import parse_duration
from temporal_workflows.expressions import (
    expression_problems,
    referenced_names,
    referenced_paths,
    referenced_steps,
    template_problems,
    uses_dynamic_step_reference,
)
from temporal_workflows.step_types import STEP_TYPES, templated_with
from temporal_workflows.templates import iter_template_strings

__all__ = [
    "COMPENSATE_TYPES",
    "LOCAL_STEP_TYPES",
    "SECRET_STEP_TYPES",
    "DefinitionProblem",
    "graph_and_template_problems",
]

# Secrets are resolved inside activities, so only the `with` of activity steps may use them.
SECRET_STEP_TYPES = frozenset({"http", "n8n", "storage", "llm", "agent"})
# Steps that run as one activity each, so they may run as a local activity (`local`).
LOCAL_STEP_TYPES = frozenset({"http", "n8n", "storage", "code"})
# A compensation runs while a run is failing or being cancelled: no waiting, no failing.
COMPENSATE_TYPES = frozenset({"http", "n8n", "storage", "workflow", "log"})
BASE_NAMES = frozenset({"input", "vars", "steps", "execution", "workflow", "trigger", "now"})
LOOP_NAMES = frozenset({"item", "index"})
# Names whose fields are fixed: reading any other field is a typo, refused when the
# definition is saved (at run time it would be an "is undefined" error). Dict methods stay
# callable (`steps.a.get('output')`).
_DICT_METHODS = frozenset({"get", "keys", "values", "items"})
FIXED_FIELDS: dict[str, frozenset[str]] = {
    "steps": frozenset({"output", "status", "error", "reason"}),
    "execution": frozenset({"id", "started_at"}),
    "trigger": frozenset({"type", "id", "scheduled_at"}),
    "loop": frozenset({"index", "previous"}),
    "workflow": frozenset({"id"}),
}
KEY_NAMES = frozenset({"input", "vars", "execution", "workflow"})
_ANY_STEP = -1  # an upstream mask that allows every step (the workflow output)


@dataclass(frozen=True)
class DefinitionProblem:
    """One problem of a definition: where (RFC 6901 pointer), what, and a stable code."""

    pointer: str
    message: str
    code: str


@dataclass(frozen=True)
class _Step:
    index: int
    raw: dict[str, Any]
    id: str | None
    type: str | None

    @property
    def pointer(self) -> str:
        return f"/steps/{self.index}"


def graph_and_template_problems(raw: dict[str, Any]) -> list[DefinitionProblem]:
    """Ids, dependencies, cycles, cross-field rules and template references of a definition.

    Args:
        raw: The submitted definition (a JSON object, possibly invalid elsewhere).
    """
    return _Checker(raw).run()


class _Checker:
    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw
        self.problems: list[DefinitionProblem] = []
        steps = raw.get("steps")
        self.steps = [
            _Step(i, s, _str_or_none(s.get("id")), _str_or_none(s.get("type")))
            for i, s in enumerate(steps if isinstance(steps, list) else [])
            if isinstance(s, dict)
        ]
        self.by_index = {step.index: step for step in self.steps}
        self.first_index: dict[str, int] = {}
        self.edges: dict[int, list[tuple[int, int]]] = {s.index: [] for s in self.steps}
        self.upstream: dict[int, int] = {}

    def add(self, pointer: str, message: str, code: str) -> None:
        self.problems.append(DefinitionProblem(pointer, message, code))

    def run(self) -> list[DefinitionProblem]:
        self._ids()
        for step in self.steps:
            self._dependencies(step)
        self._cycles_and_upstream()
        for step in self.steps:
            self._field_rules(step)
            self._step_templates(step)
        self._check_value(self.raw.get("output"), "/output", BASE_NAMES, _ANY_STEP)
        self._concurrency_key()
        return self.problems

    def _concurrency_key(self) -> None:
        concurrency = self.raw.get("concurrency")
        key = concurrency.get("key") if isinstance(concurrency, dict) else None
        if not isinstance(key, str):
            return  # a wrong type is the model's problem
        pointer = "/concurrency/key"
        broken = template_problems(key, pointer)
        for problem_pointer, message in broken:
            self.add(problem_pointer, message, "template_syntax")
        if broken:
            return
        # The key is computed before the first step runs, so no step output exists yet.
        for name in sorted(referenced_names(key) - KEY_NAMES):
            self.add(
                pointer,
                f"the concurrency key is computed before any step runs; it can use "
                f"input, vars, execution and workflow, not {name!r}",
                "concurrency_key_name",
            )

    # --- ids and the graph ---------------------------------------------------------------

    def _ids(self) -> None:
        for step in self.steps:
            if step.id is None:
                continue
            if step.id in self.first_index:
                first = self.first_index[step.id]
                self.add(
                    f"{step.pointer}/id",
                    f"duplicate step id {step.id!r} (already used by /steps/{first})",
                    "duplicate_id",
                )
            else:
                self.first_index[step.id] = step.index

    def _dependencies(self, step: _Step) -> None:
        depends_on = step.raw.get("depends_on")
        if not isinstance(depends_on, list):
            return
        seen: set[str] = set()
        for k, dependency in enumerate(depends_on):
            if not isinstance(dependency, str):
                continue
            pointer = f"{step.pointer}/depends_on/{k}"
            if dependency == step.id:
                self.add(pointer, f"step {step.id!r} depends on itself", "self_dependency")
            elif dependency not in self.first_index:
                self.add(pointer, self._unknown_step(dependency), "unknown_dependency")
            elif dependency in seen:
                self.add(pointer, f"{dependency!r} is listed twice", "duplicate_dependency")
            else:
                self.edges[step.index].append((k, self.first_index[dependency]))
            seen.add(dependency)

    def _unknown_step(self, name: str) -> str:
        close = difflib.get_close_matches(name, list(self.first_index), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"there is no step {name!r}{hint}"

    def _cycles_and_upstream(self) -> None:
        """Depth-first search: report each cycle once, and collect every step's upstream set.

        Upstream sets are bit masks over step indexes, so a 500-step chain stays cheap.
        """
        state: dict[int, str] = {}
        for root in self.edges:
            if root in state:
                continue
            state[root] = "open"
            path, stack = [root], [(root, iter(self.edges[root]))]
            while stack:
                node, pending = stack[-1]
                edge = next(pending, None)
                if edge is None:
                    stack.pop()
                    path.pop()
                    state[node] = "done"
                    self.upstream[node] = self._mask(node)
                elif state.get(edge[1]) == "open":
                    self._cycle(path[path.index(edge[1]) :], node, edge[0])
                elif edge[1] not in state:
                    state[edge[1]] = "open"
                    path.append(edge[1])
                    stack.append((edge[1], iter(self.edges[edge[1]])))

    def _mask(self, node: int) -> int:
        mask = 0
        for _, dependency in self.edges[node]:
            mask |= (1 << dependency) | self.upstream.get(dependency, 0)
        return mask

    def _cycle(self, members: list[int], node: int, entry: int) -> None:
        names = [str(self.by_index[i].id) for i in [*members, members[0]]]
        self.add(
            f"/steps/{node}/depends_on/{entry}",
            f"dependency cycle: {' → '.join(names)}",
            "cycle",
        )

    # --- rules between fields ------------------------------------------------------------

    def _field_rules(self, step: _Step) -> None:
        given = {key for key, value in step.raw.items() if value is not None}
        if "until" in given and "interval" not in given:
            self.add(f"{step.pointer}/until", "until needs an interval", "until_requires_interval")
        for key in ("interval", "max_iterations"):
            if key in given and "until" not in given:
                self.add(f"{step.pointer}/{key}", f"{key} only goes with until", "requires_until")
        if "join" in given and not step.raw.get("depends_on"):
            self.add(
                f"{step.pointer}/join",
                "join decides from the step's dependencies: give depends_on",
                "join_requires_depends_on",
            )
        if "local" in given and step.type in STEP_TYPES and step.type not in LOCAL_STEP_TYPES:
            self.add(
                f"{step.pointer}/local",
                f"a {step.type} step does not run as one activity, so local does not apply; "
                f"it goes with {', '.join(sorted(LOCAL_STEP_TYPES))} steps",
                "local_not_applicable",
            )
        if "concurrency" in given and "foreach" not in given:
            self.add(
                f"{step.pointer}/concurrency",
                "concurrency only goes with foreach",
                "concurrency_requires_foreach",
            )
        self._retry_rules(step.raw.get("retry"), f"{step.pointer}/retry")
        compensate = step.raw.get("compensate")
        if isinstance(compensate, dict):
            self._compensate_rules(step, compensate)

    def _compensate_rules(self, step: _Step, compensate: dict[str, Any]) -> None:
        pointer = f"{step.pointer}/compensate"
        if step.type == "fail":
            message = "a fail step never completes, so it has nothing to undo"
            self.add(pointer, message, "compensate_never_runs")
        kind = compensate.get("type")
        if kind in STEP_TYPES and kind not in COMPENSATE_TYPES:
            allowed = ", ".join(sorted(COMPENSATE_TYPES))
            self.add(
                f"{pointer}/type",
                f"a compensation cannot be of type {kind!r}; use one of {allowed}",
                "invalid_compensate_type",
            )
        self._retry_rules(compensate.get("retry"), f"{pointer}/retry")

    def _retry_rules(self, retry: object, pointer: str) -> None:
        if not isinstance(retry, dict) or retry.get("max_interval") is None:
            return
        try:
            initial = parse_duration(retry.get("initial_interval") or "1s")
            maximum = parse_duration(retry["max_interval"])
        except ValueError:
            return  # the model reports the bad duration itself
        if maximum < initial:
            self.add(
                f"{pointer}/max_interval",
                "max_interval is shorter than initial_interval",
                "invalid_retry",
            )

    # --- templates -----------------------------------------------------------------------

    def _step_templates(self, step: _Step) -> None:
        raw, pointer = step.raw, step.pointer
        upstream = self.upstream.get(step.index, 0)
        loop = LOOP_NAMES if raw.get("foreach") is not None else frozenset()
        secrets = {"secrets"} if step.type in SECRET_STEP_TYPES else set()
        polling = {"loop"} if raw.get("until") is not None else set()
        with_names = BASE_NAMES | loop | secrets | polling
        with_ = _templated(step.type, _templated_with(step))
        self._check_value(with_, f"{pointer}/with", with_names, upstream)
        if step.type == "agent":
            self._agent_tool_templates(step, BASE_NAMES | secrets, upstream)
        self._check_condition(raw.get("when"), f"{pointer}/when", BASE_NAMES, upstream)
        if isinstance(raw.get("foreach"), list):
            self._check_value(raw["foreach"], f"{pointer}/foreach", BASE_NAMES, upstream)
        else:
            self._check_condition(raw.get("foreach"), f"{pointer}/foreach", BASE_NAMES, upstream)
        until_names = BASE_NAMES | loop | {"output", "loop"}
        self._check_condition(raw.get("until"), f"{pointer}/until", until_names, upstream)
        compensate = raw.get("compensate")
        if isinstance(compensate, dict):
            own = upstream | (1 << step.index)
            secrets = {"secrets"} if compensate.get("type") in SECRET_STEP_TYPES else set()
            names = BASE_NAMES | loop | secrets
            self._check_value(compensate.get("with"), f"{pointer}/compensate/with", names, own)

    def _agent_tool_templates(self, step: _Step, names: frozenset[str], upstream: int) -> None:
        """An agent's http tools are rendered per tool call, with the model's ``args``
        (and without ``item``/``index``: the call is the agent's, not a foreach item's)."""
        tools = (step.raw.get("with") or {}).get("tools")
        if not isinstance(tools, list):
            return
        for index, tool in enumerate(tools):
            if isinstance(tool, dict) and isinstance(tool.get("http"), dict):
                where = f"{step.pointer}/with/tools/{index}/http"
                self._check_value(tool["http"], where, names | {"args"}, upstream)

    def _check_value(self, value: Any, pointer: str, names: frozenset[str], upstream: int) -> None:
        for where, text in iter_template_strings(value, pointer):
            broken = template_problems(text, where)
            for problem_pointer, message in broken:
                self.add(problem_pointer, message, "template_syntax")
            if not broken:
                self._check_references(text, where, names, upstream, bare=False)

    def _check_condition(
        self, text: Any, pointer: str, names: frozenset[str], upstream: int
    ) -> None:
        if not isinstance(text, str):
            return
        broken = expression_problems(text, pointer)
        for problem_pointer, message in broken:
            self.add(problem_pointer, message, "template_syntax")
        if not broken:
            self._check_references(text, pointer, names, upstream, bare=True)

    def _check_references(
        self, text: str, pointer: str, names: frozenset[str], upstream: int, *, bare: bool
    ) -> None:
        for name in sorted(referenced_names(text, bare=bare) - names):
            self.add(pointer, *_name_problem(name))
        for step_id in sorted(referenced_steps(text, bare=bare)):
            index = self.first_index.get(step_id)
            if index is None:
                self.add(pointer, self._unknown_step(step_id), "unknown_step_reference")
            elif upstream != _ANY_STEP and not upstream >> index & 1:
                self.add(
                    pointer,
                    f"step {step_id!r} is not upstream of this step; add it to depends_on "
                    "(directly or through a step that depends on it)",
                    "step_not_upstream",
                )
        for path in sorted(referenced_paths(text, bare=bare), key=repr):
            problem = _fixed_field_problem(path)
            if problem:
                self.add(pointer, problem, "unknown_field_reference")
        if uses_dynamic_step_reference(text, bare=bare):
            self.add(
                pointer,
                "refer to steps by id (steps.<id> or steps['<id>']) so that dependencies can "
                "be checked",
                "dynamic_step_reference",
            )


def _name_problem(name: str) -> tuple[str, str]:
    if name in LOOP_NAMES:
        return f"{name!r} is only defined in a step with foreach", "item_outside_foreach"
    if name == "output":
        return "'output' is only defined in until", "output_outside_until"
    if name == "loop":
        return (
            "'loop' is only defined in the with and until of a step with until",
            "loop_outside_until",
        )
    if name == "secrets":
        kinds = ", ".join(sorted(SECRET_STEP_TYPES))
        return (
            f"secrets can only be used in the with of {kinds} steps, where they are resolved",
            "secret_not_allowed",
        )
    known = (
        "input, vars, steps, execution, workflow, trigger, now, secrets, item, index, output, loop"
    )
    return f"unknown name {name!r}; templates can use {known}", "unknown_name"


def _templated_with(step: _Step) -> Any:
    """The step's ``with`` without an http step's ``paginate``: those are bare expressions
    over each page's ``response``, checked by the model (see HttpPaginate)."""
    block = step.raw.get("with")
    if step.type == "http" and isinstance(block, dict) and "paginate" in block:
        return {key: value for key, value in block.items() if key != "paginate"}
    return block


def _fixed_field_problem(path: tuple[str | int, ...]) -> str:
    """A message if ``path`` reads a field that a fixed-shape name never has, else ""."""
    root = str(path[0])
    if root not in FIXED_FIELDS:
        return ""
    depth = 2 if root == "steps" else 1  # steps.<id>.<field>, execution.<field>
    if len(path) <= depth:
        return ""
    field = path[depth]
    fields = FIXED_FIELDS[root]
    if field in fields or field in _DICT_METHODS:
        return ""
    owner = "a step" if root == "steps" else root
    shown = ".".join(str(part) for part in path[: depth + 1])
    close = difflib.get_close_matches(str(field), sorted(fields), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"{shown!r} does not exist: {owner} has {', '.join(sorted(fields))}{hint}"


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _templated(step_type: str | None, with_: Any) -> Any:
    """A step's ``with`` without its literal fields (a ``code`` step's script)."""
    return templated_with(step_type, with_) if step_type and isinstance(with_, dict) else with_
