/**
 * The builder's graph: the same React Flow + dagre layout as the read-only graph, but nodes
 * connect (dragging from a node's right handle to another node sets `depends_on`), carry a
 * "+" handle that adds a step after them, and show how many problems the API found.
 */
import { Background, Controls, Handle, MarkerType, Position, ReactFlow, type Connection, type Edge, type Node, type NodeProps } from "@xyflow/react";
import "@xyflow/react/dist/style.css";
import { memo, useMemo } from "react";
import { layoutDefinition, NODE_HEIGHT, NODE_WIDTH } from "../../lib/graph";
import { stepTypeColour } from "../../lib/status";
import type { StepInfo } from "../../lib/definition";
import { cn } from "../ui/cn";

type BuilderNodeData = { step: StepInfo; selected: boolean; problems: number; onAdd: (after: string) => void };
type BuilderNode = Node<BuilderNodeData, "builderStep">;

const BuilderNodeView = memo(function BuilderNodeView({ data }: NodeProps<BuilderNode>) {
  const { step, selected, problems, onAdd } = data;
  return (
    <div
      data-testid={`builder-node-${step.id}`}
      data-problems={problems}
      className={cn(
        "relative flex h-full w-full rounded-md border-2 bg-white text-left shadow-sm dark:bg-slate-900",
        problems > 0 ? "border-red-500" : "border-slate-300 dark:border-slate-600",
        selected && "ring-2 ring-teal-500 ring-offset-1 dark:ring-offset-slate-950",
      )}
      style={{ width: NODE_WIDTH, height: NODE_HEIGHT }}
    >
      <Handle type="target" position={Position.Left} className="!h-3 !w-3 !bg-slate-400" data-testid={`in-${step.id}`} />
      <div className="w-1.5 shrink-0 rounded-l" style={{ background: stepTypeColour(step.type) }} aria-hidden />
      <div className="min-w-0 flex-1 px-2.5 py-1.5">
        <div className="truncate font-mono text-xs font-semibold text-slate-900 dark:text-slate-100">{step.id}</div>
        <div className="text-[11px] font-medium" style={{ color: stepTypeColour(step.type) }}>
          {step.type}
        </div>
        {problems > 0 && (
          <div className="text-[10px] font-semibold text-red-600 dark:text-red-400" data-testid={`node-problems-${step.id}`}>
            {problems} problem{problems === 1 ? "" : "s"}
          </div>
        )}
      </div>
      <Handle type="source" position={Position.Right} className="!h-3 !w-3 !bg-teal-600" data-testid={`out-${step.id}`} />
      <button
        type="button"
        className="nodrag absolute -right-3 -top-3 flex h-6 w-6 items-center justify-center rounded-full bg-teal-600 text-sm font-bold text-white shadow hover:bg-teal-700"
        aria-label={`Add a step after ${step.id}`}
        onClick={(e) => {
          e.stopPropagation();
          onAdd(step.id);
        }}
      >
        +
      </button>
    </div>
  );
});

const nodeTypes = { builderStep: BuilderNodeView };

export default function BuilderGraph({
  definition,
  selected,
  problemCounts,
  onSelect,
  onConnect,
  onAddAfter,
  layoutKey,
}: {
  definition: unknown;
  selected: string | null;
  problemCounts: Record<string, number>;
  onSelect: (id: string) => void;
  onConnect: (source: string, target: string) => void;
  onAddAfter: (after: string) => void;
  layoutKey: number;
}) {
  const layout = useMemo(() => layoutDefinition(definition, "LR"), [definition]);
  const nodes = useMemo<BuilderNode[]>(
    () =>
      layout.nodes.map((n) => ({
        id: n.id,
        type: "builderStep",
        position: { x: n.x, y: n.y },
        data: { step: n.step, selected: selected === n.id, problems: problemCounts[n.id] ?? 0, onAdd: onAddAfter },
        draggable: false,
        width: NODE_WIDTH,
        height: NODE_HEIGHT,
      })),
    [layout, selected, problemCounts, onAddAfter],
  );
  const edges = useMemo<Edge[]>(
    () =>
      layout.edges.map((e) => ({
        id: e.id,
        source: e.source,
        target: e.target,
        markerEnd: { type: MarkerType.ArrowClosed, width: 16, height: 16 },
        style: e.conditional ? { strokeDasharray: "5 4" } : undefined,
      })),
    [layout],
  );
  if (layout.nodes.length === 0) {
    return <div className="flex h-full items-center justify-center text-sm text-slate-500">No steps yet: use “Add step”.</div>;
  }
  return (
    <div className="h-full" data-testid="builder-graph">
      <ReactFlow
        // Auto-layout: dagre places every node; re-fit when the shape changes or on demand.
        key={`${layout.nodes.length}-${layout.edges.length}-${layoutKey}`}
        nodes={nodes}
        edges={edges}
        nodeTypes={nodeTypes}
        fitView
        fitViewOptions={{ padding: 0.2, maxZoom: 1.1 }}
        minZoom={0.2}
        nodesDraggable={false}
        nodesConnectable
        onConnect={(c: Connection) => c.source && c.target && onConnect(c.source, c.target)}
        onNodeClick={(_, node) => onSelect(node.id)}
      >
        <Background gap={16} size={1} />
        <Controls showInteractive={false} />
      </ReactFlow>
    </div>
  );
}
