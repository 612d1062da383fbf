"""Loop Over Items (Split in Batches v3) folded into the nodes it loops over.

n8n's loop sends its items, a batch at a time, along its ``loop`` output through a chain of
nodes that leads back to it; when none are left, its ``done`` output gives every item that
came back, in order. When each node of the chain handles each item on its own (Set, HTTP
Request, No Operation, Code for each item, Function Item), that is the chain applied to every
item: the translation removes the edge back, makes the loop a pass-through into the chain,
and connects what followed ``done`` to the chain's last node. The chain's nodes then run
per item (``foreach`` after a Split Out) or once (one item). What differs is only the order
of side effects across nodes (n8n: every node for one batch, then the next batch; Headrace:
one node for every item, then the next node).
"""

from __future__ import annotations

from api.services.n8n.expressions import Untranslatable
from api.services.n8n.graph import Edge, Graph, Node
from api.services.n8n.nodes_v1 import runs_per_item

LOOP = "n8n-nodes-base.splitInBatches"


def fold_loops(graph: Graph) -> None:
    """Rewrite each Loop Over Items of ``graph`` as described above (in place).

    Raises:
        Untranslatable: A loop of another version or with options, or whose chain branches,
            does not lead back, or holds a node that does not handle each item on its own.
    """
    for node in list(graph.nodes.values()):
        if node.type == LOOP and not node.disabled:
            _fold(graph, node)


def _fold(graph: Graph, loop: Node) -> None:
    name = loop.name
    if loop.version < 3:
        raise Untranslatable(f"Split In Batches {name!r} version {loop.version:g} (< 3)")
    options = loop.param("options", {}) or {}
    if options:
        raise Untranslatable(f"Split In Batches {name!r} uses {', '.join(sorted(options))}")
    chain: list[str] = []
    edges = [e for e in graph.outgoing(name) if e.output == 1]
    while True:
        if len(edges) != 1 or edges[0].input != 0:
            raise Untranslatable(f"the loop of {name!r} branches or does not lead back")
        target = edges[0].target
        if target == name:
            back = edges[0]
            break
        node = graph.nodes[target]
        single = len(graph.incoming(target)) == 1 and node.type != LOOP
        if target in chain or not single or not runs_per_item(node):
            raise Untranslatable(
                f"the loop of {name!r} runs {target!r}, which does not handle each item alone"
            )
        if node.raw.get("alwaysOutputData") or node.on_error != "stopWorkflow":
            raise Untranslatable(f"the loop of {name!r} runs {target!r} with error settings")
        chain.append(target)
        edges = graph.outgoing(target)
    if not chain:
        raise Untranslatable(f"the loop of {name!r} runs no node")
    graph.edges.remove(back)
    for edge in [e for e in graph.outgoing(name)]:
        graph.edges.remove(edge)
        if edge.output == 1:  # the loop passes its items into the chain
            graph.edges.append(Edge(name, 0, edge.target, edge.input))
        else:  # what followed `done` follows the chain's last node
            graph.edges.append(Edge(back.source, back.output, edge.target, edge.input))
