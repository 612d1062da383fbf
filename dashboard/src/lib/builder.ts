/**
 * Edits of a definition made by the builder. Each takes a definition and returns a new one,
 * touching only what it changes, so every other key (and its order) survives the round trip
 * through the JSON editor.
 */
import { isRecord } from "./definition";

export type Definition = Record<string, unknown> & { steps?: unknown[] };
type Step = Record<string, unknown>;

function stepsOf(definition: Definition): Step[] {
  return Array.isArray(definition.steps) ? (definition.steps as Step[]) : [];
}

function withSteps(definition: Definition, steps: Step[]): Definition {
  return { ...definition, steps };
}

/** A fresh id for a step of `type`: `type`, `type_2`, ... */
export function freshStepId(definition: Definition, type: string): string {
  const taken = new Set(stepsOf(definition).map((s) => (isRecord(s) ? s.id : undefined)));
  const base = type.replace(/[^A-Za-z0-9_-]/g, "_").replace(/^[^A-Za-z_]/, "_$&");
  if (!taken.has(base)) return base;
  let n = 2;
  while (taken.has(`${base}_${n}`)) n++;
  return `${base}_${n}`;
}

/** Add a step of `type` (after `after`, depending on it, when given). */
export function addStep(definition: Definition, type: string, after?: string): { definition: Definition; id: string } {
  const id = freshStepId(definition, type);
  const step: Step = { id, type, with: {} };
  if (after) step.depends_on = [after];
  return { definition: withSteps(definition, [...stepsOf(definition), step]), id };
}

export function updateStep(definition: Definition, id: string, change: (step: Step) => Step): Definition {
  return withSteps(
    definition,
    stepsOf(definition).map((s) => (isRecord(s) && s.id === id ? change(s) : s)),
  );
}

/** Set one key of a step's `with`; `undefined` removes it. */
export function setWith(definition: Definition, id: string, key: string, value: unknown): Definition {
  return updateStep(definition, id, (s) => {
    const current = isRecord(s.with) ? { ...s.with } : {};
    if (value === undefined) delete current[key];
    else current[key] = value;
    return { ...s, with: current };
  });
}

/** Replace a step's dependencies; an empty list drops `depends_on`. */
export function setDependsOn(definition: Definition, id: string, deps: string[]): Definition {
  return updateStep(definition, id, (s) => {
    const { depends_on: _dropped, ...rest } = s;
    return deps.length ? { ...rest, depends_on: deps } : rest;
  });
}

/** `target` depends on `source` too (an edge dragged in the graph). */
export function connect(definition: Definition, source: string, target: string): Definition {
  if (source === target) return definition;
  const step = stepsOf(definition).find((s) => isRecord(s) && s.id === target);
  const deps = step && Array.isArray(step.depends_on) ? (step.depends_on as string[]) : [];
  return deps.includes(source) ? definition : setDependsOn(definition, target, [...deps, source]);
}

/** Rename a step, and every `depends_on` naming it. */
export function renameStep(definition: Definition, from: string, to: string): Definition {
  return withSteps(
    definition,
    stepsOf(definition).map((s) => {
      if (!isRecord(s)) return s;
      const next = s.id === from ? { ...s, id: to } : s;
      return Array.isArray(next.depends_on)
        ? { ...next, depends_on: next.depends_on.map((d) => (d === from ? to : d)) }
        : next;
    }),
  );
}

/** Remove a step and every dependency on it. */
export function removeStep(definition: Definition, id: string): Definition {
  const kept = stepsOf(definition).filter((s) => !(isRecord(s) && s.id === id));
  let next = withSteps(definition, kept);
  for (const s of kept) {
    if (isRecord(s) && Array.isArray(s.depends_on) && s.depends_on.includes(id)) {
      next = setDependsOn(next, String(s.id), s.depends_on.filter((d) => d !== id) as string[]);
    }
  }
  return next;
}

/** Steps that `id` depends on, directly or not. */
export function upstreamOf(definition: Definition, id: string): string[] {
  const deps = new Map<string, string[]>();
  for (const s of stepsOf(definition)) {
    if (isRecord(s) && typeof s.id === "string") {
      deps.set(s.id, Array.isArray(s.depends_on) ? s.depends_on.filter((d): d is string => typeof d === "string") : []);
    }
  }
  const seen = new Set<string>();
  const stack = [...(deps.get(id) ?? [])];
  while (stack.length) {
    const next = stack.pop()!;
    if (seen.has(next) || next === id) continue;
    seen.add(next);
    stack.push(...(deps.get(next) ?? []));
  }
  return [...seen];
}

/** Template completions for a step: its upstream steps' outputs, input fields and variables. */
export function completionsFor(definition: Definition, id: string): string[] {
  const out: string[] = [];
  const schema = isRecord(definition.input_schema) ? definition.input_schema : null;
  const props = schema && isRecord(schema.properties) ? Object.keys(schema.properties) : [];
  out.push(...props.map((p) => `{{ input.${p} }}`));
  out.push("{{ input }}");
  const vars = isRecord(definition.variables) ? Object.keys(definition.variables) : [];
  out.push(...vars.map((v) => `{{ vars.${v} }}`));
  for (const up of upstreamOf(definition, id)) out.push(`{{ steps.${up}.output }}`);
  return out;
}

/** Problems (pointers relative to the definition) of one step, keyed by what they point at. */
export function stepProblems(
  problems: { pointer: string; detail: string }[],
  index: number,
): { field: string; detail: string }[] {
  const prefix = `/steps/${index}`;
  return problems
    .filter((p) => p.pointer === prefix || p.pointer.startsWith(`${prefix}/`))
    .map((p) => {
      const rest = p.pointer.slice(prefix.length).split("/").filter(Boolean);
      // `/steps/0/with/url` → `url`; `/steps/0/depends_on/1` → `depends_on`; `/steps/0` → ``.
      const field = rest[0] === "with" ? (rest[1] ?? "with") : (rest[0] ?? "");
      return { field, detail: p.detail };
    });
}
