import { describe, expect, it } from "vitest";
import { buildInput, formFromSchema, initialValues } from "./inputSchema";

const SCHEMA = {
  type: "object",
  required: ["user_id", "count"],
  properties: {
    user_id: { type: "string", description: "Who" },
    count: { type: "integer", default: 3 },
    ratio: { type: "number" },
    dry_run: { type: "boolean" },
    tier: { enum: ["free", "pro"] },
    tags: { type: "array", items: { type: "string" } },
    note: { type: ["string", "null"] },
  },
};

describe("formFromSchema", () => {
  it("makes one field per property with its kind", () => {
    const form = formFromSchema(SCHEMA);
    expect(form.simple).toBe(true);
    expect(Object.fromEntries(form.fields.map((f) => [f.name, f.kind]))).toEqual({
      user_id: "string",
      count: "integer",
      ratio: "number",
      dry_run: "boolean",
      tier: "enum",
      tags: "json",
      note: "string",
    });
    expect(form.fields.find((f) => f.name === "user_id")!.required).toBe(true);
  });

  it("asks for required names that have no property", () => {
    const form = formFromSchema({ type: "object", required: ["x"] });
    expect(form.fields).toEqual([{ name: "x", kind: "json", required: true, title: "x" }]);
  });

  it("falls back to JSON for a schema that is not an object", () => {
    expect(formFromSchema({ type: "array" }).simple).toBe(false);
    expect(formFromSchema(null).simple).toBe(false);
  });
});

describe("buildInput", () => {
  const form = formFromSchema(SCHEMA);

  it("converts texts to typed values and leaves out empty optional fields", () => {
    const values = { ...initialValues(form), user_id: "u1", ratio: "0.5", dry_run: "true", tier: "pro", tags: '["a"]' };
    expect(buildInput(form, values)).toEqual({
      ok: true,
      value: { user_id: "u1", count: 3, ratio: 0.5, dry_run: true, tier: "pro", tags: ["a"] },
    });
  });

  it("uses defaults as initial values", () => {
    expect(initialValues(form).count).toBe("3");
    expect(initialValues(form).dry_run).toBe("false");
  });

  it("reports each bad field", () => {
    const r = buildInput(form, { user_id: "", count: "2.5", ratio: "x", tags: "[", tier: "gold" });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.errors).toEqual({
        user_id: "Required",
        count: "Must be a whole number",
        ratio: "Not a number",
        tags: "Not valid JSON",
        tier: "Pick one of the options",
      });
    }
  });

  it("keeps enum values' own type", () => {
    const f = formFromSchema({ properties: { n: { enum: [1, 2] } } });
    expect(buildInput(f, { n: "2" })).toEqual({ ok: true, value: { n: 2 } });
  });
});
