"""An n8n workflow export as a graph: nodes, ``main`` connections, step ids, branch guards.

n8n exports ``nodes`` (each with a unique ``name``, a ``type`` such as
``n8n-nodes-base.httpRequest``, ``typeVersion`` and ``parameters``) and ``connections``
keyed by source node name: ``{"Src": {"main": [[{"node": "Dst", "type": "main",
"index": 0}], ...]}}``, one list per output of the source.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from api.services.n8n.expressions import Untranslatable

STICKY_NOTE = "n8n-nodes-base.stickyNote"
# Branching nodes: which of their outputs an edge leaves from decides whether it runs.
BRANCHING_TYPES = frozenset({"n8n-nodes-base.if", "n8n-nodes-base.switch"})


class MalformedWorkflow(ValueError):
    """The JSON is not an n8n workflow export; the message says what is wrong where."""


@dataclass(frozen=True)
class Node:
    name: str
    type: str
    version: float
    parameters: Mapping[str, Any]
    raw: Mapping[str, Any]

    @property
    def disabled(self) -> bool:
        return bool(self.raw.get("disabled"))

    @property
    def on_error(self) -> str:
        if self.raw.get("continueOnFail") is True:
            return "continueRegularOutput"
        return str(self.raw.get("onError") or "stopWorkflow")

    def param(self, name: str, default: Any = None) -> Any:
        return self.parameters.get(name, default)


@dataclass(frozen=True)
class Edge:
    source: str
    output: int
    target: str
    input: int


@dataclass
class Graph:
    """Nodes by name, edges both ways, and the step id each node becomes."""

    name: str
    nodes: dict[str, Node]
    edges: list[Edge]
    settings: Mapping[str, Any]
    step_ids: dict[str, str] = field(default_factory=dict)
    # AI sub-nodes (a chat model, tools) by the node they serve and connection kind:
    # {"AI Agent": {"ai_languageModel": ["OpenAI Chat Model"], "ai_tool": [...]}}.
    attached: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def sub_nodes(self, name: str, kind: str) -> list[Node]:
        """The sub-nodes of ``kind`` attached to node ``name``, in document order."""
        names = set(self.attached.get(name, {}).get(kind, []))
        return [node for node in self.nodes.values() if node.name in names]

    def is_sub_node(self, name: str) -> bool:
        return any(
            name in sources for kinds in self.attached.values() for sources in kinds.values()
        )

    def incoming(self, name: str) -> list[Edge]:
        return [e for e in self.edges if e.target == name]

    def outgoing(self, name: str) -> list[Edge]:
        return [e for e in self.edges if e.source == name]


def parse_workflow(raw: Any) -> Graph:
    """Read an n8n export; raise :class:`MalformedWorkflow` for anything n8n would not export.

    Raises:
        MalformedWorkflow: Missing ``nodes``, a node without a name or type, a duplicate
            name, or a connection to a node that does not exist.
        Untranslatable: Connections of a kind other than ``main``, except the AI sub-nodes
            the translator maps (:data:`AI_CONNECTIONS`).
    """
    if not isinstance(raw, Mapping):
        raise MalformedWorkflow("the workflow is not a JSON object")
    nodes_raw = raw.get("nodes")
    if not isinstance(nodes_raw, list):
        raise MalformedWorkflow("/nodes: expected a list of nodes")
    nodes: dict[str, Node] = {}
    for index, item in enumerate(nodes_raw):
        node = _parse_node(item, index)
        if node.name in nodes:
            raise MalformedWorkflow(f"/nodes/{index}/name: duplicate node name {node.name!r}")
        nodes[node.name] = node
    connections = raw.get("connections", {})
    if not isinstance(connections, Mapping):
        raise MalformedWorkflow("/connections: expected an object")
    settings = raw.get("settings") or {}
    attached: dict[str, dict[str, list[str]]] = {}
    graph = Graph(
        name=str(raw.get("name") or "n8n workflow"),
        nodes=nodes,
        edges=_parse_edges(connections, nodes, attached),
        settings=settings if isinstance(settings, Mapping) else {},
        attached=attached,
    )
    graph.step_ids = _step_ids(n for n in nodes if nodes[n].type != STICKY_NOTE)
    return graph


def _parse_node(item: Any, index: int) -> Node:
    where = f"/nodes/{index}"
    if not isinstance(item, Mapping):
        raise MalformedWorkflow(f"{where}: expected an object")
    name, node_type = item.get("name"), item.get("type")
    if not isinstance(name, str) or not name:
        raise MalformedWorkflow(f"{where}/name: a node needs a name")
    if not isinstance(node_type, str) or not node_type:
        raise MalformedWorkflow(f"{where}/type: node {name!r} has no type")
    parameters = item.get("parameters", {})
    if not isinstance(parameters, Mapping):
        raise MalformedWorkflow(f"{where}/parameters: expected an object")
    version = item.get("typeVersion", 1)
    if not isinstance(version, int | float) or isinstance(version, bool):
        raise MalformedWorkflow(f"{where}/typeVersion: expected a number")
    return Node(name, node_type, float(version), parameters, item)


# Sub-node connections the translator maps (api/services/n8n/ai.py): a chat model serving a
# chain or an agent, and an agent's tools. Memory, output parsers, retrievers... delegate.
AI_CONNECTIONS = frozenset({"ai_languageModel", "ai_tool"})


def _parse_edges(
    connections: Mapping[str, Any],
    nodes: Mapping[str, Node],
    attached: dict[str, dict[str, list[str]]],
) -> list[Edge]:
    edges: list[Edge] = []
    for source, kinds in connections.items():
        where = f"/connections/{source}"
        if source not in nodes:
            raise MalformedWorkflow(f"{where}: no node is named {source!r}")
        if not isinstance(kinds, Mapping):
            raise MalformedWorkflow(f"{where}: expected an object")
        for kind, outputs in kinds.items():
            if kind in AI_CONNECTIONS:
                for edge in _parse_outputs(source, outputs, nodes, f"{where}/{kind}"):
                    attached.setdefault(edge.target, {}).setdefault(kind, []).append(source)
                continue
            if kind != "main":
                raise Untranslatable(f"node {source!r} has {kind!r} connections (AI sub-nodes)")
            edges.extend(_parse_outputs(source, outputs, nodes, f"{where}/main"))
    return edges


def _parse_outputs(source: str, outputs: Any, nodes: Mapping[str, Node], where: str) -> list[Edge]:
    if not isinstance(outputs, list):
        raise MalformedWorkflow(f"{where}: expected a list of outputs")
    edges: list[Edge] = []
    for output, targets in enumerate(outputs):
        for position, target in enumerate(targets or []):
            at = f"{where}/{output}/{position}"
            if not isinstance(target, Mapping) or not isinstance(target.get("node"), str):
                raise MalformedWorkflow(f"{at}: expected {{node, type, index}}")
            if target["node"] not in nodes:
                raise MalformedWorkflow(f"{at}/node: no node is named {target['node']!r}")
            index = target.get("index", 0)
            if not isinstance(index, int):
                raise MalformedWorkflow(f"{at}/index: expected an integer")
            edges.append(Edge(source, output, target["node"], index))
    return edges


def _step_ids(names: Any) -> dict[str, str]:
    """A valid, unique step id per node name (``HTTP Request`` → ``HTTP_Request``)."""
    ids: dict[str, str] = {}
    taken: set[str] = set()
    for name in names:
        base = re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9_]", "_", name)).strip("_") or "node"
        if not re.match(r"[A-Za-z_]", base):
            base = "n_" + base
        candidate, suffix = base, 2
        while candidate in taken:
            candidate, suffix = f"{base}_{suffix}", suffix + 1
        taken.add(candidate)
        ids[name] = candidate
    return ids


def topological(graph: Graph, names: set[str]) -> list[str]:
    """``names`` in an order where every node follows its parents (document order first).

    Raises:
        Untranslatable: If the nodes form a loop (n8n allows loops; a DAG does not).
    """
    order: list[str] = []
    placed: set[str] = set()
    pending = [n for n in graph.nodes if n in names]
    while pending:
        ready = [
            n
            for n in pending
            if all(e.source in placed or e.source not in names for e in graph.incoming(n))
        ]
        if not ready:
            raise Untranslatable(f"nodes {', '.join(sorted(pending))} form a loop")
        for name in ready:
            order.append(name)
            placed.add(name)
        pending = [n for n in pending if n not in placed]
    return order


Guards = dict[str, int]


def edge_guards(graph: Graph, guards: Mapping[str, Guards], edge: Edge) -> Guards:
    """The branch choices that must hold for data to flow along ``edge``."""
    result = dict(guards.get(edge.source, {}))
    source = graph.nodes[edge.source]
    if source.type in BRANCHING_TYPES or source.on_error == "continueErrorOutput":
        result[edge.source] = edge.output
    return result


def exclusive(first: Guards, second: Guards) -> bool:
    """Tell whether two sets of branch choices can never hold together."""
    return any(key in second and second[key] != value for key, value in first.items())
