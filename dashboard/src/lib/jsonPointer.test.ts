import { describe, expect, it } from "vitest";
import { jsonSyntaxProblems, locatePointer, offsetToLineColumn, pointerSegments, stripPointerPrefix } from "./jsonPointer";

const DOC = `{
  "steps": [
    {"id": "a", "type": "http"},
    {
      "id": "b",
      "type": "transform",
      "depends_on": ["a", "zzz"]
    }
  ],
  "a/b": {"~x": 1}
}`;

describe("pointerSegments", () => {
  it("splits and unescapes reference tokens", () => {
    expect(pointerSegments("/steps/1/depends_on/0")).toEqual(["steps", "1", "depends_on", "0"]);
    expect(pointerSegments("/a~1b/~0x")).toEqual(["a/b", "~x"]);
    expect(pointerSegments("")).toEqual([]);
  });

  it("refuses text that is not a pointer", () => {
    expect(() => pointerSegments("steps/0")).toThrow();
  });
});

describe("stripPointerPrefix", () => {
  it("makes a body pointer relative to one document", () => {
    expect(stripPointerPrefix("/definition/steps/2/depends_on/0", "/definition")).toBe("/steps/2/depends_on/0");
    expect(stripPointerPrefix("/definition", "/definition")).toBe("");
    expect(stripPointerPrefix("/definitions/x", "/definition")).toBeNull();
    expect(stripPointerPrefix("/name", "/definition")).toBeNull();
  });
});

describe("locatePointer", () => {
  it("finds an array item inside a nested property at its exact line", () => {
    const r = locatePointer(DOC, "/steps/1/depends_on/1");
    expect(r).not.toBeNull();
    expect(r!.exact).toBe(true);
    expect(r!.line).toBe(7);
    expect(DOC.slice(r!.from, r!.to)).toBe('"zzz"');
  });

  it("shows a scalar property from its key to its value", () => {
    const r = locatePointer(DOC, "/steps/1/type")!;
    expect(r.line).toBe(6);
    expect(DOC.slice(r.from, r.to)).toBe('"type": "transform"');
  });

  it("marks only the key line of a container property", () => {
    const r = locatePointer(DOC, "/steps/1/depends_on")!;
    expect(DOC.slice(r.from, r.to)).toBe('"depends_on"');
  });

  it("falls back to the nearest parent for something missing", () => {
    const r = locatePointer(DOC, "/steps/0/with")!;
    expect(r.exact).toBe(false);
    expect(r.line).toBe(3);
  });

  it("handles escaped keys", () => {
    const r = locatePointer(DOC, "/a~1b/~0x")!;
    expect(r.exact).toBe(true);
    expect(r.line).toBe(10);
  });

  it("answers the root for an empty pointer", () => {
    expect(locatePointer(DOC, "")!.line).toBe(1);
  });

  it("does not treat an index as a key of an object or a key as an index", () => {
    expect(locatePointer(DOC, "/steps/x")!.exact).toBe(false);
    expect(locatePointer('{"0": true}', "/0")!.exact).toBe(true);
  });
});

describe("jsonSyntaxProblems", () => {
  it("is empty for valid JSON", () => {
    expect(jsonSyntaxProblems(DOC)).toEqual([]);
  });

  it("places a missing comma at its line", () => {
    const problems = jsonSyntaxProblems('{\n  "a": 1\n  "b": 2\n}');
    expect(problems[0]!.line).toBe(3);
    expect(problems[0]!.message).toMatch(/','/);
  });

  it("refuses trailing commas and comments like JSON.parse does", () => {
    expect(jsonSyntaxProblems('{"a": 1,}').length).toBeGreaterThan(0);
    expect(jsonSyntaxProblems('{"a": 1 // no\n}').length).toBeGreaterThan(0);
  });

  it("reports an empty document", () => {
    expect(jsonSyntaxProblems("  ")[0]!.message).toMatch(/empty/);
  });
});

describe("offsetToLineColumn", () => {
  it("counts lines and columns from 1", () => {
    expect(offsetToLineColumn("ab\ncd", 0)).toEqual({ line: 1, column: 1 });
    expect(offsetToLineColumn("ab\ncd", 4)).toEqual({ line: 2, column: 2 });
  });
});
