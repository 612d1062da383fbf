import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render, screen, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { executionKeys, type LogEntry } from "../../api/queries/executions";
import { AgentTranscript, agentTurns, streamingText } from "./AgentTranscript";

const RUN = "0b6f6a5e-0000-4000-8000-00000000000b";
const event = (id: number, type: string, data: unknown, attempt = 1): LogEntry => ({
  id,
  type,
  step_id: "helper",
  attempt,
  level: "info",
  message: "",
  data: data as LogEntry["data"],
  ts: "2026-12-05T05:00:00Z",
});

const TURN_1 = {
  turn: 1,
  text: "",
  finish_reason: "tool_calls",
  usage: { prompt_tokens: 20, completion_tokens: 5, total_tokens: 25 },
  tool_calls: [
    { id: "c1", name: "user", arguments: { uid: "v42" }, result: { status: 200, body: { tier: "vip" } } },
    { id: "c2", name: "refund", arguments: { order: 7 }, error: "the child run failed" },
  ],
};
const TURN_2 = { turn: 2, text: "v42 is a vip.", finish_reason: "stop", usage: { total_tokens: 40 }, tool_calls: [] };

function renderTranscript(events: LogEntry[], output: unknown, follow: boolean) {
  const client = new QueryClient({ defaultOptions: { queries: { staleTime: Infinity, retry: false } } });
  client.setQueryData(executionKeys.logs(RUN, { step_id: "helper" }), { data: events, count: events.length, limit: 1000, offset: 0 });
  return render(
    <QueryClientProvider client={client}>
      <AgentTranscript executionId={RUN} stepId="helper" output={output} follow={follow} />
    </QueryClientProvider>,
  );
}

describe("AgentTranscript (an agent step's turns on the run page)", () => {
  it("shows each turn's answer, tool calls with their arguments, results and errors", () => {
    renderTranscript([], { text: "v42 is a vip.", turns: 2, transcript: [TURN_1, TURN_2] }, false);
    const list = screen.getByRole("list", { name: "Transcript of helper" });
    const turns = within(list).getAllByTestId(/agent-turn-/);
    expect(turns).toHaveLength(2);
    expect(turns[0]!.textContent).toContain("Turn 1");
    expect(turns[0]!.textContent).toContain("25 tokens");
    expect(turns[0]!.textContent).toContain('user({"uid":"v42"})');
    expect(turns[0]!.textContent).toContain('"tier": "vip"');
    expect(within(turns[0]!).getByTestId("tool-error").textContent).toContain("the child run failed");
    expect(within(turns[1]!).getByTestId("agent-text").textContent).toBe("v42 is a vip.");
  });

  it("follows a running step from its agent.turn events and the text it streams", () => {
    const events = [
      event(1, "step.started", {}),
      event(2, "agent.turn", TURN_1),
      event(3, "step.progress", { kind: "tokens", text: "v42 is", turn: 2 }),
      event(4, "step.progress", { kind: "tokens", text: " a", turn: 2 }),
    ];
    renderTranscript(events, null, true);
    expect(screen.getAllByTestId(/agent-turn-/)).toHaveLength(1);
    expect(screen.getByTestId("agent-streaming").textContent).toContain("v42 is a");
  });

  it("starts the streamed text again when the call is retried, and ignores ended turns", () => {
    const events = [
      event(1, "step.progress", { kind: "tokens", text: "old", turn: 1 }),
      event(2, "step.progress", { kind: "tokens", text: "half", turn: 2 }, 1),
      event(3, "step.progress", { kind: "tokens", text: "whole", turn: 2 }, 2),
    ];
    expect(streamingText(events, 1)).toBe("whole");
    expect(agentTurns(null, [event(4, "agent.turn", TURN_1), event(5, "agent.turn", TURN_1)])).toHaveLength(1);
  });
});
