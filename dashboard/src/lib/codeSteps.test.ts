import { describe, expect, it } from "vitest";
import { codeStepsOf, setStepCode, stepIndexAt } from "./codeSteps";

const TEXT = `{
  "steps": [
    {"id": "fetch", "type": "http", "with": {"url": "https://example.com"}},
    {"id": "score", "type": "code", "depends_on": ["fetch"],
     "with": {"code": "const n = input.n;\\nreturn n * 2;", "input": {"n": "{{ input.n }}"}}}
  ]
}`;

describe("codeStepsOf", () => {
  it("lists the code steps with their script decoded from the JSON string", () => {
    expect(codeStepsOf(JSON.parse(TEXT))).toEqual([{ id: "score", index: 1, code: "const n = input.n;\nreturn n * 2;" }]);
  });

  it("gives a code step without a script an empty one, and ignores anything that is not a definition", () => {
    expect(codeStepsOf({ steps: [{ id: "c", type: "code" }] })).toEqual([{ id: "c", index: 0, code: "" }]);
    expect(codeStepsOf(null)).toEqual([]);
    expect(codeStepsOf({ steps: "no" })).toEqual([]);
  });
});

describe("stepIndexAt", () => {
  it("names the step the cursor is in, anywhere inside it", () => {
    expect(stepIndexAt(TEXT, TEXT.indexOf("return n"))).toBe(1);
    expect(stepIndexAt(TEXT, TEXT.indexOf('"depends_on"') + 2)).toBe(1);
    expect(stepIndexAt(TEXT, TEXT.indexOf("https") + 2)).toBe(0);
    expect(stepIndexAt(TEXT, 2)).toBeNull();
  });
});

describe("setStepCode", () => {
  it("rewrites only the script's JSON string, escaping what JSON needs", () => {
    const script = 'console.log("a\\tb");\nreturn {ok: true};';
    const next = setStepCode(TEXT, 1, script);
    expect(JSON.parse(next).steps[1].with.code).toBe(script);
    expect(JSON.parse(next).steps[1].with.input).toEqual({ n: "{{ input.n }}" });
    // The rest of the text keeps its (compact) formatting.
    expect(next.split("\n")[2]).toBe(TEXT.split("\n")[2]);
    expect(next.replace(JSON.stringify(script), "X")).toBe(TEXT.replace(JSON.stringify("const n = input.n;\nreturn n * 2;"), "X"));
  });

  it("adds with.code to a code step that has none", () => {
    const next = setStepCode('{"steps": [{"id": "c", "type": "code"}]}', 0, "return 1;");
    expect(JSON.parse(next).steps[0]).toEqual({ id: "c", type: "code", with: { code: "return 1;" } });
  });
});
