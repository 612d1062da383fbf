import { describe, expect, it } from "vitest";
import {
  addStep,
  completionsFor,
  connect,
  removeStep,
  renameStep,
  setDependsOn,
  setWith,
  stepProblems,
  upstreamOf,
  type Definition,
} from "./builder";

const BASE: Definition = {
  input_schema: { type: "object", properties: { name: { type: "string" } } },
  variables: { region: "eu" },
  steps: [{ id: "fetch", type: "http", with: { url: "https://example.com" }, retry: { max_attempts: 5 } }],
  output: { n: "{{ steps.fetch.output.status }}" },
};

/** What the JSON tab does with the builder's edits: text in, text out. */
const roundTrip = (d: Definition): Definition => JSON.parse(JSON.stringify(d, null, 2)) as Definition;

describe("JSON ⇄ builder round trip", () => {
  it("builds http → transform → log with only builder edits, keeping every other key", () => {
    let d = roundTrip(BASE);
    const t = addStep(d, "transform", "fetch");
    d = setWith(roundTrip(t.definition), t.id, "count", "{{ steps.fetch.output.body | length }}");
    const l = addStep(roundTrip(d), "log");
    d = connect(l.definition, t.id, l.id);
    d = setWith(d, l.id, "message", "{{ steps.transform.output.count }}");
    expect(roundTrip(d)).toEqual({
      ...BASE,
      steps: [
        BASE.steps![0],
        { id: "transform", type: "transform", with: { count: "{{ steps.fetch.output.body | length }}" }, depends_on: ["fetch"] },
        { id: "log", type: "log", with: { message: "{{ steps.transform.output.count }}" }, depends_on: ["transform"] },
      ],
    });
  });

  it("leaves keys the builder has no form for untouched (retry, output, input_schema)", () => {
    const d = setWith(BASE, "fetch", "method", "POST");
    expect(d.steps![0]).toEqual({ id: "fetch", type: "http", with: { url: "https://example.com", method: "POST" }, retry: { max_attempts: 5 } });
    expect(d.output).toBe(BASE.output);
    expect(BASE.steps![0]).not.toHaveProperty("with.method"); // edits are copies
  });

  it("gives new steps fresh ids and removes a with key set to nothing", () => {
    const one = addStep(BASE, "http");
    expect(one.id).toBe("http");
    expect(addStep(one.definition, "http").id).toBe("http_2");
    expect(setWith(BASE, "fetch", "url", undefined).steps![0]).toMatchObject({ with: {} });
  });

  it("connects once, drops an empty depends_on, renames and removes with their edges", () => {
    let d = addStep(BASE, "log").definition;
    d = connect(connect(d, "fetch", "log"), "fetch", "log");
    expect(d.steps![1]).toMatchObject({ depends_on: ["fetch"] });
    expect(connect(d, "log", "log")).toBe(d);
    expect(setDependsOn(d, "log", []).steps![1]).not.toHaveProperty("depends_on");
    const renamed = renameStep(d, "fetch", "get");
    expect(renamed.steps!.map((s) => (s as { id: string }).id)).toEqual(["get", "log"]);
    expect(renamed.steps![1]).toMatchObject({ depends_on: ["get"] });
    expect(removeStep(d, "fetch").steps).toEqual([{ id: "log", type: "log", with: {} }]);
  });
});

describe("template completion", () => {
  it("offers input fields, variables and the outputs of upstream steps only", () => {
    let d = addStep(BASE, "transform", "fetch").definition;
    d = addStep(d, "log", "transform").definition;
    d = addStep(d, "fail").definition;
    expect(upstreamOf(d, "log").sort()).toEqual(["fetch", "transform"]);
    expect(completionsFor(d, "log")).toEqual([
      "{{ input.name }}",
      "{{ input }}",
      "{{ vars.region }}",
      "{{ steps.transform.output }}",
      "{{ steps.fetch.output }}",
    ]);
    expect(completionsFor(d, "fail")).not.toContain("{{ steps.fetch.output }}");
  });
});

describe("stepProblems", () => {
  it("maps the API's pointers to the field of the step they point at", () => {
    const problems = [
      { pointer: "/steps/1/with/message", detail: "Field required" },
      { pointer: "/steps/1/depends_on/0", detail: "unknown step" },
      { pointer: "/steps/10/id", detail: "not this one" },
      { pointer: "/output", detail: "not a step" },
    ];
    expect(stepProblems(problems, 1)).toEqual([
      { field: "message", detail: "Field required" },
      { field: "depends_on", detail: "unknown step" },
    ]);
  });
});
