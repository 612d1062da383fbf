"""n8n workflow JSON to a Headrace definition: translated exactly, or delegated to n8n.

This module is pure: no I/O, the same input always gives the same result.

* Trigger nodes become ``triggers``; every other node reachable from a trigger becomes a
  step named after the node (``HTTP Request`` → id ``HTTP_Request``, ``name`` kept).
* A node's parents become ``depends_on``. Leaving an IF/Switch output, or an error output,
  adds a ``when`` on that branch; a node fed by branches that exclude each other (after an
  IF, or a Merge in append mode) runs when any of them ran, on that branch's item.
* n8n per-node ``retryOnFail`` / ``maxTries`` / ``waitBetweenTries`` become ``retry``
  (without ``retryOnFail`` n8n tries once, so ``max_attempts: 1``); ``onError`` becomes
  ``on_error`` (``continueErrorOutput`` routes the error output with ``when: failed``).
* The result is what n8n answers: the Respond to Webhook body, else the last node's item.

Anything without an exact equal makes the whole workflow *delegated*: one ``n8n`` step
that runs the original in n8n. :attr:`Translation.reasons` lists why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from api.services.n8n.ai import AI_HANDLERS
from api.services.n8n.expressions import (
    Item,
    ItemList,
    ItemRef,
    ItemResolver,
    Unavailable,
    Untranslatable,
    chain_items,
)
from api.services.n8n.graph import (
    STICKY_NOTE,
    Edge,
    Graph,
    Guards,
    MalformedWorkflow,
    Node,
    edge_guards,
    exclusive,
    parse_workflow,
    topological,
)
from api.services.n8n.javascript import Scripts
from api.services.n8n.loops import fold_loops
from api.services.n8n.merge import merge_step
from api.services.n8n.nodes import MERGE, NodeContext, StepSpec
from api.services.n8n.nodes_v1 import HANDLERS, gathers_items, listed_outputs, runs_per_item
from api.services.n8n.triggers import (
    WEBHOOK,
    convert_trigger,
    duration_text,
    looks_like_trigger,
    trigger_item,
)

__all__ = ["DELEGATE_STEP", "MalformedWorkflow", "Translation", "translate_workflow"]

DELEGATE_STEP = "run_in_n8n"
Mode = Literal["translated", "delegate"]


@dataclass
class Translation:
    """A Headrace workflow for one n8n workflow, and how it was made."""

    mode: Mode
    definition: dict[str, Any]
    triggers: list[dict[str, Any]]
    reasons: list[str] = field(default_factory=list)  # why it is delegated
    notes: list[str] = field(default_factory=list)  # what the user should know or do
    requirements: list[dict[str, Any]] = field(default_factory=list)  # connections needed


def translate_workflow(
    raw: Any,
    *,
    n8n_id: str,
    integration: str,
    workflow_ids: Mapping[str, str] | None = None,
) -> Translation:
    """Translate one n8n workflow export.

    Args:
        raw: The workflow JSON as n8n's API returns it.
        n8n_id: Its id in n8n (a delegated step runs it by this id).
        integration: The name of the Headrace ``n8n`` integration a delegated step uses.
        workflow_ids: n8n workflow id → Headrace workflow id, for Execute Workflow nodes.

    Raises:
        MalformedWorkflow: If ``raw`` is not an n8n workflow export.
    """
    try:
        graph = parse_workflow(raw)
    except Untranslatable as exc:
        if not isinstance(raw, Mapping) or not isinstance(raw.get("nodes"), list):
            raise MalformedWorkflow(str(exc)) from exc
        return delegate(raw, n8n_id, integration, [exc.reason])
    except MalformedWorkflow:
        raise
    except UNREADABLE as exc:
        raise MalformedWorkflow(unreadable("the export", exc)) from exc
    builder = _Builder(graph, workflow_ids or {})
    try:
        fold_loops(graph)
        translation = builder.build()
    except Untranslatable as exc:
        builder.reasons.append(exc.reason)
        translation = None
    except UNREADABLE as exc:
        builder.reasons.append(unreadable("the workflow", exc))
        translation = None
    if translation is None or builder.reasons:
        return delegate(raw, n8n_id, integration, list(dict.fromkeys(builder.reasons)))
    return translation


# What a handler raises when an export holds a value of a shape it never expected (a string
# where n8n writes an object, null where it writes a number...). The exports are n8n's, of
# every version and hand-edited: such a value delegates the workflow, naming the node.
UNREADABLE = (TypeError, ValueError, AttributeError, LookupError, ArithmeticError)


def unreadable(where: str, exc: Exception) -> str:
    """The delegation reason for a value the translator cannot read."""
    return f"{where} holds a value the translator cannot read ({type(exc).__name__}: {exc})"


def delegate(raw: Any, n8n_id: str, integration: str, reasons: list[str]) -> Translation:
    """The delegate-mode workflow: one ``n8n`` step running the original in n8n.

    The run input has the shape a translated workflow takes (see docs/integrations.md, "One
    input contract"): a workflow started by an n8n Webhook takes ``{body, query, headers}``
    and gets the Headrace webhook a translated one would; its ``body`` (or ``query`` for a
    GET or DELETE webhook) is what n8n's webhook receives.
    """
    nodes = [n for n in raw.get("nodes", []) if isinstance(n, Mapping)]
    webhooks = [n for n in nodes if n.get("type") == WEBHOOK and not n.get("disabled")]
    notes = []
    triggers: list[dict[str, Any]] = [{"type": "manual"}]
    payload = "{{ input }}"
    if not webhooks:
        notes.append(
            "n8n runs a workflow on request only through a Webhook trigger: add one in n8n"
            " (Respond: 'When Last Node Finishes') and sync again"
        )
    else:
        hook = webhooks[0]
        parameters = hook.get("parameters")
        parameters = parameters if isinstance(parameters, Mapping) else {}
        method = str(parameters.get("httpMethod") or "GET").upper()
        # The n8n step sends a GET/HEAD/DELETE payload as the query string, others as JSON.
        payload = "{{ input.query }}" if method in ("GET", "HEAD", "DELETE") else "{{ input.body }}"
        triggers, trigger_notes = _delegated_webhook(hook, parameters)
        notes.extend(trigger_notes)
        if not raw.get("active"):
            notes.append("activate the workflow in n8n: its production webhook answers only then")
    step = {
        "id": DELEGATE_STEP,
        "type": "n8n",
        "name": str(raw.get("name") or "n8n workflow"),
        "description": f"Runs n8n workflow {n8n_id} in n8n",
        "with": {"integration": integration, "workflow_id": n8n_id, "payload": payload},
    }
    definition = {"steps": [step], "output": "{{ steps." + DELEGATE_STEP + ".output }}"}
    return Translation("delegate", definition, triggers, reasons, notes)


def _delegated_webhook(
    hook: Mapping[str, Any], parameters: Mapping[str, Any]
) -> tuple[list[dict[str, Any]], list[str]]:
    """The Headrace webhook of a delegated workflow: the one a translation would register."""
    name = str(hook.get("name") or "Webhook")
    try:
        node = Node(name, WEBHOOK, 1.0, parameters, hook)
        return convert_trigger(node, {})
    except (Untranslatable, *UNREADABLE) as exc:
        reason = exc.reason if isinstance(exc, Untranslatable) else str(exc)
        return [{"type": "manual"}], [f"webhook {name!r} gets no Headrace webhook: {reason}"]


TRIGGER_GUARD = "\0trigger"
FILTER = "n8n-nodes-base.filter"


class _Builder:
    """Walks the graph once, in dependency order, building steps and items."""

    def __init__(self, graph: Graph, workflow_ids: Mapping[str, str]) -> None:
        self.graph = graph
        self.workflow_ids = workflow_ids
        self.reasons: list[str] = []
        self.notes: list[str] = []
        self.requirements: list[dict[str, Any]] = []
        self.items: dict[str, Item] = {}
        self.guards: dict[str, Guards] = {}
        self.ancestors: dict[str, set[str]] = {}
        self.specs: dict[str, StepSpec] = {}
        self.steps: list[dict[str, Any]] = []
        self.trigger_names: set[str] = set()

    def build(self) -> Translation:
        triggers = self._triggers()
        reachable = self._reachable(set(triggers))
        for name in self.graph.nodes:
            node = self.graph.nodes[name]
            if (
                name not in reachable
                and node.type != STICKY_NOTE
                and name not in triggers
                and not self.graph.is_sub_node(name)  # a chain's model, an agent's tools
            ):
                self.notes.append(f"node {name!r} is not reached from a trigger: left out")
        steps = [n for n in reachable if n not in triggers]
        if not steps:
            raise Untranslatable("no node runs after the trigger")
        for name in topological(self.graph, set(steps)):
            self._node(self.graph.nodes[name], reachable)
        definition: dict[str, Any] = {"steps": self.steps}
        output = self._output(steps)
        if output is not None:
            definition["output"] = output
        trigger_list = [t for name in triggers for t in triggers[name]]
        return Translation(
            "translated", definition, trigger_list, [], self.notes, self.requirements
        )

    # --- triggers and reach ---------------------------------------------------------------

    def _triggers(self) -> dict[str, list[dict[str, Any]]]:
        found: dict[str, list[dict[str, Any]]] = {}
        for index, node in enumerate(n for n in self.graph.nodes.values() if looks_like_trigger(n)):
            if node.disabled:
                continue
            converted, notes = convert_trigger(node, self.graph.settings)
            found[node.name] = converted
            self.notes.extend(notes)
            self.items[node.name] = trigger_item(node)
            self.guards[node.name] = {TRIGGER_GUARD: index}
            self.ancestors[node.name] = set()
            self.trigger_names.add(node.name)
        if not found:
            raise Untranslatable("no enabled trigger node starts the workflow")
        return found

    def _reachable(self, starts: set[str]) -> set[str]:
        seen, pending = set(starts), list(starts)
        while pending:
            for edge in self.graph.outgoing(pending.pop()):
                if edge.target not in seen:
                    seen.add(edge.target)
                    pending.append(edge.target)
        return seen

    # --- one node ---------------------------------------------------------------------------

    def _node(self, node: Node, reachable: set[str]) -> None:
        step_id = self.graph.step_ids[node.name]
        incoming = [e for e in self.graph.incoming(node.name) if e.source in reachable]
        incoming = [e for e in incoming if e.source in self.items]
        self.ancestors[node.name] = set().union(
            *({e.source} | self.ancestors[e.source] for e in incoming)
        )
        step: dict[str, Any] = {"id": step_id, "type": "transform", "name": node.name}
        try:
            spec, current = self._spec(node, step_id, incoming, step)
            step["type"], step["with"] = spec.type, spec.with_
            self._settings(node, spec, step)
            self.specs[node.name] = spec
            self.items[node.name] = spec.item if spec.item is not None else current
        except (Untranslatable, *UNREADABLE) as exc:
            reason = (
                exc.reason
                if isinstance(exc, Untranslatable)
                else unreadable(f"node {node.name!r} ({node.type})", exc)
            )
            self.reasons.append(reason)
            self.items[node.name] = Unavailable(f"node {node.name!r} is not translated")
            self.specs[node.name] = StepSpec("transform", {})
        self.steps.append(step)

    def _spec(
        self, node: Node, step_id: str, incoming: list[Edge], step: dict[str, Any]
    ) -> tuple[StepSpec, Item]:
        if node.type == MERGE and not node.disabled:
            joined = merge_step(
                node,
                step_id,
                incoming,
                self._edge_item,
                self._edge_fields,
                self._ran,
                self._edge_guards,
            )
            self._link(step, incoming, joined.when)
            self.guards[node.name] = joined.guards
            return joined.spec, joined.spec.item or Unavailable("")
        current = self._current(node, incoming, step)
        if node.disabled:
            self.notes.append(f"node {node.name!r} is disabled: it passes its item on")
            return StepSpec("transform", {}), current
        handler = HANDLERS.get(node.type) or AI_HANDLERS.get(node.type)
        if handler is None:
            raise Untranslatable(f"node {node.name!r} ({node.type}) has no Headrace equal")
        scripts = Scripts(self._script_id(step_id), node.name)
        listed = current if isinstance(current, ItemList) else None
        if listed is not None:
            if runs_per_item(node):
                # n8n runs the node once per item, one after the other: a foreach step
                current = ItemRef("item", what=f"each of {listed.reason}")
                step["foreach"] = "{{ " + listed.base + " }}"
                step["concurrency"] = 1
                scripts.per_item = True
            elif not gathers_items(node):
                raise Untranslatable(f"node {node.name!r} gets several items ({listed.reason})")
        items = ItemResolver(
            current=current, named=lambda name: self._named(node.name, name), scripts=scripts
        )
        ctx = NodeContext(node, step_id, items, self.workflow_ids)
        ctx.attached = {
            kind: self.graph.sub_nodes(node.name, kind)
            for kind in self.graph.attached.get(node.name, {})
        }
        ctx.items_list = None if scripts.per_item else listed
        spec = handler(ctx)
        if scripts.sources:
            self._script_step(step, scripts.step(items))
        if scripts.per_item and listed is not None:
            if spec.item is None:
                return spec, listed
            spec.item = listed_outputs(spec.item, step_id, listed)
        self.notes.extend(ctx.notes)
        self.requirements.extend(ctx.requirements)
        return spec, current

    def _current(self, node: Node, incoming: list[Edge], step: dict[str, Any]) -> Item:
        """Link the step to its parents and return the item it receives."""
        if not incoming:
            raise Untranslatable(f"node {node.name!r} has no input")
        if any(e.input != 0 for e in incoming):
            raise Untranslatable(f"node {node.name!r} has several inputs")
        guards = [self._edge_guards(e) for e in incoming]
        for i, first in enumerate(guards):
            for second in guards[i + 1 :]:
                if not exclusive(first, second):
                    raise Untranslatable(f"node {node.name!r} gets items from parallel branches")
        self.guards[node.name] = _common(guards)
        if len(incoming) == 1:
            edge = incoming[0]
            when = self._ran(edge) if self._branches(edge.source) else None
            self._link(step, incoming, when)
            return self._edge_item(edge)
        if all(self._is_trigger(e.source) for e in incoming):
            # Compared, not hashed: a webhook's item holds a mapping of its fields.
            item, *others = [self._edge_item(e) for e in incoming]
            if all(other == item for other in others):
                return item
            return Unavailable("the item differs by trigger")
        if any(self._is_trigger(e.source) for e in incoming):
            raise Untranslatable(f"node {node.name!r} follows both a trigger and other nodes")
        self._link(step, incoming, " or ".join(f"({self._ran(e)})" for e in incoming))
        return chain_items(
            [(self._ran(e), self._edge_item(e)) for e in incoming], "the joined item"
        )

    def _script_id(self, step_id: str) -> str:
        taken = set(self.graph.step_ids.values())
        candidate, number = f"{step_id}__js", 1
        while candidate in taken:
            number += 1
            candidate = f"{step_id}__js{number}"
        return candidate

    def _script_step(self, step: dict[str, Any], script: dict[str, Any]) -> None:
        """Evaluate a node's JavaScript expressions in a ``code`` step that runs just before it.

        The script step takes the node's place in the graph (its parents, its ``when``); the
        node's step then depends on it.
        """
        for key in ("depends_on", "when", "foreach", "concurrency"):
            if key in step:
                script[key] = step[key]
        step["depends_on"] = [*step.get("depends_on", []), script["id"]]
        self.steps.append(script)

    def _link(self, step: dict[str, Any], incoming: list[Edge], when: str | None) -> None:
        parents = [e.source for e in incoming if not self._is_trigger(e.source)]
        if parents:
            step["depends_on"] = [self.graph.step_ids[p] for p in dict.fromkeys(parents)]
        if when:
            step["when"] = "{{ " + when + " }}"

    def _settings(self, node: Node, spec: StepSpec, step: dict[str, Any]) -> None:
        """n8n's per-node retry and error settings."""
        if node.raw.get("alwaysOutputData"):
            raise Untranslatable(f"node {node.name!r} outputs an empty item when it has none")
        if spec.type == "http":
            step["retry"] = _retry(node)
        if node.on_error == "continueErrorOutput":
            step["on_error"] = "continue"
        elif node.on_error == "continueRegularOutput":
            if self.graph.outgoing(node.name):
                raise Untranslatable(
                    f"node {node.name!r} passes its error on as an item (continue on fail)"
                )
            step["on_error"] = "continue"
        elif node.on_error != "stopWorkflow":
            raise Untranslatable(f"node {node.name!r}: onError {node.on_error!r} is unknown")

    # --- items, branches ---------------------------------------------------------------------

    def _is_trigger(self, name: str) -> bool:
        return name in self.trigger_names

    def _branches(self, name: str) -> bool:
        spec = self.specs.get(name)
        node = self.graph.nodes[name]
        return bool(spec and spec.branch) or node.on_error == "continueErrorOutput"

    def _edge_guards(self, edge: Edge) -> Guards:
        return edge_guards(self.graph, self.guards, edge)

    def _edge_item(self, edge: Edge) -> Item:
        if self.graph.nodes[edge.source].on_error == "continueErrorOutput" and edge.output == 1:
            return Unavailable(f"the error item of {edge.source!r} has another shape")
        return self.items[edge.source]

    def _edge_fields(self, edge: Edge) -> Mapping[str, Any] | None:
        """The fields of the item along ``edge`` when the translation knows them all."""
        spec = self.specs.get(edge.source)
        if spec is None or spec.type != "transform" or spec.branch or spec.response:
            return None
        if isinstance(self._edge_item(edge), Unavailable):
            return None
        own = f"steps.{self.graph.step_ids[edge.source]}.output"
        if not isinstance(spec.item, ItemRef) or spec.item.heads or spec.item.base != own:
            return None  # the node passes another item on (NoOp, a disabled node…)
        return spec.with_

    def _ran(self, edge: Edge) -> str:
        """A Jinja condition: data flowed along ``edge`` in this run."""
        if self._is_trigger(edge.source):
            raise Untranslatable(f"a join right after trigger {edge.source!r}")
        ref = f"steps.{self.graph.step_ids[edge.source]}"
        node, spec = self.graph.nodes[edge.source], self.specs[edge.source]
        done = f"{ref}.status == 'completed'"
        if spec.branch == "if":
            return f"{done} and {'' if edge.output == 0 else 'not '}{ref}.output.result"
        if spec.branch == "switch":
            return f"{done} and {ref}.output.output == {edge.output}"
        if node.on_error == "continueErrorOutput" and edge.output == 1:
            return f"{ref}.status == 'failed'"
        return done

    def _named(self, current: str, name: str) -> Item:
        if name not in self.graph.nodes:
            return Unavailable(f"no node is named {name!r}")
        if name not in self.ancestors.get(current, set()) or name not in self.items:
            return Unavailable(f"{current!r} reads node {name!r}, which does not run before it")
        return self.items[name]

    # --- the result ---------------------------------------------------------------------------

    def _output(self, steps: list[str]) -> Any:
        responders = [n for n in steps if self.specs[n].response]
        if responders:
            options: list[tuple[str, Item]] = [
                (self._done(n), ItemRef(f"steps.{self.graph.step_ids[n]}.output.response"))
                for n in responders
            ]
        else:
            sinks = [n for n in steps if not self.graph.outgoing(n)]
            for name in sinks:
                if self.graph.nodes[name].type == FILTER:
                    # n8n answers with no item when the filter drops it; the step completes
                    raise Untranslatable(f"Filter {name!r} ends the workflow")
            guards = [self.guards.get(n, {}) for n in sinks]
            if any(not exclusive(a, b) for i, a in enumerate(guards) for b in guards[i + 1 :]):
                self.notes.append(
                    "several nodes end the workflow: the result is every step's output"
                )
                return None
            options = [(self._done(n), _first(self.items[n])) for n in sinks]
        item = chain_items(options, "the result")
        if not isinstance(item, ItemRef) or item.heads is not None:
            self.notes.append(
                "the last node's item has no Headrace equal: the result is every step's output"
            )
            return None
        return "{{ " + item.path([]) + " }}"

    def _done(self, name: str) -> str:
        return f"steps.{self.graph.step_ids[name]}.status == 'completed'"


def _first(item: Item) -> Item:
    """What n8n's webhook answers for the last node: its first item."""
    if isinstance(item, ItemList):
        return ItemRef(f"({item.base})[0]", what=f"the first of {item.reason}")
    return item


def _common(guards: list[Guards]) -> Guards:
    first, *rest = guards
    return {k: v for k, v in first.items() if all(g.get(k) == v for g in rest)}


def _retry(node: Node) -> dict[str, Any]:
    if not node.raw.get("retryOnFail"):
        return {"max_attempts": 1}
    tries = node.raw.get("maxTries", 3)
    wait_ms = node.raw.get("waitBetweenTries", 1000)
    if not isinstance(tries, int) or not isinstance(wait_ms, int | float):
        raise Untranslatable(f"node {node.name!r} has malformed retry settings")
    return {
        "max_attempts": max(tries, 1),
        "initial_interval": duration_text(max(wait_ms, 1) / 1000, "seconds", node.name),
        "backoff_coefficient": 1,
    }
