"""The Merge node: a join of branches.

* ``append`` (the default of every version) on branches that exclude each other (both
  sides of an IF) passes on the item of whichever branch ran; on parallel branches it
  would make two items, which a step cannot hold, so it is untranslatable.
* ``chooseBranch`` (v2+) and ``passThrough`` (v1) wait for both inputs and pass on the
  chosen input's item (or an empty item).
* ``combine`` by position or all combinations merges the inputs' objects when their
  fields are known (:mod:`api.services.n8n.combine`); by matching fields or SQL it is
  untranslatable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from api.services.n8n.combine import Fields, combined_spec, combines
from api.services.n8n.expressions import Item, ItemRef, Untranslatable, chain_items, whole_number
from api.services.n8n.graph import Edge, Guards, Node, exclusive
from api.services.n8n.nodes import StepSpec


@dataclass
class Joined:
    spec: StepSpec
    when: str | None
    guards: Guards


def merge_step(
    node: Node,
    step_id: str,
    incoming: list[Edge],
    edge_item: Callable[[Edge], Item],
    edge_fields: Callable[[Edge], Fields | None],
    ran: Callable[[Edge], str],
    edge_guards: Callable[[Edge], Guards],
) -> Joined:
    """The step of a Merge node, the `when` that joins its inputs, and its guards.

    Raises:
        Untranslatable: For modes that combine items, or append on parallel branches.
    """
    if not incoming:
        raise Untranslatable(f"Merge {node.name!r} has no input")
    mode = node.param("mode", "append")
    guards = [edge_guards(e) for e in incoming]
    if mode == "append":
        for i, first in enumerate(guards):
            for second in guards[i + 1 :]:
                if not exclusive(first, second):
                    raise Untranslatable(f"Merge {node.name!r} appends parallel branches")
        options = [(ran(e), edge_item(e)) for e in incoming]
        when = " or ".join(f"({c})" for c, _ in options)
        common = {k: v for k, v in guards[0].items() if all(g.get(k) == v for g in guards[1:])}
        return Joined(
            StepSpec("transform", {}, item=chain_items(options, "the merged item")), when, common
        )
    merged: Guards = {}
    for guard in guards:
        merged.update(guard)
    if combines(node):
        # n8n combines what reached each input; both always run together, or it differs.
        if any(g != guards[0] for g in guards[1:]):
            raise Untranslatable(f"Merge {node.name!r} combines inputs that may not all run")
        spec = combined_spec(node, step_id, incoming, edge_item, edge_fields)
        return Joined(spec, None, merged)
    chosen = _chosen_input(node, mode)
    if chosen is None:
        item: Item = ItemRef("{}", what=f"the empty item of {node.name!r}")
        return Joined(StepSpec("transform", {}, item=item), None, merged)
    edges = [e for e in incoming if e.input == chosen]
    if len(edges) != 1:
        raise Untranslatable(f"Merge {node.name!r}: input {chosen + 1} has no single source")
    return Joined(StepSpec("transform", {}, item=edge_item(edges[0])), None, merged)


def _chosen_input(node: Node, mode: str) -> int | None:
    """The input whose item a waiting Merge passes on; None for an empty item."""
    if mode == "passThrough" and node.version < 2:
        return 0 if node.param("output", "input1") == "input1" else 1
    if mode != "chooseBranch" or node.version < 2:
        raise Untranslatable(f"Merge {node.name!r} in mode {mode!r} combines items")
    if node.version >= 3:
        if node.param("chooseBranchMode", "waitForBoth") != "waitForBoth":
            raise Untranslatable(f"Merge {node.name!r}: branch mode is not 'wait for both'")
        if node.param("output", "specifiedInput") == "empty":
            return None
        return whole_number(node.param("useDataOfInput"), 1, f"Merge {node.name!r}: input") - 1
    output = node.param("output", "input1")
    return None if output == "empty" else (0 if output == "input1" else 1)
