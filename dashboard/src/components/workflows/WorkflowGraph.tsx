/**
 * The DAG of a definition drawn with React Flow, laid out by dagre. Nodes are coloured by
 * step type (left stripe) and, during a run, by step status (border and background).
 */
import {
  Background,
  Controls,
  Handle,
  MarkerType,
  Panel,
  Position,
  ReactFlow,
  type Edge,
  type Node,
  type NodeProps,
} from "@xyflow/react";
import "@xyflow/react/dist/style.css";
import { memo, useMemo, useState } from "react";
import { layoutDefinition, NODE_HEIGHT, NODE_WIDTH, type Direction } from "../../lib/graph";
import { statusStyle, stepTypeColour } from "../../lib/status";
import type { StepInfo } from "../../lib/definition";
import { cn } from "../ui/cn";

export interface StepRuntime {
  status: string;
  attempts?: number;
}

type StepNodeData = {
  step: StepInfo;
  runtime?: StepRuntime;
  selected: boolean;
  direction: Direction;
};
type StepNode = Node<StepNodeData, "step">;

const StepNodeView = memo(function StepNodeView({ data }: NodeProps<StepNode>) {
  const { step, runtime, selected, direction } = data;
  const style = runtime ? statusStyle(runtime.status) : null;
  const flags = [step.hasWhen && "when", step.foreach && "foreach", step.until && "until", step.onError && step.onError !== "fail" && `on_error: ${step.onError}`].filter(Boolean);
  return (
    <div
      data-testid={`step-node-${step.id}`}
      data-status={runtime?.status ?? ""}
      className={cn(
        "relative flex h-full w-full overflow-hidden rounded-md border-2 text-left shadow-sm transition-colors",
        style ? style.node : "border-slate-300 bg-white dark:border-slate-600 dark:bg-slate-900",
        selected && "ring-2 ring-teal-500 ring-offset-1 dark:ring-offset-slate-950",
        style?.active && "animate-[pulse_2s_ease-in-out_infinite]",
      )}
      style={{ width: NODE_WIDTH, height: NODE_HEIGHT }}
      title={step.name ?? step.id}
    >
      <Handle type="target" position={direction === "LR" ? Position.Left : Position.Top} className="!h-2 !w-2 !border-0 !bg-slate-400" />
      <div className="w-1.5 shrink-0" style={{ background: stepTypeColour(step.type) }} aria-hidden />
      <div className="min-w-0 flex-1 px-2.5 py-1.5">
        <div className="flex items-center justify-between gap-2">
          <span className="truncate font-mono text-xs font-semibold text-slate-900 dark:text-slate-100">{step.id}</span>
          {runtime && (runtime.attempts ?? 0) > 1 && (
            <span className="shrink-0 text-[10px] text-slate-500" title="attempts">
              ×{runtime.attempts}
            </span>
          )}
        </div>
        <div className="mt-0.5 flex items-center gap-1.5 text-[11px]">
          <span className="font-medium" style={{ color: stepTypeColour(step.type) }}>
            {step.type}
          </span>
          {runtime && <span className="truncate text-slate-500 dark:text-slate-400">· {style?.label}</span>}
        </div>
        {flags.length > 0 && (
          <div className="mt-0.5 truncate text-[10px] text-slate-400">{flags.join(" · ")}</div>
        )}
      </div>
      <Handle type="source" position={direction === "LR" ? Position.Right : Position.Bottom} className="!h-2 !w-2 !border-0 !bg-slate-400" />
    </div>
  );
});

const nodeTypes = { step: StepNodeView };

export interface WorkflowGraphProps {
  definition: unknown;
  runtime?: Record<string, StepRuntime>;
  selectedStep?: string | null;
  onSelectStep?: (id: string) => void;
  direction?: Direction;
  className?: string;
}

const DIRECTION_KEY = "headrace.graph.direction";

function savedDirection(): Direction {
  try {
    return localStorage.getItem(DIRECTION_KEY) === "TB" ? "TB" : "LR";
  } catch {
    return "LR";
  }
}

export function WorkflowGraph({
  definition,
  runtime,
  selectedStep,
  onSelectStep,
  direction: fixedDirection,
  className,
}: WorkflowGraphProps) {
  const [chosen, setChosen] = useState<Direction>(savedDirection);
  const direction = fixedDirection ?? chosen;
  const layout = useMemo(() => layoutDefinition(definition, direction), [definition, direction]);

  const nodes = useMemo<StepNode[]>(
    () =>
      layout.nodes.map((n) => ({
        id: n.id,
        type: "step",
        position: { x: n.x, y: n.y },
        data: { step: n.step, runtime: runtime?.[n.id], selected: selectedStep === n.id, direction },
        draggable: false,
        connectable: false,
        width: NODE_WIDTH,
        height: NODE_HEIGHT,
      })),
    [layout, runtime, selectedStep, direction],
  );

  const edges = useMemo<Edge[]>(
    () =>
      layout.edges.map((e) => {
        const target = runtime?.[e.target]?.status;
        return {
          id: e.id,
          source: e.source,
          target: e.target,
          animated: target === "running",
          markerEnd: { type: MarkerType.ArrowClosed, width: 16, height: 16 },
          style: e.conditional ? { strokeDasharray: "5 4" } : undefined,
        };
      }),
    [layout, runtime],
  );

  if (layout.nodes.length === 0) {
    return (
      <div className={cn("flex items-center justify-center text-sm text-slate-500", className)}>
        No steps to draw yet.
      </div>
    );
  }

  return (
    <div className={cn("relative", className)} data-testid="workflow-graph">
      <ReactFlow
        // Re-fit when the shape changes, not on every status update.
        key={`${layout.nodes.length}-${layout.edges.length}-${direction}`}
        nodes={nodes}
        edges={edges}
        nodeTypes={nodeTypes}
        fitView
        fitViewOptions={{ padding: 0.15, maxZoom: 1.2 }}
        minZoom={0.2}
        nodesDraggable={false}
        nodesConnectable={false}
        elementsSelectable={Boolean(onSelectStep)}
        onNodeClick={onSelectStep ? (_, node) => onSelectStep(node.id) : undefined}
      >
        <Background gap={16} size={1} />
        {!fixedDirection && (
          <Panel position="top-right">
            <button
              type="button"
              onClick={() => {
                const next = chosen === "LR" ? "TB" : "LR";
                setChosen(next);
                try {
                  localStorage.setItem(DIRECTION_KEY, next);
                } catch {
                  /* not remembered */
                }
              }}
              className="rounded-md bg-white px-2 py-1 text-xs font-medium text-slate-600 shadow-sm ring-1 ring-slate-200 hover:bg-slate-50 dark:bg-slate-800 dark:text-slate-300 dark:ring-slate-700"
              title="Switch the layout direction"
            >
              {direction === "LR" ? "Left → right" : "Top → bottom"}
            </button>
          </Panel>
        )}
        <Controls showInteractive={false} />
      </ReactFlow>
      {layout.missing.length > 0 && (
        <div className="absolute left-2 top-2 rounded bg-red-50 px-2 py-1 text-xs text-red-700 ring-1 ring-red-200 dark:bg-red-950 dark:text-red-300 dark:ring-red-900">
          Unknown dependencies: {layout.missing.map((m) => `${m.step} → ${m.dependency}`).join(", ")}
        </div>
      )}
    </div>
  );
}

export default WorkflowGraph;
