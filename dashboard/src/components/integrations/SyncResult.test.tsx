import { render, screen, within } from "@testing-library/react";
import { MemoryRouter } from "react-router-dom";
import { describe, expect, it } from "vitest";
import type { N8nSyncResult } from "../../api/queries/integrations";
import { SyncResult, syncSummary } from "./SyncResult";
import { SyncSource } from "./SyncSource";

// The shape POST /integrations/n8n/sync answers (docs/integrations.md).
const RESULT: N8nSyncResult = {
  synced_count: 2,
  integration_id: "6f1c2f8e-0000-4000-8000-000000000001",
  errors: [{ workflow_id: "broken1", error: "not an n8n workflow: /connections/A/main/0/0/node: no node is named 'B'" }],
  workflows: [
    {
      n8n_id: "wfDouble01",
      workflow_id: "6f1c2f8e-0000-4000-8000-000000000002",
      name: "Double it",
      action: "created",
      mode: "translated",
      reasons: [],
      notes: ["Respond to Webhook: the status code is 200"],
      webhook_secrets: { "double-it": "s3cret-shown-once" },
    },
    {
      n8n_id: "wfChat02",
      workflow_id: "6f1c2f8e-0000-4000-8000-000000000003",
      name: "Chat agent",
      action: "updated",
      mode: "delegate",
      reasons: [
        "node 'Agent' (@n8n/n8n-nodes-langchain.agent) has no Headrace equal",
        "node 'Model' is connected as an AI sub-node (ai_languageModel)",
        "trigger 'Chat' (@n8n/n8n-nodes-langchain.chatTrigger) has no Headrace equal",
      ],
      notes: [],
      webhook_secrets: {},
    },
  ],
};

function renderResult(result: N8nSyncResult = RESULT) {
  return render(
    <MemoryRouter future={{ v7_startTransition: true, v7_relativeSplatPath: true }}>
      <SyncResult result={result} />
    </MemoryRouter>,
  );
}

describe("SyncResult", () => {
  it("sums up the modes and the failures", () => {
    expect(syncSummary(RESULT)).toBe("2 workflows synced: 1 translated, 1 delegated to n8n; 1 failed.");
    expect(syncSummary({ ...RESULT, synced_count: 0, workflows: [], errors: [] })).toBe("0 workflows synced.");
    renderResult();
    expect(screen.getByRole("status").textContent).toBe(syncSummary(RESULT));
  });

  it("shows per workflow its mode and every reason it is delegated", () => {
    renderResult();
    const delegated = screen.getByTestId("synced-wfChat02");
    expect(delegated.dataset.mode).toBe("delegate");
    expect(within(delegated).getByTestId("sync-mode").textContent).toBe("delegated to n8n");
    expect(within(delegated).getByText("Why it is delegated (3 reasons)")).toBeTruthy();
    const reasons = within(delegated).getByRole("list", { name: "Reasons Chat agent is delegated" });
    expect(within(reasons).getAllByRole("listitem").map((li) => li.textContent)).toEqual(RESULT.workflows[1]!.reasons);
    expect(within(delegated).getByRole("link", { name: "Chat agent" }).getAttribute("href")).toBe(
      "/workflows/6f1c2f8e-0000-4000-8000-000000000003",
    );
  });

  it("shows a translated workflow's notes and its webhook secret, and no reasons", () => {
    renderResult();
    const translated = screen.getByTestId("synced-wfDouble01");
    expect(within(translated).getByTestId("sync-mode").textContent).toBe("translated");
    expect(within(translated).queryByTestId("sync-reasons")).toBeNull();
    expect(within(translated).getByTestId("sync-notes").textContent).toContain("the status code is 200");
    expect(within(translated).getByText("s3cret-shown-once")).toBeTruthy();
    expect(within(translated).getByText("created")).toBeTruthy();
  });

  it("lists the workflows that could not be synced with their error", () => {
    renderResult();
    const errors = screen.getByRole("list", { name: "Sync errors" });
    expect(errors.textContent).toBe(`broken1: ${RESULT.errors[0]!.error}`);
  });
});

describe("SyncSource (a synced workflow's page)", () => {
  it("shows the stored mode and every reason of a delegated workflow", () => {
    render(
      <SyncSource
        source={{ kind: "n8n", n8n_id: "wfChat02", mode: "delegate", reasons: RESULT.workflows[1]!.reasons, notes: ["a note"] }}
      />,
    );
    expect(screen.getByTestId("sync-source").textContent).toContain("Synced from n8n (wfChat02)");
    expect(screen.getByText("delegated to n8n")).toBeTruthy();
    expect(within(screen.getByRole("list", { name: "Why it is delegated" })).getAllByRole("listitem")).toHaveLength(3);
    expect(screen.getByRole("list", { name: "Notes from the sync" }).textContent).toBe("a note");
  });

  it("is absent on a workflow that was not synced", () => {
    const { container } = render(<SyncSource source={null} />);
    expect(container.innerHTML).toBe("");
  });
});
