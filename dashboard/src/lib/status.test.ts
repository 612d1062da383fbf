import { describe, expect, it } from "vitest";
import { displayStepStatus, isTerminal, RUN_STATUSES, statusStyle, stepTypeColour } from "./status";

describe("statusStyle", () => {
  it("gives every run status its own colour", () => {
    const hexes = RUN_STATUSES.map((s) => statusStyle(s).hex);
    expect(new Set(hexes).size).toBe(RUN_STATUSES.length);
  });

  it("colours success green and failure red", () => {
    expect(statusStyle("completed").solid).toContain("emerald");
    expect(statusStyle("failed").solid).toContain("red");
    expect(statusStyle("running").active).toBe(true);
    expect(statusStyle("completed").active).toBe(false);
  });

  it("styles skipped steps", () => {
    expect(statusStyle("skipped").label).toBe("Skipped");
  });

  it("names steps that never ran after a failure", () => {
    expect(statusStyle("not_run").label).toBe("Not run");
    expect(displayStepStatus("not_run", true)).toBe("not_run");
  });

  it("keeps the name of an unknown status and is case-insensitive", () => {
    expect(statusStyle("teleporting").label).toBe("Teleporting");
    expect(statusStyle("FAILED").label).toBe("Failed");
    expect(statusStyle(undefined).label).toBe("Pending");
  });
});

describe("isTerminal", () => {
  it("is true only for ended runs", () => {
    expect(["completed", "failed", "cancelled"].every(isTerminal)).toBe(true);
    expect(["pending", "running", "waiting", "paused"].some(isTerminal)).toBe(false);
    expect(isTerminal(null)).toBe(false);
  });
});

describe("stepTypeColour", () => {
  it("has a colour for each v1 step type and a neutral one otherwise", () => {
    expect(stepTypeColour("http")).not.toBe(stepTypeColour("approval"));
    expect(stepTypeColour("mystery")).toBe("#475569");
  });
});

describe("displayStepStatus", () => {
  it("shows steps that never ran in an ended run as skipped", () => {
    expect(displayStepStatus("pending", true)).toBe("skipped");
    expect(displayStepStatus("pending", false)).toBe("pending");
    expect(displayStepStatus("failed", true)).toBe("failed");
    expect(displayStepStatus(undefined, false)).toBe("pending");
    expect(displayStepStatus("waiting", true)).toBe("cancelled");
  });
});
