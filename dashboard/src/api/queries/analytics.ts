/** `GET /analytics/summary`: counts, success rate, duration percentiles, runs over time. */
import { queryOptions } from "@tanstack/react-query";
import { api, unwrap, type Schemas } from "../client";
import { isMissingEndpoint } from "../problem";

export type AnalyticsSummary = Schemas["AnalyticsSummary"];

export const analyticsKeys = {
  all: ["analytics"] as const,
  summary: (hours: number) => [...analyticsKeys.all, "summary", hours] as const,
};

/** The summary of the last `hours`; null when this server has no analytics endpoint. */
export const analyticsSummaryQuery = (hours: number, refetchInterval: number | false = 30_000) =>
  queryOptions({
    queryKey: analyticsKeys.summary(hours),
    queryFn: async (): Promise<AnalyticsSummary | null> => {
      const since = new Date(Date.now() - hours * 3600_000).toISOString();
      try {
        return await unwrap(
          api.GET("/api/v1/analytics/summary", {
            params: { query: { since, bucket: hours <= 48 ? "hour" : "day" } },
          }),
        );
      } catch (e) {
        if (isMissingEndpoint(e)) return null;
        throw e;
      }
    },
    retry: false,
    refetchInterval,
  });

export interface WorkflowRow {
  id: string;
  name: string;
  runs: number;
  successRate: number | null;
  /** Milliseconds. */
  p50: number | null;
  p95: number | null;
}

export function workflowRows(summary: AnalyticsSummary): WorkflowRow[] {
  const ms = (s: number | null | undefined) => (typeof s === "number" ? s * 1000 : null);
  return summary.workflows.map((w) => ({
    id: w.workflow_id,
    name: w.name,
    runs: w.total,
    successRate: w.success_rate ?? null,
    p50: ms(w.durations.p50),
    p95: ms(w.durations.p95),
  }));
}

export interface TimeRow {
  label: string;
  completed: number;
  failed: number;
  other: number;
}

export function timeRows(summary: AnalyticsSummary): TimeRow[] {
  const hourly = summary.window.bucket === "hour";
  return summary.timeline.map((b) => {
    const d = new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(b.start) ? b.start : `${b.start}Z`);
    return {
      label: hourly
        ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
        : d.toLocaleDateString([], { month: "short", day: "numeric" }),
      completed: b.completed,
      failed: b.failed,
      other: Math.max(0, b.total - b.completed - b.failed),
    };
  });
}
