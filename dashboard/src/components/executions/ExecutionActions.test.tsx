import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render, screen } from "@testing-library/react";
import { MemoryRouter } from "react-router-dom";
import { describe, expect, it } from "vitest";
import { PATHS } from "../../api/features";
import type { Execution } from "../../api/queries/executions";
import { ToastProvider } from "../ui/toast";
import { ExecutionActions } from "./ExecutionActions";

const RUN = {
  id: "0b6f6a5e-0000-4000-8000-00000000000b",
  workflow_id: "w1",
  version: 1,
  status: "failed",
  trigger_type: "webhook",
  trigger_id: null,
  parent_execution_id: null,
  execution_mode: "durable",
  error_message: "step stop failed: no",
  started_at: "2026-12-05T05:00:00Z",
  completed_at: "2026-12-05T05:00:01Z",
  created_at: "2026-12-05T05:00:00Z",
  input_data: {},
  output_data: null,
  steps: [],
  temporal_workflow_id: "0b6f6a5e-0000-4000-8000-00000000000b",
  temporal_run_id: null,
  temporal_ui_url: "",
  waiting_for: {},
  parked: {},
} as unknown as Execution;

// The server lists every operator action (what /openapi.json says).
const OPENAPI = { paths: Object.fromEntries(Object.values(PATHS).map((p) => [p, { post: {} }])) };

function renderActions(execution: Execution) {
  const client = new QueryClient({ defaultOptions: { queries: { staleTime: Infinity, retry: false } } });
  client.setQueryData(["openapi"], OPENAPI);
  return render(
    <QueryClientProvider client={client}>
      <ToastProvider>
        <MemoryRouter future={{ v7_startTransition: true, v7_relativeSplatPath: true }}>
          <ExecutionActions execution={execution} definition={{ steps: [] }} />
        </MemoryRouter>
      </ToastProvider>
    </QueryClientProvider>,
  );
}

describe("ExecutionActions of an express run (no history)", () => {
  it("offers a whole retry, not a retry from the failed step", () => {
    renderActions({ ...RUN, execution_mode: "express" });
    expect(screen.getByRole("button", { name: "Run again" })).toBeTruthy();
    expect(screen.queryByRole("button", { name: "Retry from failed" })).toBeNull();
  });

  it("offers no cancel, signal or pause while it runs", () => {
    renderActions({ ...RUN, execution_mode: "express", status: "running", completed_at: null });
    for (const name of ["Cancel run", "Send signal…", "Pause"]) {
      expect(screen.queryByRole("button", { name })).toBeNull();
    }
  });

  it("keeps every action for a durable run", () => {
    renderActions(RUN);
    expect(screen.getByRole("button", { name: "Retry from failed" })).toBeTruthy();
    renderActions({ ...RUN, status: "running", completed_at: null });
    expect(screen.getByRole("button", { name: "Cancel run" })).toBeTruthy();
    expect(screen.getByRole("button", { name: "Pause" })).toBeTruthy();
  });
});
