import { describe, expect, it } from "vitest";
import { layoutDefinition, NODE_WIDTH } from "./graph";
import { readSteps } from "./definition";

const DEF = {
  steps: [
    { id: "fetch", type: "http", with: { url: "https://example.com" } },
    { id: "a", type: "transform", depends_on: ["fetch"] },
    { id: "b", type: "log", depends_on: ["fetch"], when: "{{ true }}" },
    { id: "join", type: "transform", depends_on: ["a", "b"] },
  ],
};

describe("layoutDefinition", () => {
  it("makes one node per step and one edge per dependency", () => {
    const g = layoutDefinition(DEF);
    expect(g.nodes.map((n) => n.id)).toEqual(["fetch", "a", "b", "join"]);
    expect(g.edges.map((e) => e.id).sort()).toEqual(["a->join", "b->join", "fetch->a", "fetch->b"]);
    expect(g.missing).toEqual([]);
  });

  it("places each step after its dependencies (left to right)", () => {
    const g = layoutDefinition(DEF, "LR");
    const x = Object.fromEntries(g.nodes.map((n) => [n.id, n.x]));
    expect(x.a).toBeGreaterThan(x.fetch!);
    expect(x.join).toBeGreaterThan(x.a!);
    expect(x.a).toBe(x.b);
  });

  it("places each step below its dependencies (top to bottom)", () => {
    const g = layoutDefinition(DEF, "TB");
    const y = Object.fromEntries(g.nodes.map((n) => [n.id, n.y]));
    expect(y.join).toBeGreaterThan(y.a!);
  });

  it("gives parallel branches distinct positions", () => {
    const g = layoutDefinition(DEF);
    const a = g.nodes.find((n) => n.id === "a")!;
    const b = g.nodes.find((n) => n.id === "b")!;
    expect(Math.abs(a.y - b.y)).toBeGreaterThan(0);
    expect(g.width).toBeGreaterThanOrEqual(3 * NODE_WIDTH);
  });

  it("marks edges into a step with a when expression as conditional", () => {
    const g = layoutDefinition(DEF);
    expect(g.edges.find((e) => e.id === "fetch->b")!.conditional).toBe(true);
    expect(g.edges.find((e) => e.id === "fetch->a")!.conditional).toBe(false);
  });

  it("reports dependencies on unknown steps instead of drawing them", () => {
    const g = layoutDefinition({ steps: [{ id: "x", type: "log", depends_on: ["ghost"] }] });
    expect(g.edges).toEqual([]);
    expect(g.missing).toEqual([{ step: "x", dependency: "ghost" }]);
  });

  it("survives half-typed definitions", () => {
    expect(layoutDefinition(null).nodes).toEqual([]);
    expect(layoutDefinition({ steps: "nope" }).nodes).toEqual([]);
    expect(layoutDefinition({ steps: [42, { type: "log" }, { id: "ok" }] }).nodes.map((n) => n.id)).toEqual(["ok"]);
  });

  it("keeps the first of duplicate ids and still lays out a cycle", () => {
    const g = layoutDefinition({
      steps: [
        { id: "a", type: "log", depends_on: ["b"] },
        { id: "b", type: "log", depends_on: ["a"] },
        { id: "a", type: "http" },
      ],
    });
    expect(g.nodes.map((n) => n.id)).toEqual(["a", "b"]);
    expect(g.edges).toHaveLength(2);
  });
});

describe("readSteps", () => {
  it("reads the flags the graph shows", () => {
    const [s] = readSteps({ steps: [{ id: "s", type: "http", foreach: "{{ input.xs }}", on_error: "park", compensate: { type: "log" } }] });
    expect(s).toMatchObject({ id: "s", foreach: true, until: false, onError: "park", compensate: true, dependsOn: [] });
  });
});
