/**
 * A tolerant reading of a workflow definition (§3 of the contract): the editor shows a graph
 * even while the document is half-typed, so nothing here throws on unexpected shapes.
 */

export interface StepInfo {
  id: string;
  type: string;
  name?: string;
  dependsOn: string[];
  hasWhen: boolean;
  foreach: boolean;
  until: boolean;
  onError?: string;
  compensate: boolean;
  /** Index in `steps`, for JSON pointers (`/steps/<index>`). */
  index: number;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The steps of a definition, skipping entries that are not objects with a string id. */
export function readSteps(definition: unknown): StepInfo[] {
  if (!isRecord(definition) || !Array.isArray(definition.steps)) return [];
  const steps: StepInfo[] = [];
  definition.steps.forEach((raw, index) => {
    if (!isRecord(raw) || typeof raw.id !== "string" || raw.id === "") return;
    const deps = Array.isArray(raw.depends_on)
      ? raw.depends_on.filter((d): d is string => typeof d === "string")
      : typeof raw.depends_on === "string"
        ? [raw.depends_on]
        : [];
    steps.push({
      id: raw.id,
      type: typeof raw.type === "string" ? raw.type : "?",
      name: typeof raw.name === "string" ? raw.name : undefined,
      dependsOn: deps,
      hasWhen: raw.when !== undefined,
      foreach: raw.foreach !== undefined,
      until: raw.until !== undefined,
      onError: typeof raw.on_error === "string" ? raw.on_error : undefined,
      compensate: raw.compensate !== undefined,
      index,
    });
  });
  return steps;
}

/** The definition's `input_schema`, if it is an object. */
export function readInputSchema(definition: unknown): Record<string, unknown> | null {
  if (!isRecord(definition)) return null;
  const schema = definition.input_schema;
  return isRecord(schema) ? schema : null;
}

export { isRecord };
