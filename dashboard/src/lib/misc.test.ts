import { describe, expect, it } from "vitest";
import { diffLines } from "./diff";
import { durationBetween, formatDuration, parseDate } from "./format";
import { buildTimeline } from "./timeline";
import { collectWaits, readWaits } from "./waits";
import { locateProblems } from "./editorProblems";

describe("diffLines", () => {
  it("marks added and removed lines and keeps line numbers", () => {
    const d = diffLines("a\nb\nc", "a\nB\nc\nd");
    expect(d.map((l) => `${l.kind[0]}${l.text}`)).toEqual(["sa", "rb", "aB", "sc", "ad"]);
    expect(d.find((l) => l.kind === "added" && l.text === "d")).toMatchObject({ right: 4 });
  });

  it("is all same for equal texts", () => {
    expect(diffLines("x\ny", "x\ny").every((l) => l.kind === "same")).toBe(true);
  });
});

describe("format", () => {
  it("reads naive timestamps as UTC", () => {
    expect(parseDate("2024-01-01T00:00:00")!.toISOString()).toBe("2024-01-01T00:00:00.000Z");
    expect(parseDate("2024-01-01T00:00:00+02:00")!.toISOString()).toBe("2023-12-31T22:00:00.000Z");
    expect(parseDate(null)).toBeNull();
  });

  it("formats durations at a readable precision", () => {
    expect(formatDuration(450)).toBe("450 ms");
    expect(formatDuration(2500)).toBe("2.5 s");
    expect(formatDuration(125_000)).toBe("2 m 5 s");
    expect(formatDuration(null)).toBe("—");
    expect(durationBetween("2024-01-01T00:00:00Z", "2024-01-01T00:00:03Z")).toBe(3000);
  });
});

describe("buildTimeline", () => {
  it("places steps on one axis from the run start", () => {
    const t = buildTimeline(
      [
        { id: "a", status: "completed", started_at: "2024-01-01T00:00:00Z", completed_at: "2024-01-01T00:00:02Z" },
        { id: "b", status: "running", started_at: "2024-01-01T00:00:02Z", completed_at: null, attempts: 2 },
        { id: "c", status: "pending" },
      ],
      "2024-01-01T00:00:00Z",
      null,
      Date.parse("2024-01-01T00:00:04Z"),
    );
    expect(t.bars.map((b) => [b.id, b.left, b.width, b.open])).toEqual([
      ["a", 0, 0.5, false],
      ["b", 0.5, 0.5, true],
    ]);
    expect(t.bars[1]!.attempts).toBe(2);
    expect(t.notStarted).toEqual(["c"]);
  });
});

describe("readWaits", () => {
  it("reads both the object and the string forms", () => {
    expect(readWaits({ ok: { kind: "approval", event: null, approvers: ["a@x"] }, ev: "payment" })).toEqual([
      { stepId: "ok", kind: "approval", event: undefined, approvers: ["a@x"] },
      { stepId: "ev", kind: "event", event: "payment", approvers: [] },
    ]);
    expect(readWaits(null)).toEqual([]);
  });
});

describe("locateProblems", () => {
  it("places the API's problems at their lines", () => {
    const text = '{\n  "steps": [\n    {"id": "a", "depends_on": ["nope"]}\n  ]\n}';
    const [p] = locateProblems(text, [{ pointer: "/steps/0/depends_on/0", detail: "unknown step", code: "unknown_dependency" }]);
    expect(p).toMatchObject({ line: 3, source: "server", detail: "unknown step" });
    expect(text.slice(p!.from, p!.to)).toBe('"nope"');
  });

  it("shows syntax errors first (server positions would be meaningless)", () => {
    const problems = locateProblems('{"a": }', [{ pointer: "/a", detail: "x" }]);
    expect(problems.every((p) => p.source === "syntax")).toBe(true);
  });
});

describe("collectWaits", () => {
  const def = {
    steps: [
      { id: "ask", type: "approval", with: { approvers: ["boss@example.com"] } },
      { id: "hook", type: "wait_for_event", with: { event: "paid" } },
      { id: "work", type: "http", on_error: "park" },
      { id: "done", type: "log" },
    ],
  };
  it("reads waits from waiting steps when waiting_for is empty", () => {
    const steps = ["ask", "hook", "work", "done"].map((id) => ({
      id,
      status: id === "done" ? "pending" : "waiting",
      error: id === "work" ? "HTTP 500" : null,
    }));
    expect(collectWaits({}, steps, def)).toEqual([
      { stepId: "ask", kind: "approval", approvers: ["boss@example.com"] },
      { stepId: "hook", kind: "event", event: "paid", approvers: [] },
      { stepId: "work", kind: "park", approvers: [] },
    ]);
  });
  it("reads an approval's message and deadline", () => {
    const waiting = { ask: { kind: "approval", approvers: ["boss@example.com"], message: "Refund 120 EUR?", deadline: "2026-12-06T10:00:00+00:00" } };
    expect(readWaits(waiting)).toEqual([
      { stepId: "ask", kind: "approval", approvers: ["boss@example.com"], message: "Refund 120 EUR?", deadline: "2026-12-06T10:00:00+00:00" },
    ]);
  });
  it("prefers what the server says", () => {
    expect(collectWaits({ ask: { kind: "approval", approvers: [] } }, [{ id: "ask", status: "waiting" }], def)).toHaveLength(1);
  });
});

describe("buildTimeline at the edges", () => {
  it("keeps an instant last step visible inside the axis", () => {
    const t = buildTimeline(
      [
        { id: "a", status: "completed", started_at: "2024-01-01T00:00:00Z", completed_at: "2024-01-01T00:00:02Z" },
        { id: "z", status: "completed", started_at: "2024-01-01T00:00:02Z", completed_at: "2024-01-01T00:00:02Z" },
      ],
      "2024-01-01T00:00:00Z",
      "2024-01-01T00:00:02Z",
    );
    const z = t.bars.find((b) => b.id === "z")!;
    expect(z.width).toBeGreaterThan(0);
    expect(z.left + z.width).toBeLessThanOrEqual(1);
  });
});
