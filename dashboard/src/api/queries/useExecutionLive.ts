/**
 * One execution kept live: the SSE stream patches the cached execution as events arrive
 * (a step turns green the moment it completes) and the query refetches for the full record;
 * without a stream, the query polls every second until the run ends.
 */
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import { followExecution, type RunEvent, type StreamState } from "../events";
import { isTerminal } from "../../lib/status";
import { executionKeys, executionQuery, type Execution } from "./executions";

const STEP_EVENT_STATUS: Record<string, string> = {
  "step.started": "running",
  "step.retrying": "running",
  "step.completed": "completed",
  "step.failed": "failed",
  "step.skipped": "skipped",
};

const RUN_EVENT_STATUS: Record<string, Execution["status"]> = {
  "execution.queued": "queued",
  "execution.started": "running",
  "execution.waiting": "waiting",
  "execution.completed": "completed",
  "execution.failed": "failed",
  "execution.cancelled": "cancelled",
};

/** The cached execution with one event applied (pure, for tests). */
export function applyEvent(execution: Execution, event: RunEvent): Execution {
  const runStatus = RUN_EVENT_STATUS[event.type];
  const stepStatus = STEP_EVENT_STATUS[event.type];
  let next = execution;
  if (event.type === "execution.waiting" && event.step_id) {
    next = {
      ...next,
      steps: next.steps.map((s) => (s.id === event.step_id ? { ...s, status: "waiting" } : s)),
    };
  }
  if (runStatus) next = { ...next, status: runStatus };
  if (stepStatus && event.step_id) {
    const exists = next.steps.some((s) => s.id === event.step_id);
    const patch = (s: Execution["steps"][number]) => ({
      ...s,
      status: stepStatus,
      attempts: Math.max(s.attempts ?? 0, event.attempt ?? 0, stepStatus === "running" ? 1 : 0),
      started_at: s.started_at ?? (stepStatus === "running" ? (event.ts ?? null) : s.started_at),
      completed_at: ["completed", "failed", "skipped"].includes(stepStatus) ? (event.ts ?? s.completed_at) : s.completed_at,
    });
    next = {
      ...next,
      steps: exists
        ? next.steps.map((s) => (s.id === event.step_id ? patch(s) : s))
        : [...next.steps, patch({ id: event.step_id, status: "pending", attempts: 0, started_at: null, completed_at: null })],
    };
  }
  return next;
}

export function useExecutionLive(id: string) {
  const qc = useQueryClient();
  const [stream, setStream] = useState<StreamState>("connecting");
  const [events, setEvents] = useState<RunEvent[]>([]);
  const query = useQuery(executionQuery(id, stream === "live"));
  const terminal = isTerminal(query.data?.status);
  const refetchTimer = useRef<ReturnType<typeof setTimeout> | null>(null);

  useEffect(() => {
    if (terminal || !query.data) return;
    setEvents([]);
    const handle = followExecution(
      id,
      (event) => {
        setEvents((list) => (list.length > 500 ? [...list.slice(-400), event] : [...list, event]));
        qc.setQueryData<Execution>(executionKeys.detail(id), (old) => (old ? applyEvent(old, event) : old));
        // Outputs and errors come with the full record: refetch, at most every 500 ms.
        if (event.type !== "log" && !refetchTimer.current) {
          refetchTimer.current = setTimeout(() => {
            refetchTimer.current = null;
            void qc.invalidateQueries({ queryKey: executionKeys.detail(id), exact: true });
          }, 500);
        }
      },
      setStream,
    );
    return () => {
      handle.close();
      if (refetchTimer.current) {
        // A refetch was due (the terminal event just landed): do it now for the final record.
        clearTimeout(refetchTimer.current);
        refetchTimer.current = null;
        void qc.invalidateQueries({ queryKey: executionKeys.detail(id), exact: true });
      }
    };
    // Connect once the run is loaded; the stream itself ends after the terminal event.
  }, [id, terminal, Boolean(query.data), qc]);

  return { query, stream: terminal ? ("ended" as const) : stream, events };
}
