import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render, screen, within } from "@testing-library/react";
import { MemoryRouter } from "react-router-dom";
import { describe, expect, it } from "vitest";
import { executionKeys, type LogEntry } from "../../api/queries/executions";
import { StepLogs } from "./StepLogs";

const RUN = "0b6f6a5e-0000-4000-8000-00000000000a";
const entry = (id: number, type: string, level: string, message: string, attempt = 1): LogEntry => ({
  id,
  type,
  step_id: "score",
  attempt,
  level,
  message,
  data: type === "log" ? { source: "console" } : null,
  ts: "2026-12-05T05:00:00Z",
});

// What GET /executions/{id}/logs?step_id=score answers for a code step that logged twice.
const PAGE = {
  data: [
    entry(1, "step.started", "info", "step score started"),
    entry(2, "log", "info", "scoring 21"),
    entry(3, "log", "warning", "n is odd", 2),
    entry(4, "step.completed", "info", "step score completed"),
  ],
  count: 4,
  limit: 1000,
  offset: 0,
};

function renderLogs(page: typeof PAGE) {
  const client = new QueryClient({ defaultOptions: { queries: { staleTime: Infinity, retry: false } } });
  client.setQueryData(executionKeys.logs(RUN, { step_id: "score" }), page);
  return render(
    <QueryClientProvider client={client}>
      <MemoryRouter future={{ v7_startTransition: true, v7_relativeSplatPath: true }}>
        <StepLogs executionId={RUN} stepId="score" follow={false} />
      </MemoryRouter>
    </QueryClientProvider>,
  );
}

describe("StepLogs (a step's log lines on the run page)", () => {
  it("shows the step's console lines with their level and attempt, not its lifecycle events", () => {
    renderLogs(PAGE);
    const list = screen.getByRole("list", { name: "Logs of score" });
    const items = within(list).getAllByRole("listitem");
    expect(items).toHaveLength(2);
    expect(items[0]!.textContent).toContain("scoring 21");
    expect(items[0]!.textContent).toContain("info");
    expect(items[1]!.textContent).toContain("n is odd");
    expect(items[1]!.textContent).toContain("#2");
    expect(screen.getByRole("link", { name: /open in Logs/ }).getAttribute("href")).toBe(`/logs?execution=${RUN}&step=score`);
  });

  it("says so when the step logged nothing", () => {
    renderLogs({ ...PAGE, data: PAGE.data.filter((l) => l.type !== "log"), count: 2 });
    expect(screen.getByText("No log lines.")).toBeTruthy();
  });
});
