"""Merge "combine" by position / all combinations: one object from one item per input.

With one item on each input (the translation's assumption), n8n's Merge v2
(``combinationMode``: ``mergeByPosition``, ``multiplex``) and v3 (``combineBy``:
``combineByPosition``, ``combineAll``) all give one item: the inputs' objects merged with
lodash ``merge`` (deep, the default) or ``assign`` (shallow), a later input winning a
clash; "prefer input N" makes input N the last, "add input number" renames every field
``<name>_<N>``. A Headrace template cannot merge objects whose keys are unknown, so this
is exact only when every input's fields are known when translating (a Set node, or an
earlier combine), and when each clash can be decided from the definition alone: deep
merge of two literal objects, a literal scalar that wins; a clash on a value computed at
run time (an object or not?) or on lists (merged index by index) stays untranslatable.
Matching fields and SQL are untranslatable.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from api.services.n8n.expressions import Item, ItemRef, Untranslatable, whole_number
from api.services.n8n.graph import Edge, Node
from api.services.n8n.nodes import StepSpec

Fields = Mapping[str, Any]  # a node's output as a `with` map: literal values or templates
_COMBINE_V2 = ("mergeByPosition", "multiplex")
_COMBINE_V3 = ("combineByPosition", "combineAll")


def combines(node: Node) -> bool:
    """Tell whether a Merge node combines its inputs' objects (by position or all pairs)."""
    if node.param("mode", "append") != "combine":
        return False
    if node.version >= 3:
        return node.param("combineBy", "combineByFields") in _COMBINE_V3
    return node.param("combinationMode", "mergeByFields") in _COMBINE_V2


def combined_spec(
    node: Node,
    step_id: str,
    incoming: list[Edge],
    edge_item: Callable[[Edge], Item],
    edge_fields: Callable[[Edge], Fields | None],
) -> StepSpec:
    """The transform that builds the merged object from the inputs' fields.

    Raises:
        Untranslatable: See the module docstring.
    """
    inputs = _inputs(node, incoming)
    options = (node.param("options", {}) or {}).get("clashHandling", {}) or {}
    clash = (options.get("values", {}) or {}) if isinstance(options, Mapping) else {}
    resolve = str(clash.get("resolveClash", ""))
    order = _merge_order(node, len(inputs), resolve)
    deep = clash.get("mergeMode", "deepMerge") == "deepMerge"
    keep_on_empty = bool(clash.get("overrideEmpty", False))
    merged: dict[str, Any] = {}
    for index in order:
        edge = inputs[index]
        fields, item = edge_fields(edge), edge_item(edge)
        if fields is None or not isinstance(item, ItemRef) or item.heads is not None:
            raise Untranslatable(
                f"Merge {node.name!r} combines input {index + 1}, whose fields are not known"
            )
        refs = _references(fields, item, [])
        if resolve == "addSuffix":
            refs = {f"{key}_{index + 1}": value for key, value in refs.items()}
        _merge_into(merged, refs, deep, keep_on_empty, node.name)
    result = ItemRef(f"steps.{step_id}.output", what=f"the item of {node.name!r}")
    return StepSpec("transform", _templates(merged), item=result)


def _inputs(node: Node, incoming: list[Edge]) -> list[Edge]:
    count = (
        whole_number(node.param("numberInputs"), 2, f"Merge {node.name!r}: numberInputs")
        if node.version >= 3
        else 2
    )
    by_input = {e.input: [x for x in incoming if x.input == e.input] for e in incoming}
    if sorted(by_input) != list(range(count)) or any(len(v) != 1 for v in by_input.values()):
        raise Untranslatable(f"Merge {node.name!r} needs exactly one source per input")
    return [by_input[i][0] for i in range(count)]


def _merge_order(node: Node, count: int, resolve: str) -> list[int]:
    """Input indexes in the order they are merged: the last one wins a clash."""
    if resolve.startswith("preferInput"):
        what = f"Merge {node.name!r}: preferred input"
        preferred = whole_number(resolve.removeprefix("preferInput") or count, count, what) - 1
        if not 0 <= preferred < count:
            raise Untranslatable(f"Merge {node.name!r} prefers input {preferred + 1}")
        return [i for i in range(count) if i != preferred] + [preferred]
    if resolve not in ("", "addSuffix"):
        raise Untranslatable(f"Merge {node.name!r} resolves clashes by {resolve!r}")
    return list(range(count))


class _Value:
    """A field of one input: its template, and its literal value when it has one."""

    def __init__(self, template: str, literal: Any, known: bool) -> None:
        self.template, self.literal, self.known = template, literal, known


def _references(fields: Fields, item: ItemRef, keys: list[str | int]) -> dict[str, Any]:
    """The input's fields as references to its output; nested literal objects stay maps."""
    result: dict[str, Any] = {}
    for key, value in fields.items():
        path = [*keys, key]
        if isinstance(value, Mapping):
            result[key] = _references(value, item, path)
        else:
            computed = isinstance(value, str) and "{{" in value
            result[key] = _Value("{{ " + item.path(path) + " }}", value, not computed)
    return result


def _merge_into(
    target: dict[str, Any], source: dict[str, Any], deep: bool, keep_on_empty: bool, name: str
) -> None:
    for key, value in source.items():
        if key not in target:
            target[key] = value
            continue
        old = target[key]
        if keep_on_empty and _maybe_empty(value, name, key):
            continue
        if not deep or (isinstance(value, _Value) and value.known and not _is_list(value)):
            target[key] = value  # assign, or a literal scalar over anything
        elif isinstance(value, _Value) and isinstance(old, _Value) and old.known:
            # over a literal scalar any value wins (lodash copies an object or a list)
            if _is_list(old) and (not value.known or _is_list(value)):
                raise Untranslatable(f"Merge {name!r}: lists in field {key!r} merge by index")
            target[key] = value
        elif isinstance(value, dict) and isinstance(old, dict):
            _merge_into(old, value, deep, keep_on_empty, name)
        elif isinstance(value, dict) and isinstance(old, _Value) and old.known:
            target[key] = value  # a literal object replaces a literal scalar
        else:
            raise Untranslatable(
                f"Merge {name!r}: field {key!r} clashes with a value known only at run time"
            )


def _maybe_empty(value: Any, name: str, key: str) -> bool:
    """Override empty: keeps the earlier value where the later one is null or ''."""
    if isinstance(value, _Value) and not value.known:
        raise Untranslatable(f"Merge {name!r}: whether field {key!r} is empty is not known")
    return isinstance(value, _Value) and value.literal in (None, "")


def _is_list(value: _Value) -> bool:
    return isinstance(value.literal, list)


def _templates(merged: dict[str, Any]) -> dict[str, Any]:
    return {
        key: _templates(value) if isinstance(value, dict) else value.template
        for key, value in merged.items()
    }
