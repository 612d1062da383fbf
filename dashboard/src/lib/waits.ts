/** What a run waits for, from `waiting_for` ({step: {kind, event, approvers, message?, deadline?}} or {step: "approval"}). */
import { isRecord } from "./definition";

export interface Wait {
  stepId: string;
  kind: "approval" | "event" | "park" | string;
  event?: string;
  approvers: string[];
  /** An approval's question (its `with.message`, evaluated by the run). */
  message?: string;
  /** When the wait times out (ISO time), if it does. */
  deadline?: string;
}

export function readWaits(waitingFor: unknown): Wait[] {
  if (!isRecord(waitingFor)) return [];
  return Object.entries(waitingFor).map(([stepId, raw]) => {
    if (typeof raw === "string") {
      return raw === "approval" ? { stepId, kind: "approval", approvers: [] } : { stepId, kind: "event", event: raw, approvers: [] };
    }
    const w = isRecord(raw) ? raw : {};
    return {
      stepId,
      kind: typeof w.kind === "string" ? w.kind : "event",
      event: typeof w.event === "string" ? w.event : undefined,
      approvers: Array.isArray(w.approvers) ? w.approvers.filter((a): a is string => typeof a === "string") : [],
      message: typeof w.message === "string" ? w.message : undefined,
      deadline: typeof w.deadline === "string" ? w.deadline : undefined,
    };
  });
}

/**
 * Every wait of a run: `waiting_for` when the server fills it, completed by the steps whose
 * status is `waiting`, read against the definition (an `approval` step waits for a decision,
 * a `wait_for_event` step for its `with.event`, an `on_error: park` step for an operator).
 */
export function collectWaits(
  waitingFor: unknown,
  steps: { id: string; status: string; error?: string | null }[],
  definition: unknown,
): Wait[] {
  const waits = readWaits(waitingFor);
  const known = new Set(waits.map((w) => w.stepId));
  const defined = isRecord(definition) && Array.isArray(definition.steps) ? definition.steps.filter(isRecord) : [];
  for (const s of steps) {
    if (s.status !== "waiting" || known.has(s.id)) continue;
    const def = defined.find((d) => d.id === s.id);
    const w = def && isRecord(def.with) ? def.with : {};
    if (def?.on_error === "park" && s.error) {
      // A parked step reads `waiting` and keeps the error it failed with.
      waits.push({ stepId: s.id, kind: "park", approvers: [] });
    } else if (def?.type === "approval") {
      const approvers = Array.isArray(w.approvers) ? w.approvers.filter((a): a is string => typeof a === "string") : [];
      waits.push({ stepId: s.id, kind: "approval", approvers });
    } else if (def?.type === "wait_for_event") {
      waits.push({ stepId: s.id, kind: "event", event: typeof w.event === "string" ? w.event : undefined, approvers: [] });
    }
  }
  return waits;
}
