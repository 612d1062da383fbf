/** A workflow definition as a laid-out graph: one node per step, edges from `depends_on`. */
import dagre from "@dagrejs/dagre";
import { readSteps, type StepInfo } from "./definition";

export const NODE_WIDTH = 180;
export const NODE_HEIGHT = 60;

export interface LayoutNode {
  id: string;
  x: number;
  y: number;
  step: StepInfo;
}

export interface LayoutEdge {
  id: string;
  source: string;
  target: string;
  /** True when the target runs on a `when` expression rather than plain success (drawn dashed). */
  conditional: boolean;
}

export interface GraphLayout {
  nodes: LayoutNode[];
  edges: LayoutEdge[];
  /** Dependencies naming steps that are not in the definition. */
  missing: { step: string; dependency: string }[];
  width: number;
  height: number;
}

export type Direction = "LR" | "TB";

/** Lay out the definition's DAG with dagre (top-left positions, as React Flow expects). */
export function layoutDefinition(definition: unknown, direction: Direction = "LR"): GraphLayout {
  const steps = readSteps(definition);
  const seen = new Set<string>();
  const unique = steps.filter((s) => (seen.has(s.id) ? false : (seen.add(s.id), true)));
  const ids = new Set(unique.map((s) => s.id));

  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: direction, nodesep: 28, ranksep: 52, marginx: 16, marginy: 16 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const s of unique) g.setNode(s.id, { width: NODE_WIDTH, height: NODE_HEIGHT });

  const edges: LayoutEdge[] = [];
  const missing: GraphLayout["missing"] = [];
  for (const s of unique) {
    for (const dep of new Set(s.dependsOn)) {
      if (!ids.has(dep)) {
        missing.push({ step: s.id, dependency: dep });
        continue;
      }
      g.setEdge(dep, s.id);
      edges.push({ id: `${dep}->${s.id}`, source: dep, target: s.id, conditional: s.hasWhen });
    }
  }
  dagre.layout(g);

  const nodes = unique.map((step) => {
    const n = g.node(step.id) as { x: number; y: number } | undefined;
    return {
      id: step.id,
      x: (n?.x ?? 0) - NODE_WIDTH / 2,
      y: (n?.y ?? 0) - NODE_HEIGHT / 2,
      step,
    };
  });
  const graph = g.graph() as { width?: number; height?: number };
  return { nodes, edges, missing, width: graph.width ?? 0, height: graph.height ?? 0 };
}
