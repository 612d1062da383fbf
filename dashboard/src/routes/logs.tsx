import { useQuery } from "@tanstack/react-query";
import { useMemo, useState } from "react";
import { Link, useSearchParams } from "react-router-dom";
import { executionListQuery, executionLogsQuery } from "../api/queries/executions";
import { Card, PageHeader } from "../components/ui/Card";
import { Input, Select } from "../components/ui/Input";
import { Loading } from "../components/ui/Spinner";
import { EmptyState, ErrorState } from "../components/ui/States";
import { formatDateTime, formatTime, shortId } from "../lib/format";
import { isTerminal, LOG_LEVEL_TONE } from "../lib/status";
import { cn } from "../components/ui/cn";
import { useDebounced } from "../lib/useDebounced";

export default function LogsPage() {
  const [params, setParams] = useSearchParams();
  const executionId = params.get("execution") ?? "";
  const level = params.get("level") ?? "";
  const [stepInput, setStepInput] = useState(params.get("step") ?? "");
  const stepId = useDebounced(stepInput.trim(), 300);
  const [follow, setFollow] = useState(true);
  const executions = useQuery(executionListQuery({ limit: 100, offset: 0 }));
  const selected = executions.data?.data.find((e) => e.id === executionId);
  const live = follow && (!selected || !isTerminal(selected.status));
  const logs = useQuery({
    ...executionLogsQuery(executionId, { level: level || undefined, step_id: stepId || undefined }, live),
    enabled: Boolean(executionId),
  });
  const set = (k: string, v: string) => {
    const p = new URLSearchParams(params);
    if (v) p.set(k, v);
    else p.delete(k);
    setParams(p, { replace: true });
  };
  const entries = useMemo(() => logs.data?.data ?? [], [logs.data]);

  return (
    <>
      <PageHeader title="Logs" description="What an execution recorded: step events and log messages." />
      <Card>
        <div className="flex flex-wrap items-end gap-3 border-b border-slate-200 p-3 dark:border-slate-800">
          <label className="flex min-w-[18rem] flex-1 flex-col gap-1 text-xs font-medium text-slate-600 dark:text-slate-400">
            Execution
            <Select value={executionId} onChange={(e) => set("execution", e.target.value)} aria-label="Execution">
              <option value="">Choose an execution…</option>
              {executions.data?.data.map((e) => (
                <option key={e.id} value={e.id}>
                  {shortId(e.id)} · {e.status} · {formatDateTime(e.created_at)}
                </option>
              ))}
            </Select>
          </label>
          <label className="flex flex-col gap-1 text-xs font-medium text-slate-600 dark:text-slate-400">
            Level
            <Select value={level} onChange={(e) => set("level", e.target.value)} className="w-32" aria-label="Level">
              <option value="">All</option>
              <option value="debug">debug</option>
              <option value="info">info</option>
              <option value="warning">warning</option>
              <option value="error">error</option>
            </Select>
          </label>
          <label className="flex flex-col gap-1 text-xs font-medium text-slate-600 dark:text-slate-400">
            Step
            <Input
              value={stepInput}
              onChange={(e) => {
                setStepInput(e.target.value);
                set("step", e.target.value.trim());
              }}
              placeholder="step id"
              className="w-40"
              aria-label="Step"
            />
          </label>
          <label className="flex h-9 items-center gap-2 text-sm">
            <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.target.checked)} className="h-4 w-4 rounded border-slate-300 text-teal-600" />
            Live tail
          </label>
          {executionId && (
            <Link to={`/executions/${executionId}`} className="h-9 self-end py-2 text-xs font-medium text-teal-700 hover:underline dark:text-teal-400">
              Open execution →
            </Link>
          )}
        </div>
        {!executionId ? (
          executions.isPending ? (
            <Loading />
          ) : executions.isError ? (
            <ErrorState error={executions.error} className="m-4" />
          ) : (
            <EmptyState title="Pick an execution" description={executions.data.data.length ? "Its logs appear here, and follow it while it runs." : "No executions yet: run a workflow first."} />
          )
        ) : logs.isPending ? (
          <Loading />
        ) : logs.isError ? (
          <ErrorState error={logs.error} retry={() => void logs.refetch()} className="m-4" />
        ) : entries.length === 0 ? (
          <EmptyState title="No log entries" description={level || stepId ? "Nothing matches these filters." : "This execution has not logged anything yet."} />
        ) : (
          <ol className="max-h-[70vh] overflow-auto py-2 font-mono text-xs" aria-label="Log entries" data-testid="log-entries">
            {entries.map((l) => (
              <li key={l.id} className="flex gap-3 px-4 py-0.5 hover:bg-slate-50 dark:hover:bg-slate-800/50">
                <span className="shrink-0 text-slate-400" title={l.ts}>
                  {formatTime(l.ts)}
                </span>
                <span className={cn("w-14 shrink-0 uppercase", LOG_LEVEL_TONE[l.level] ?? "text-slate-500")}>{l.level}</span>
                <span className="w-36 shrink-0 truncate text-slate-500" title={l.type}>
                  {l.type}
                </span>
                <span className="w-28 shrink-0 truncate text-slate-600 dark:text-slate-300">{l.step_id ?? ""}{l.attempt && l.attempt > 1 ? ` #${l.attempt}` : ""}</span>
                <span className="min-w-0 flex-1 whitespace-pre-wrap break-words text-slate-800 dark:text-slate-200">
                  {l.message}
                  {l.data != null && l.type !== "log" && <span className="ml-2 text-slate-400">{JSON.stringify(l.data).slice(0, 300)}</span>}
                </span>
              </li>
            ))}
          </ol>
        )}
      </Card>
    </>
  );
}
