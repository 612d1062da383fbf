import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useMemo } from "react";
import { Link } from "react-router-dom";
import { freshAccessToken } from "../api/session";
import { analyticsKeys, analyticsSummaryQuery, type AnalyticsSummary } from "../api/queries/analytics";
import { executionKeys, executionListQuery, type ExecutionSummary } from "../api/queries/executions";
import { workflowListQuery } from "../api/queries/workflows";
import { ExecutionTable } from "../components/executions/ExecutionTable";
import { Card, CardHeader, PageHeader } from "../components/ui/Card";
import { Loading } from "../components/ui/Spinner";
import { EmptyState, ErrorState } from "../components/ui/States";
import { parseDate } from "../lib/format";
import { statusStyle } from "../lib/status";
import { cn } from "../components/ui/cn";

const DAY = 24 * 3600 * 1000;

/** Counts of the last 24 h from a page of recent executions (newest first). */
export function summarise(executions: ExecutionSummary[], now: number = Date.now()) {
  const recent = executions.filter((e) => {
    const d = parseDate(e.created_at);
    return d !== null && now - d.getTime() <= DAY;
  });
  const by = (s: string) => recent.filter((e) => e.status === s).length;
  const ended = by("completed") + by("failed");
  return {
    total: recent.length,
    running: by("running") + by("pending"),
    waiting: by("waiting") + by("paused"),
    failed: by("failed"),
    completed: by("completed"),
    successRate: ended ? by("completed") / ended : null,
  };
}

/** The same figures from the analytics endpoint (exact counts, not limited to one page). */
export function fromAnalytics(a: AnalyticsSummary) {
  const c = a.counts;
  return {
    total: a.total,
    running: c.running + c.pending,
    waiting: c.waiting + c.paused,
    failed: c.failed,
    completed: c.completed,
    successRate: a.success_rate ?? null,
  };
}

/** Live refresh over the events WebSocket when the server has it; polling otherwise. */
function useLiveInvalidation() {
  const qc = useQueryClient();
  useEffect(() => {
    let socket: WebSocket | null = null;
    let closed = false;
    let timer: ReturnType<typeof setTimeout> | null = null;
    let retry: ReturnType<typeof setTimeout> | null = null;
    let failures = 0;
    // The server closes a socket whose credentials stopped working (e.g. the access token
    // expired: code 1008); reconnect with a fresh token, backing off while it keeps failing.
    async function connect(): Promise<void> {
      const token = await freshAccessToken();
      if (closed || !token || typeof WebSocket === "undefined") return;
      const proto = window.location.protocol === "https:" ? "wss" : "ws";
      try {
        socket = new WebSocket(`${proto}://${window.location.host}/api/v1/ws/events?access_token=${encodeURIComponent(token)}`);
      } catch {
        return;
      }
      socket.onopen = () => {
        failures = 0;
      };
      socket.onmessage = () => {
        if (timer) return;
        timer = setTimeout(() => {
          timer = null;
          void qc.invalidateQueries({ queryKey: executionKeys.lists() });
          void qc.invalidateQueries({ queryKey: analyticsKeys.all });
        }, 1000);
      };
      socket.onclose = () => {
        if (closed || failures >= 5) return;
        failures++;
        retry = setTimeout(() => void connect(), Math.min(1000 * 2 ** failures, 30_000));
      };
    }
    void connect();
    return () => {
      closed = true;
      if (timer) clearTimeout(timer);
      if (retry) clearTimeout(retry);
      socket?.close();
    };
  }, [qc]);
}

function Stat({ label, value, status, hint }: { label: string; value: string | number; status?: string; hint?: string }) {
  const s = status ? statusStyle(status) : null;
  return (
    <Card className="p-4">
      <div className="flex items-center gap-2 text-xs font-medium text-slate-500 dark:text-slate-400">
        {s && <span className={cn("h-2 w-2 rounded-full", s.solid)} />}
        {label}
      </div>
      <p className="mt-2 text-2xl font-semibold tabular-nums text-slate-900 dark:text-white" data-testid={`stat-${label.toLowerCase().replace(/\W+/g, "-")}`}>
        {value}
      </p>
      {hint && <p className="mt-0.5 text-xs text-slate-400">{hint}</p>}
    </Card>
  );
}

export default function DashboardPage() {
  useLiveInvalidation();
  const recent = useQuery(executionListQuery({ limit: 100, offset: 0 }, 5000));
  const analytics = useQuery(analyticsSummaryQuery(24, 5000));
  const workflows = useQuery(workflowListQuery({ limit: 500, offset: 0 }));
  const names = useMemo(() => Object.fromEntries((workflows.data?.data ?? []).map((w) => [w.id, w.name])), [workflows.data]);
  const stats = useMemo(
    () => (analytics.data ? fromAnalytics(analytics.data) : summarise(recent.data?.data ?? [])),
    [analytics.data, recent.data],
  );

  return (
    <>
      <PageHeader title="Dashboard" description="The last 24 hours of runs." />
      {recent.isError ? (
        <ErrorState error={recent.error} retry={() => void recent.refetch()} />
      ) : (
        <>
          <div className="mb-6 grid grid-cols-2 gap-4 lg:grid-cols-5">
            <Stat label="Running" value={recent.isPending ? "…" : stats.running} status="running" />
            <Stat label="Waiting" value={recent.isPending ? "…" : stats.waiting} status="waiting" hint="for an event, an approval or a resume" />
            <Stat label="Failed" value={recent.isPending ? "…" : stats.failed} status="failed" />
            <Stat label="Completed" value={recent.isPending ? "…" : stats.completed} status="completed" />
            <Stat label="Success rate" value={recent.isPending ? "…" : stats.successRate === null ? "—" : `${Math.round(stats.successRate * 100)}%`} hint={`${stats.total} runs`} />
          </div>
          <Card>
            <CardHeader
              title="Recent executions"
              actions={
                <Link to="/workflows" className="text-xs font-medium text-teal-700 hover:underline dark:text-teal-400">
                  Workflows →
                </Link>
              }
            />
            {recent.isPending ? (
              <Loading />
            ) : recent.data.data.length === 0 ? (
              <EmptyState title="No runs yet" description="Open a workflow and press Run; its executions appear here live." />
            ) : (
              <ExecutionTable executions={recent.data.data.slice(0, 15)} workflowNames={names} />
            )}
          </Card>
        </>
      )}
    </>
  );
}
