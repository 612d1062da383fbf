import { useQuery } from "@tanstack/react-query";
import { lazy, Suspense, useMemo, useState } from "react";
import { Link, useParams } from "react-router-dom";
import { useExecutionLive } from "../../api/queries/useExecutionLive";
import { workflowQuery, workflowVersionsQuery } from "../../api/queries/workflows";
import { ExecutionActions } from "../../components/executions/ExecutionActions";
import { Gantt } from "../../components/executions/Gantt";
import { mergeSteps, StepList } from "../../components/executions/StepList";
import { Card, CardHeader, PageHeader } from "../../components/ui/Card";
import { JsonView } from "../../components/ui/JsonView";
import { Loading } from "../../components/ui/Spinner";
import { ErrorState } from "../../components/ui/States";
import { StatusBadge } from "../../components/ui/StatusBadge";
import type { StepRuntime } from "../../components/workflows/WorkflowGraph";
import { readSteps } from "../../lib/definition";
import { durationBetween, formatDateTime, formatDuration, formatTime, shortId } from "../../lib/format";
import { displayStepStatus, isTerminal } from "../../lib/status";
import { useNow } from "../../lib/useNow";
import { cn } from "../../components/ui/cn";

const WorkflowGraph = lazy(() => import("../../components/workflows/WorkflowGraph"));

function LiveIndicator({ stream, terminal }: { stream: string; terminal: boolean }) {
  if (terminal) return null;
  const live = stream === "live";
  return (
    <span className="inline-flex items-center gap-1.5 text-xs text-slate-500" title={live ? "Live events (SSE)" : "Refreshing every second"}>
      <span className={cn("h-2 w-2 rounded-full", live ? "animate-pulse bg-emerald-500" : "bg-sky-500")} />
      {live ? "live" : "polling"}
    </span>
  );
}

