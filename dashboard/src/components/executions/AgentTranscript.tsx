/**
 * An `agent` step's transcript, turn by turn: what the model said, which tools it called with
 * which arguments, and what each returned. While the step runs, the turns come from its
 * `agent.turn` events (and the text being streamed, from its `step.progress` token events);
 * once it has completed, from its output's `transcript`.
 */
import { useQuery } from "@tanstack/react-query";
import { executionLogsQuery, type LogEntry } from "../../api/queries/executions";
import { JsonView } from "../ui/JsonView";

interface ToolCall {
  id?: string;
  name: string;
  arguments?: unknown;
  result?: unknown;
  error?: string;
}

interface Usage {
  prompt_tokens?: number;
  completion_tokens?: number;
  total_tokens?: number;
}

export interface Turn {
  turn: number;
  text?: string;
  finish_reason?: string | null;
  usage?: Usage;
  tool_calls: ToolCall[];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function asTurn(value: unknown): Turn | null {
  if (!isRecord(value) || typeof value.turn !== "number") return null;
  const calls = Array.isArray(value.tool_calls) ? value.tool_calls.filter(isRecord) : [];
  return {
    turn: value.turn,
    text: typeof value.text === "string" ? value.text : undefined,
    finish_reason: typeof value.finish_reason === "string" ? value.finish_reason : null,
    usage: isRecord(value.usage) ? (value.usage as Usage) : undefined,
    tool_calls: calls.map((c) => ({
      id: typeof c.id === "string" ? c.id : undefined,
      name: String(c.name ?? "?"),
      arguments: c.arguments,
      result: c.result,
      error: typeof c.error === "string" ? c.error : undefined,
    })),
  };
}

/** The turns of a completed step's output, else those its events told so far. */
export function agentTurns(output: unknown, events: LogEntry[]): Turn[] {
  if (isRecord(output) && Array.isArray(output.transcript)) {
    return output.transcript.map(asTurn).filter((t): t is Turn => t !== null);
  }
  const byTurn = new Map<number, Turn>();
  for (const e of events) {
    if (e.type !== "agent.turn") continue;
    const turn = asTurn(e.data);
    if (turn) byTurn.set(turn.turn, turn); // a retried event says the same
  }
  return [...byTurn.values()].sort((a, b) => a.turn - b.turn);
}

/** Text streamed for a turn that has not ended yet (its `step.progress` token events). */
export function streamingText(events: LogEntry[], endedTurns: number): string {
  let attempt: number | null = null;
  let text = "";
  for (const e of events) {
    if (e.type !== "step.progress" || !isRecord(e.data) || e.data.kind !== "tokens") continue;
    const turn = typeof e.data.turn === "number" ? e.data.turn : null;
    if (turn === null || turn <= endedTurns) continue;
    if (attempt !== e.attempt) {
      attempt = e.attempt ?? null; // a retried call streams its answer again
      text = "";
    }
    text += typeof e.data.text === "string" ? e.data.text : "";
  }
  return text;
}

export function AgentTranscript({
  executionId,
  stepId,
  output,
  follow,
}: {
  executionId: string;
  stepId: string;
  output: unknown;
  follow: boolean;
}) {
  const logs = useQuery(executionLogsQuery(executionId, { step_id: stepId }, follow));
  const events = logs.data?.data ?? [];
  const turns = agentTurns(output, events);
  const streaming = follow ? streamingText(events, turns.length) : "";
  return (
    <div>
      <p className="mb-1 text-xs font-medium text-slate-600 dark:text-slate-400">Transcript</p>
      {turns.length === 0 && !streaming ? (
        <p className="text-xs text-slate-400">{logs.isPending ? "Loading…" : `No turn${follow ? " yet" : ""}.`}</p>
      ) : (
        <ol className="space-y-2" aria-label={`Transcript of ${stepId}`} data-testid="agent-transcript">
          {turns.map((t) => (
            <li
              key={t.turn}
              className="rounded-md bg-white p-3 text-xs ring-1 ring-inset ring-slate-200 dark:bg-slate-950 dark:ring-slate-800"
              data-testid={`agent-turn-${t.turn}`}
            >
              <p className="mb-1 flex gap-2 text-slate-500">
                <span className="font-medium text-slate-700 dark:text-slate-300">Turn {t.turn}</span>
                {t.usage?.total_tokens !== undefined && <span>{t.usage.total_tokens} tokens</span>}
              </p>
              {t.text && (
                <p className="whitespace-pre-wrap break-words text-slate-800 dark:text-slate-200" data-testid="agent-text">
                  {t.text}
                </p>
              )}
              {t.tool_calls.length > 0 && (
                <ul className="mt-2 space-y-2" aria-label={`Tool calls of turn ${t.turn}`}>
                  {t.tool_calls.map((c, i) => (
                    <li key={c.id ?? i} className="border-l-2 border-teal-500 pl-2">
                      <p className="font-mono text-teal-700 dark:text-teal-400">
                        {c.name}({c.arguments === undefined ? "" : JSON.stringify(c.arguments)})
                      </p>
                      {c.error !== undefined ? (
                        <p className="text-red-700 dark:text-red-400" data-testid="tool-error">
                          error: {c.error}
                        </p>
                      ) : (
                        <JsonView value={c.result} maxHeight="max-h-40" className="mt-1" />
                      )}
                    </li>
                  ))}
                </ul>
              )}
            </li>
          ))}
          {streaming && (
            <li className="rounded-md p-3 text-xs ring-1 ring-inset ring-teal-300" data-testid="agent-streaming">
              <p className="mb-1 font-medium text-slate-500">Turn {turns.length + 1} · answering…</p>
              <p className="whitespace-pre-wrap break-words text-slate-800 dark:text-slate-200">{streaming}</p>
            </li>
          )}
        </ol>
      )}
    </div>
  );
}
