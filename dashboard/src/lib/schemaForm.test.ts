import { describe, expect, it } from "vitest";
import served from "../test/definition-schema.json";
import { fieldKind, fieldsOf, formatFieldValue, isFreeForm, parseFieldValue, stepTypesOf } from "./schemaForm";

const types = stepTypesOf(served);
const withOf = (type: string) => types.find((t) => t.type === type)!.with;

describe("stepTypesOf (the Add step palette)", () => {
  it("lists every step type the API serves, pure ones marked", () => {
    expect(types.map((t) => t.type)).toEqual([
      "http", "transform", "sleep", "wait_for_event", "approval", "workflow", "n8n", "storage", "log", "fail",
      "code", "llm", "agent",
    ]);
    expect(types.filter((t) => t.pure).map((t) => t.type).sort()).toEqual(
      ["approval", "fail", "log", "sleep", "transform", "wait_for_event"],
    );
  });

  it("is empty for anything that is not a definition schema", () => {
    expect(stepTypesOf(null)).toEqual([]);
    expect(stepTypesOf({ type: "object" })).toEqual([]);
  });
});

describe("fieldsOf (one form field per with property)", () => {
  it("gives the AI steps their fields: messages and tools as JSON, settings as scalars", () => {
    const llm = Object.fromEntries(fieldsOf(withOf("llm")).map((f) => [f.name, f]));
    expect(Object.keys(llm)).toEqual([
      "connection", "model", "messages", "temperature", "max_tokens", "stream", "response_schema",
    ]);
    expect(llm.messages!.kind).toBe("json");
    expect(llm.stream).toMatchObject({ kind: "boolean", defaultValue: false });
    const agent = Object.fromEntries(fieldsOf(withOf("agent")).map((f) => [f.name, f]));
    expect(agent.tools!.kind).toBe("json");
    expect(agent.max_turns!.defaultValue).toBe(10);
  });


  it("gives the http step its fields, named as in the schema, with kinds from their types", () => {
    const fields = fieldsOf(withOf("http"));
    const byName = Object.fromEntries(fields.map((f) => [f.name, f]));
    expect(fields.map((f) => f.name)).toEqual([
      "method", "url", "connection", "path", "headers", "query", "json", "body", "form", "auth",
      "expect_status", "timeout", "follow_redirects", "paginate",
    ]);
    expect(byName.paginate!.kind).toBe("json"); // a structured object
    expect(byName.method).toMatchObject({ kind: "enum", defaultValue: "GET" });
    expect(byName.method!.options).toContain("POST");
    expect(byName.url!.kind).toBe("text"); // anyOf [string, null]
    expect(byName.headers!.kind).toBe("map"); // a free object: named values
    expect(byName.auth!.kind).toBe("json"); // a $ref to a structured object
    expect(byName.expect_status!.kind).toBe("json"); // a list
    expect(byName.follow_redirects).toMatchObject({ kind: "boolean", defaultValue: true });
  });

  it("marks required fields, and treats an untyped value (log's message) as a template", () => {
    const fields = fieldsOf(withOf("log"));
    expect(fields.find((f) => f.name === "message")).toMatchObject({ kind: "text", required: true });
    expect(fields.find((f) => f.name === "level")).toMatchObject({ kind: "enum", required: false });
  });

  it("edits the code step's script as JavaScript (its schema's contentMediaType)", () => {
    const fields = fieldsOf(withOf("code"));
    expect(fields.find((f) => f.name === "code")).toMatchObject({ kind: "code", language: "javascript", required: true });
    expect(fields.find((f) => f.name === "language")!.kind).toBe("text");
    // Any string field marked as a script gets the code editor; other media types stay text.
    expect(fieldKind({ type: "string", contentMediaType: "application/javascript" }).kind).toBe("code");
    expect(fieldKind({ anyOf: [{ type: "string", contentMediaType: "text/javascript" }, { type: "null" }] }).kind).toBe("code");
    expect(fieldKind({ type: "string", contentMediaType: "text/plain" }).kind).toBe("text");
  });

  it("gives a new step type a form without UI code", () => {
    const schema = {
      type: "object",
      properties: { queue: { type: "string" }, batch: { anyOf: [{ type: "integer" }, { type: "null" }] } },
      required: ["queue"],
    };
    expect(fieldsOf(schema).map((f) => [f.name, f.kind, f.required])).toEqual([
      ["queue", "text", true],
      ["batch", "number", false],
    ]);
  });

  it("edits transform's free-form with as named values", () => {
    expect(isFreeForm(withOf("transform"))).toBe(true);
    expect(isFreeForm(withOf("http"))).toBe(false);
    expect(fieldKind({ type: "array", items: { type: "string" } }).kind).toBe("json");
  });
});

describe("field values", () => {
  it("keeps templates as text and reads numbers and JSON", () => {
    expect(parseFieldValue("number", "42")).toBe(42);
    expect(parseFieldValue("number", "{{ input.n }}")).toBe("{{ input.n }}");
    expect(parseFieldValue("json", "[200, 201]")).toEqual([200, 201]);
    expect(parseFieldValue("json", "{{ steps.a.output }}")).toBe("{{ steps.a.output }}");
    expect(parseFieldValue("text", "")).toBeUndefined();
    expect(formatFieldValue("json", [200])).toBe("[200]");
    expect(formatFieldValue("text", undefined)).toBe("");
  });
});
