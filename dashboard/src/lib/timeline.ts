/** Steps placed on a shared time axis, for the Gantt chart of a run. */
import { parseDate } from "./format";

export interface TimelineInput {
  id: string;
  status: string;
  attempts?: number;
  started_at?: string | null;
  completed_at?: string | null;
}

export interface TimelineBar {
  id: string;
  status: string;
  attempts: number;
  /** Fractions of the axis, 0..1. */
  left: number;
  width: number;
  durationMs: number;
  open: boolean;
}

export interface Timeline {
  start: number;
  end: number;
  bars: TimelineBar[];
  /** Steps that have not started (no bar). */
  notStarted: string[];
}

export function buildTimeline(
  steps: TimelineInput[],
  runStart: string | null | undefined,
  runEnd: string | null | undefined,
  now: number = Date.now(),
): Timeline {
  const started = steps.filter((s) => parseDate(s.started_at));
  const starts = started.map((s) => parseDate(s.started_at)!.getTime());
  const rs = parseDate(runStart)?.getTime();
  const candidates = rs !== undefined ? [rs, ...starts] : starts;
  const start = candidates.length ? Math.min(...candidates) : now;
  const ends = started.map((s) => parseDate(s.completed_at)?.getTime() ?? now);
  const re = parseDate(runEnd)?.getTime();
  const end = Math.max(...ends, re ?? -Infinity, start + 1);
  const span = Math.max(end - start, 1);
  const bars = started
    .map((s) => {
      const a = parseDate(s.started_at)!.getTime();
      const done = parseDate(s.completed_at)?.getTime();
      const b = done ?? now;
      // A minimum width keeps instant steps visible, also at the very end of the axis.
      const width = Math.min(Math.max((b - a) / span, 0.004), 1);
      return {
        id: s.id,
        status: s.status,
        attempts: s.attempts ?? 1,
        left: Math.min((a - start) / span, 1 - width),
        width,
        durationMs: Math.max(b - a, 0),
        open: done === undefined,
      };
    })
    .sort((x, y) => x.left - y.left);
  return {
    start,
    end,
    bars,
    notStarted: steps.filter((s) => !parseDate(s.started_at)).map((s) => s.id),
  };
}
