"""Reading templates without evaluating them: parse checks and what they reference.

Validation uses this to check a definition before it is stored: every template parses, uses
only known names, and refers to steps by id. Analyses are cached by expression source.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import nodes
from jinja2.exceptions import TemplateSyntaxError
from jinja2.parser import Parser

from temporal_workflows.expression_sandbox import ENVIRONMENT
from temporal_workflows.templates import (
    TemplateSyntaxProblem,
    expression_source,
    iter_template_strings,
    split_template,
)

__all__ = [
    "MAX_EXPRESSION_LENGTH",
    "Analysis",
    "Path",
    "analyse",
    "expression_problems",
    "referenced_names",
    "referenced_paths",
    "referenced_steps",
    "template_problems",
    "uses_dynamic_step_reference",
]

MAX_EXPRESSION_LENGTH = 10_000
Path = tuple[str | int, ...]
_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_NUMBER = r"-?\d+(?:\.\d+)?"
_STRING = r"'[^'\\]*'|" + r'"[^"\\]*"'
_OPERAND = rf"{_IDENT}(?:\.{_IDENT})*|{_NUMBER}|{_STRING}"
_QUICK = re.compile(
    rf"\s*({_OPERAND})\s*(?:(==|!=|<=|>=|<|>|\+|-|\*|/|~|\s(?:and|or)\s)\s*({_OPERAND})\s*)?"
)
# Words Jinja's parser reads as constants, or as operators (then the quick path gives up).
_CONSTANT_WORDS = frozenset({"true", "false", "none", "True", "False", "None"})
_OPERATOR_WORDS = frozenset({"not", "and", "or", "in", "is", "if", "else"})


@dataclass(frozen=True)
class Analysis:
    """What one expression uses.

    Attributes:
        names: Top-level names (``input``, ``steps``...).
        steps: Step ids used as ``steps.<id>`` or ``steps['<id>']``.
        dynamic_steps: ``steps`` is also used another way (``steps[x]``, ``steps | ...``).
        paths: Static access paths (``("steps", "a", "output")``), longest first.
    """

    names: frozenset[str]
    steps: frozenset[str]
    dynamic_steps: bool
    paths: tuple[Path, ...]


@lru_cache(maxsize=8192)
def analyse(source: str) -> Analysis:
    """Parse one expression (the text between ``{{`` and ``}}``) and list what it uses.

    Raises:
        jinja2.exceptions.TemplateSyntaxError: If it does not parse, or names a filter or
            test that does not exist.
    """
    if len(source) > MAX_EXPRESSION_LENGTH:
        raise TemplateSyntaxError(
            f"the expression is longer than {MAX_EXPRESSION_LENGTH} characters", 1
        )
    quick = _quick_analysis(source)
    if quick is not None:
        return quick
    parser = Parser(ENVIRONMENT, source, state="variable")
    try:
        tree = parser.parse_expression()
    except RecursionError:  # the parser recurses once per bracket or operator level
        raise TemplateSyntaxError("the expression is nested too deeply", 1) from None
    if not parser.stream.eos:
        raise TemplateSyntaxError(f"unexpected {parser.stream.current.value!r}", 1)
    return _analyse_tree(tree)


def _quick_analysis(source: str) -> Analysis | None:
    """Analyse ``a.b``, ``a.b == 'x'``, ``a.b * 0.1``... without Jinja's parser.

    Most templates have this shape, and parsing them with Jinja dominates the validation of
    large definitions. Anything else (filters, calls, brackets...) returns None and is parsed.
    Tests check that both ways give the same analysis.
    """
    match = _QUICK.fullmatch(source)
    if match is None:
        return None
    operands = [operand for operand in (match.group(1), match.group(3)) if operand]
    paths = [tuple(op.split(".")) for op in operands if op[0].isalpha() or op[0] == "_"]
    if any(path[0] in _OPERATOR_WORDS for path in paths):
        return None
    paths = [path for path in paths if path[0] not in _CONSTANT_WORDS]
    names = frozenset(path[0] for path in paths)
    steps = frozenset(path[1] for path in paths if path[0] == "steps" and len(path) > 1)
    dynamic = any(path == ("steps",) for path in paths)
    prefixes: set[Path] = {path[:n] for path in paths for n in range(1, len(path) + 1)}
    return Analysis(names, steps, dynamic, _longest_first(prefixes))


def _analyse_tree(tree: nodes.Node) -> Analysis:
    names: set[str] = set()
    steps: set[str] = set()
    paths: set[Path] = set()
    uses_of_steps = static_uses = 0
    for node in _all_nodes(tree):
        if isinstance(node, nodes.Filter | nodes.Test):
            _check_known(node)
        elif isinstance(node, nodes.Name):
            names.add(node.name)
            uses_of_steps += node.name == "steps"
        if isinstance(node, nodes.Getattr | nodes.Getitem | nodes.Name):
            step = _step_id_of(node)
            if step is not None:
                steps.add(step)
                static_uses += 1
            path = _path_of(node)
            if path:
                paths.add(path)
    dynamic = uses_of_steps > static_uses
    return Analysis(frozenset(names), frozenset(steps), dynamic, _longest_first(paths))


def _longest_first(paths: set[Path]) -> tuple[Path, ...]:
    # A total order (not set order, which varies between processes): error messages built
    # from these paths must be the same when a workflow replays on another worker.
    return tuple(sorted(paths, key=lambda path: (-len(path), [repr(p) for p in path])))


def _all_nodes(tree: nodes.Node) -> Iterator[nodes.Node]:
    # A plain walk over `fields`: Jinja's own iter_child_nodes costs more than parsing here.
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for name in node.fields:
            value = getattr(node, name)
            if isinstance(value, nodes.Node):
                stack.append(value)
            elif isinstance(value, list):
                stack.extend(item for item in value if isinstance(item, nodes.Node))


def _check_known(node: nodes.Filter | nodes.Test) -> None:
    # Jinja only notices an unknown filter when compiling; report it with the parse errors.
    kind = "filter" if isinstance(node, nodes.Filter) else "test"
    known = ENVIRONMENT.filters if kind == "filter" else ENVIRONMENT.tests
    if node.name not in known:
        raise TemplateSyntaxError(f"there is no {kind} named {node.name!r}", 1)


def _step_id_of(node: nodes.Node) -> str | None:
    """The id in ``steps.<id>`` / ``steps['<id>']``; None for anything else."""
    if isinstance(node, nodes.Getattr) and _is_name(node.node, "steps"):
        return str(node.attr)
    if isinstance(node, nodes.Getitem) and _is_name(node.node, "steps"):
        argument = node.arg
        if isinstance(argument, nodes.Const) and isinstance(argument.value, str):
            return argument.value
    return None  # steps[some_expression] is counted as a dynamic use


def _is_name(node: nodes.Node, name: str) -> bool:
    return isinstance(node, nodes.Name) and node.name == name


def _path_of(node: nodes.Node) -> Path:
    segments: list[str | int] = []
    while not isinstance(node, nodes.Name):
        if isinstance(node, nodes.Getattr):
            segments.append(node.attr)
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            segments.append(node.arg.value)
        else:
            return ()
        node = node.node
    return (node.name, *reversed(segments))


# --- static checks -----------------------------------------------------------------------


def template_problems(value: Any, pointer: str) -> list[tuple[str, str]]:
    """Parse-check every template inside ``value`` without evaluating anything.

    Args:
        value: A JSON-like value.
        pointer: The JSON pointer of ``value`` in its document.

    Returns:
        ``(json_pointer, message)`` for each string whose templates do not parse.
    """
    problems: list[tuple[str, str]] = []
    for where, text in iter_template_strings(value, pointer):
        message = _text_problem(text)
        if message:
            problems.append((where, message))
    return problems


def expression_problems(expr: str, pointer: str) -> list[tuple[str, str]]:
    """Parse-check a ``when``/``until``/``foreach`` expression (``"{{ x }}"`` or bare ``"x"``).

    Returns:
        ``[(pointer, message)]`` if it does not parse or mixes text and templates, else ``[]``.
    """
    try:
        analyse(expression_source(expr))
    except TemplateSyntaxProblem as exc:
        return [(pointer, str(exc))]
    except TemplateSyntaxError as exc:
        return [(pointer, f"cannot parse {expr.strip()!r}: {exc.message}")]
    return []


def _text_problem(text: str) -> str | None:
    try:
        segments = split_template(text)
    except TemplateSyntaxProblem as exc:
        return str(exc)
    for segment in segments:
        if segment.is_expression:
            try:
                analyse(segment.text)
            except TemplateSyntaxError as exc:
                return f"cannot parse '{{{{{segment.text}}}}}': {exc.message}"
    return None


def _analyses(value: Any, bare: bool) -> list[Analysis]:
    """Analyses of every parseable expression in ``value``; unparseable ones are skipped."""
    if bare and isinstance(value, str):
        return list(_string_analyses(value, True))
    return [
        analysis
        for _, text in iter_template_strings(value, "")
        for analysis in _string_analyses(text, False)
    ]


@lru_cache(maxsize=8192)
def _string_analyses(text: str, bare: bool) -> tuple[Analysis, ...]:
    try:
        if bare:
            sources = [expression_source(text)]
        else:
            sources = [s.text for s in split_template(text) if s.is_expression]
    except TemplateSyntaxProblem:
        return ()
    found: list[Analysis] = []
    for source in sources:
        try:
            found.append(analyse(source))
        except TemplateSyntaxError:
            continue
    return tuple(found)


def referenced_names(value: Any, *, bare: bool = False) -> set[str]:
    """Top-level names (``input``, ``vars``, ``steps``, ``item``...) used by the templates.

    Args:
        value: A JSON-like value holding templates.
        bare: Treat a string without ``{{`` as a bare expression (``when``/``until``).
    """
    return {name for analysis in _analyses(value, bare) for name in analysis.names}


def referenced_steps(value: Any, *, bare: bool = False) -> set[str]:
    """Step ids the templates reference as ``steps.<id>`` or ``steps['<id>']``."""
    return {step for analysis in _analyses(value, bare) for step in analysis.steps}


def uses_dynamic_step_reference(value: Any, *, bare: bool = False) -> bool:
    """Tell whether a template uses ``steps`` other than as ``steps.<id>``/``steps['<id>']``."""
    return any(analysis.dynamic_steps for analysis in _analyses(value, bare))


def referenced_paths(value: Any, *, bare: bool = False) -> set[Path]:
    """Static access paths the templates use (``("steps", "a", "output")`` and its prefixes)."""
    return {path for analysis in _analyses(value, bare) for path in analysis.paths}
