import { describe, expect, it } from "vitest";
import { SseParser } from "./events";
import { applyEvent } from "./queries/useExecutionLive";
import type { Execution } from "./queries/executions";
import { ApiError, problemFromBody } from "./problem";

describe("SseParser", () => {
  it("assembles events across chunks and remembers the last id", () => {
    const parser = new SseParser();
    const seen: { event: string; data: string; id: string | null }[] = [];
    parser.push("id: 1\nevent: step.started\ndata: {\"a\":", (e) => seen.push(e));
    expect(seen).toEqual([]);
    parser.push("1}\n\n: keep-alive\n\nid: 2\r\nevent: log\r\ndata: x\r\ndata: y\r\n\r\n", (e) => seen.push(e));
    expect(seen).toEqual([
      { event: "step.started", data: '{"a":1}', id: "1" },
      { event: "log", data: "x\ny", id: "2" },
    ]);
    expect(parser.lastEventId).toBe("2");
  });
});

const RUN: Execution = {
  id: "e1",
  workflow_id: "w1",
  version: 1,
  status: "running",
  trigger_type: "manual",
  trigger_id: null,
  parent_execution_id: null,
  execution_mode: "durable",
  error_message: null,
  started_at: "2024-01-01T00:00:00Z",
  completed_at: null,
  created_at: "2024-01-01T00:00:00Z",
  input_data: null,
  output_data: null,
  steps: [{ id: "a", status: "pending", attempts: 0, started_at: null, completed_at: null, output: null, error: null }],
  temporal_workflow_id: "e1",
  temporal_run_id: null,
  temporal_ui_url: "",
  waiting_for: {},
};

describe("applyEvent", () => {
  it("turns a step running, then completed, live", () => {
    const started = applyEvent(RUN, { type: "step.started", step_id: "a", attempt: 1, ts: "2024-01-01T00:00:01Z" });
    expect(started.steps[0]).toMatchObject({ status: "running", attempts: 1, started_at: "2024-01-01T00:00:01Z" });
    const done = applyEvent(started, { type: "step.completed", step_id: "a", attempt: 1, ts: "2024-01-01T00:00:02Z" });
    expect(done.steps[0]).toMatchObject({ status: "completed", completed_at: "2024-01-01T00:00:02Z", started_at: "2024-01-01T00:00:01Z" });
  });

  it("adds steps it did not know and follows the run's status", () => {
    const next = applyEvent(RUN, { type: "execution.waiting", step_id: "b" });
    expect(next.status).toBe("waiting");
    const failed = applyEvent(next, { type: "step.failed", step_id: "b", attempt: 3 });
    expect(failed.steps.find((s) => s.id === "b")).toMatchObject({ status: "failed", attempts: 3 });
    expect(applyEvent(failed, { type: "execution.failed" }).status).toBe("failed");
  });

  it("shows a run queued for a concurrency permit, then running when it gets one", () => {
    const queued = applyEvent(RUN, { type: "execution.queued", data: { position: 2 } });
    expect(queued.status).toBe("queued");
    expect(applyEvent(queued, { type: "execution.started" }).status).toBe("running");
  });

  it("leaves the record alone for other events", () => {
    expect(applyEvent(RUN, { type: "log", step_id: "a" })).toBe(RUN);
  });
});

describe("problemFromBody", () => {
  it("keeps the problem's pointers and filters them by document", () => {
    const e = problemFromBody(422, {
      title: "Invalid input",
      status: 422,
      detail: "2 problems",
      errors: [
        { pointer: "/definition/steps/0/type", detail: "unknown", code: "x" },
        { pointer: "/name", detail: "too long", code: "y" },
      ],
    });
    expect(e).toBeInstanceOf(ApiError);
    expect(e.errorsUnder("/definition")).toEqual([{ pointer: "/steps/0/type", detail: "unknown", code: "x" }]);
  });

  it("reads FastAPI's default 422 shape too", () => {
    const e = problemFromBody(422, { detail: [{ loc: ["body", "name"], msg: "field required", type: "missing" }] });
    expect(e.errors).toEqual([{ pointer: "/name", detail: "field required", code: "missing" }]);
  });
});
