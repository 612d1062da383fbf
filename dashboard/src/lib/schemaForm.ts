/**
 * Form fields from a JSON Schema (a step type's `with`, served by
 * GET /workflows/definition-schema), so a new step type gets a form without new UI code.
 *
 * A small generator rather than a form library: the `with` schemas are flat objects whose
 * values are strings, enums, numbers, booleans, free objects or lists (pydantic's
 * `anyOf [T, null]` for optional ones), and every string may be a template, which schema form
 * libraries would reject for typed fields. Anything else is edited as JSON.
 */

export type FieldKind = "text" | "code" | "enum" | "number" | "boolean" | "map" | "json";

/** `contentMediaType` values edited as source code, and the language each is highlighted as. */
const CODE_MEDIA_TYPES: Record<string, string> = {
  "text/javascript": "javascript",
  "application/javascript": "javascript",
};

export interface FieldSpec {
  name: string;
  kind: FieldKind;
  required: boolean;
  options: string[];
  /** For `code` fields: the language to highlight (from the schema's `contentMediaType`). */
  language?: string;
  description?: string;
  defaultValue?: unknown;
}

type Schema = Record<string, unknown>;

function isSchema(v: unknown): v is Schema {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The member of `anyOf [X, {type: null}]` that is not null; the schema itself otherwise. */
function nonNull(schema: Schema): Schema {
  const anyOf = schema.anyOf;
  if (Array.isArray(anyOf)) {
    const rest = anyOf.filter((s) => isSchema(s) && s.type !== "null") as Schema[];
    if (rest.length === 1) return { ...schema, ...rest[0], anyOf: undefined };
  }
  return schema;
}

export function fieldKind(raw: Schema): { kind: FieldKind; options: string[] } {
  const schema = nonNull(raw);
  if (Array.isArray(schema.enum)) return { kind: "enum", options: schema.enum.map(String) };
  switch (schema.type) {
    case "string":
      // A script (the code step's `code`): edited in a code editor, not a one-line field.
      if (typeof schema.contentMediaType === "string" && schema.contentMediaType in CODE_MEDIA_TYPES) {
        return { kind: "code", options: [] };
      }
      return { kind: "text", options: [] };
    case "integer":
    case "number":
      return { kind: "number", options: [] };
    case "boolean":
      return { kind: "boolean", options: [] };
    case "object":
      return { kind: schema.properties ? "json" : "map", options: [] };
    case undefined:
      // No type at all (pydantic's `Any`): a template or text, like log's `message`.
      return { kind: schema.$ref || schema.anyOf ? "json" : "text", options: [] };
    default:
      return { kind: "json", options: [] };
  }
}

/** One field per property of an object schema, in the schema's order. */
export function fieldsOf(schema: unknown): FieldSpec[] {
  if (!isSchema(schema)) return [];
  const properties = isSchema(schema.properties) ? schema.properties : {};
  const required = new Set(Array.isArray(schema.required) ? schema.required.map(String) : []);
  return Object.entries(properties).map(([name, prop]) => {
    const p = isSchema(prop) ? prop : {};
    const { kind, options } = fieldKind(p);
    const media = nonNull(p).contentMediaType;
    return {
      name,
      kind,
      options,
      ...(kind === "code" && typeof media === "string" ? { language: CODE_MEDIA_TYPES[media] } : {}),
      required: required.has(name),
      description: typeof p.description === "string" ? p.description : undefined,
      defaultValue: p.default ?? undefined,
    };
  });
}

/** A free-form `with` (transform): edited as a map of named values. */
export function isFreeForm(schema: unknown): boolean {
  return isSchema(schema) && !isSchema(schema.properties) && schema.additionalProperties !== false;
}

/** The step types of a definition schema (`x-step-with`), in the server's order. */
export function stepTypesOf(definitionSchema: unknown): { type: string; pure: boolean; testable: boolean; with: unknown }[] {
  if (!isSchema(definitionSchema) || !isSchema(definitionSchema["x-step-with"])) return [];
  return Object.entries(definitionSchema["x-step-with"]).map(([type, spec]) => ({
    type,
    pure: isSchema(spec) && spec.pure === true,
    testable: isSchema(spec) && spec.testable === true,
    with: isSchema(spec) ? spec.with : {},
  }));
}

/** A field's text as typed, read back into the value stored in the definition. */
export function parseFieldValue(kind: FieldKind, text: string): unknown {
  if (text === "") return undefined;
  if (kind === "number") return /^-?\d+(\.\d+)?$/.test(text.trim()) ? Number(text) : text;
  if (kind === "json") {
    try {
      return JSON.parse(text);
    } catch {
      return text; // a template, or JSON still being typed
    }
  }
  return text;
}

/** The value stored in the definition, as the field's text. */
export function formatFieldValue(kind: FieldKind, value: unknown): string {
  if (value === undefined || value === null) return "";
  if (kind === "json" && typeof value !== "string") return JSON.stringify(value);
  return typeof value === "string" ? value : JSON.stringify(value);
}
