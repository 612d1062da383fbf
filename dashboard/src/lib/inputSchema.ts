/**
 * A form from a definition's `input_schema`: simple properties (string, number, integer,
 * boolean, enum) get their own field; anything else is edited as JSON.
 */
import { isRecord } from "./definition";

export type FieldKind = "string" | "number" | "integer" | "boolean" | "enum" | "json";

export interface FormField {
  name: string;
  kind: FieldKind;
  required: boolean;
  title: string;
  description?: string;
  options?: (string | number)[];
  default?: unknown;
}

export interface InputForm {
  /** False when the schema cannot be shown as fields: the whole input is one JSON text. */
  simple: boolean;
  fields: FormField[];
}

function kindOf(prop: Record<string, unknown>): FieldKind {
  if (Array.isArray(prop.enum) && prop.enum.every((v) => typeof v === "string" || typeof v === "number")) {
    return "enum";
  }
  let type = prop.type;
  // ["string", "null"] is a nullable string: still a simple field.
  if (Array.isArray(type)) {
    const nonNull = type.filter((t) => t !== "null");
    type = nonNull.length === 1 ? nonNull[0] : undefined;
  }
  if (type === "string" || type === "number" || type === "integer" || type === "boolean") return type;
  return "json";
}

export function formFromSchema(schema: Record<string, unknown> | null): InputForm {
  if (!schema) return { simple: false, fields: [] };
  const type = schema.type;
  if (type !== undefined && type !== "object") return { simple: false, fields: [] };
  const props = isRecord(schema.properties) ? schema.properties : {};
  const required = new Set(
    Array.isArray(schema.required) ? schema.required.filter((r): r is string => typeof r === "string") : [],
  );
  const fields: FormField[] = [];
  for (const [name, raw] of Object.entries(props)) {
    const prop = isRecord(raw) ? raw : {};
    const kind = kindOf(prop);
    fields.push({
      name,
      kind,
      required: required.has(name),
      title: typeof prop.title === "string" ? prop.title : name,
      description: typeof prop.description === "string" ? prop.description : undefined,
      options: kind === "enum" ? (prop.enum as (string | number)[]) : undefined,
      default: prop.default,
    });
  }
  // Required names without a property description are still asked for (as JSON).
  for (const name of required) {
    if (!(name in props)) fields.push({ name, kind: "json", required: true, title: name });
  }
  return { simple: true, fields };
}

/** The initial text of each field. */
export function initialValues(form: InputForm): Record<string, string> {
  const values: Record<string, string> = {};
  for (const f of form.fields) {
    if (f.default === undefined) values[f.name] = f.kind === "boolean" ? "false" : "";
    else if (f.kind === "json") values[f.name] = JSON.stringify(f.default, null, 2);
    else values[f.name] = String(f.default);
  }
  return values;
}

export type BuildResult =
  | { ok: true; value: Record<string, unknown> }
  | { ok: false; errors: Record<string, string> };

/**
 * The `input_data` object from the field texts. Empty optional fields are left out; the API
 * checks the schema again (its 422 pointers under `/input_data/<name>` map back to fields).
 */
export function buildInput(form: InputForm, values: Record<string, string>): BuildResult {
  const out: Record<string, unknown> = {};
  const errors: Record<string, string> = {};
  for (const f of form.fields) {
    const text = values[f.name] ?? "";
    if (f.kind === "boolean") {
      out[f.name] = text === "true";
      continue;
    }
    if (text.trim() === "") {
      if (f.required) errors[f.name] = "Required";
      continue;
    }
    switch (f.kind) {
      case "string":
        out[f.name] = text;
        break;
      case "number":
      case "integer": {
        const n = Number(text);
        if (!Number.isFinite(n)) errors[f.name] = "Not a number";
        else if (f.kind === "integer" && !Number.isInteger(n)) errors[f.name] = "Must be a whole number";
        else out[f.name] = n;
        break;
      }
      case "enum": {
        const option = f.options?.find((o) => String(o) === text);
        if (option === undefined) errors[f.name] = "Pick one of the options";
        else out[f.name] = option;
        break;
      }
      case "json":
        try {
          out[f.name] = JSON.parse(text) as unknown;
        } catch {
          errors[f.name] = "Not valid JSON";
        }
        break;
    }
  }
  return Object.keys(errors).length ? { ok: false, errors } : { ok: true, value: out };
}