export default function ExecutionPage() {
  const { id = "" } = useParams();
  const { query, stream, events } = useExecutionLive(id);
  const execution = query.data;
  const workflow = useQuery({ ...workflowQuery(execution?.workflow_id ?? ""), enabled: Boolean(execution) });
  const versions = useQuery({ ...workflowVersionsQuery(execution?.workflow_id ?? ""), enabled: Boolean(execution) });
  const [selected, setSelected] = useState<string | null>(null);
  const terminal = isTerminal(execution?.status);
  const now = useNow(Boolean(execution) && !terminal);

  // The run's own version of the definition; the current one until the versions arrive.
  const definition = useMemo(() => {
    const v = versions.data?.find((x) => x.version === execution?.version);
    return v?.definition ?? workflow.data?.definition ?? null;
  }, [versions.data, workflow.data, execution?.version]);

  const runtime = useMemo(() => {
    const map: Record<string, StepRuntime> = {};
    for (const s of execution?.steps ?? []) map[s.id] = { status: displayStepStatus(s.status, terminal), attempts: s.attempts };
    // Steps not reached yet are pending (or skipped, once the run is over).
    for (const s of readSteps(definition)) if (!map[s.id]) map[s.id] = { status: displayStepStatus("pending", terminal) };
    return map;
  }, [execution?.steps, definition, terminal]);

  const rows = useMemo(() => mergeSteps(readSteps(definition), execution?.steps ?? []), [definition, execution?.steps]);

  if (query.isPending) return <Loading />;
  if (query.isError) return <ErrorState error={query.error} retry={() => void query.refetch()} />;
  const e = execution!;

  return (
    <>
      <PageHeader
        title={
          <span className="flex items-center gap-3">
            <span>
              Execution <span className="font-mono">{shortId(e.id)}</span>
            </span>
            <StatusBadge status={e.status} className="text-sm" />
            <LiveIndicator stream={stream} terminal={terminal} />
          </span>
        }
        description={
          <span className="flex flex-wrap gap-x-3 gap-y-1">
            <Link to={`/workflows/${e.workflow_id}`} className="text-teal-700 hover:underline dark:text-teal-400">
              {workflow.data?.name ?? "workflow"}
            </Link>
            <span>v{e.version}</span>
            <span>trigger: {e.trigger_type}</span>
            {e.execution_mode === "express" && <span data-testid="execution-mode">express run (no history, at least once)</span>}
            {e.status === "queued" && (
              <span data-testid="queue-position">
                waiting for a concurrency permit{e.queue_position != null ? ` (place ${e.queue_position} in the queue)` : ""}
              </span>
            )}
            <span>started {formatDateTime(e.started_at ?? e.created_at)}</span>
            <span>duration {formatDuration(durationBetween(e.started_at ?? e.created_at, e.completed_at, now))}</span>
          </span>
        }
      />

      {e.error_message && (
        <div role="alert" className="mb-4 rounded-md border border-red-200 bg-red-50 p-3 dark:border-red-900 dark:bg-red-950/40" data-testid="execution-error">
          <p className="text-sm font-medium text-red-800 dark:text-red-300">The run failed</p>
          <pre className="mt-1 whitespace-pre-wrap font-mono text-xs text-red-700 dark:text-red-300">{e.error_message}</pre>
        </div>
      )}

      <div className="mb-4">
        <ExecutionActions execution={e} definition={definition} />
      </div>

      <div className="grid gap-4 xl:grid-cols-[3fr_2fr]">
        <Card className="min-w-0">
          <CardHeader title="Graph" description="Coloured by step status; click a step for its details." />
          <Suspense fallback={<Loading label="Loading graph…" />}>
            {definition ? (
              <WorkflowGraph definition={definition} runtime={runtime} selectedStep={selected} onSelectStep={setSelected} className="h-[420px]" />
            ) : (
              <div className="h-[420px]" />
            )}
          </Suspense>
        </Card>
        <Card className="min-w-0">
          <CardHeader title="Steps" description={`${e.steps.filter((s) => s.status === "completed").length} of ${rows.length} completed`} />
          <div className="max-h-[420px] overflow-auto">
            <StepList rows={rows} selected={selected} onSelect={setSelected} now={now} runEnded={terminal} executionId={e.id} />
          </div>
        </Card>
      </div>

      <Card className="mt-4">
        <CardHeader title="Timeline" description="When each step ran, on one axis (× = attempts)." />
        <Gantt steps={e.steps} runStart={e.started_at ?? e.created_at} runEnd={e.completed_at} now={now} onSelect={setSelected} />
      </Card>

      <div className="mt-4 grid gap-4 lg:grid-cols-2">
        <Card>
          <CardHeader title="Input" />
          <div className="p-4">
            <JsonView value={e.input_data} />
          </div>
        </Card>
        <Card>
          <CardHeader title="Output" />
          <div className="p-4">
            {e.status === "completed" ? <JsonView value={e.output_data} /> : <p className="text-sm text-slate-500">{terminal ? "No output." : "Not finished yet."}</p>}
          </div>
        </Card>
      </div>

      {events.length > 0 && (
        <Card className="mt-4">
          <CardHeader
            title="Live events"
            actions={
              <Link to={`/logs?execution=${e.id}`} className="text-xs font-medium text-teal-700 hover:underline dark:text-teal-400">
                All logs →
              </Link>
            }
          />
          <ol className="max-h-64 overflow-auto px-4 py-2 font-mono text-xs">
            {events
              .slice(-100)
              .reverse()
              .map((ev, i) => (
                <li key={`${ev.id ?? i}-${ev.type}`} className="flex gap-3 py-0.5">
                  <span className="text-slate-400">{formatTime(ev.ts)}</span>
                  <span className="w-40 shrink-0 text-slate-600 dark:text-slate-300">{ev.type}</span>
                  <span className="text-slate-500">{ev.step_id ?? ""}</span>
                  {ev.type === "log" && ev.data != null && <span className="truncate">{typeof ev.data === "string" ? ev.data : JSON.stringify(ev.data)}</span>}
                </li>
              ))}
          </ol>
        </Card>
      )}
    </>
  );
}
