import { useEffect, useRef } from "react";
import type { Step } from "../../api/queries/executions";
import type { StepInfo } from "../../lib/definition";
import { durationBetween, formatDuration, formatTime } from "../../lib/format";
import { displayStepStatus, stepTypeColour } from "../../lib/status";
import { JsonView } from "../ui/JsonView";
import { AgentTranscript } from "./AgentTranscript";
import { StepLogs } from "./StepLogs";
import { StatusBadge } from "../ui/StatusBadge";
import { cn } from "../ui/cn";

export interface StepRow {
  id: string;
  type?: string;
  info?: StepInfo;
  runtime?: Step;
}

/** Definition order first, then any runtime step the definition does not name. */
export function mergeSteps(defined: StepInfo[], runtime: Step[]): StepRow[] {
  const byId = new Map(runtime.map((s) => [s.id, s]));
  const rows: StepRow[] = defined.map((d) => ({ id: d.id, type: d.type, info: d, runtime: byId.get(d.id) }));
  const known = new Set(defined.map((d) => d.id));
  for (const s of runtime) if (!known.has(s.id)) rows.push({ id: s.id, runtime: s });
  return rows;
}

export function StepList({
  rows,
  selected,
  onSelect,
  now,
  runEnded = false,
  executionId,
}: {
  rows: StepRow[];
  selected: string | null;
  onSelect: (id: string | null) => void;
  now: number;
  runEnded?: boolean;
  /** The run, for the open step's log lines (none shown without it). */
  executionId?: string;
}) {
  const refs = useRef<Record<string, HTMLLIElement | null>>({});
  useEffect(() => {
    if (selected) refs.current[selected]?.scrollIntoView({ block: "nearest", behavior: "smooth" });
  }, [selected]);
  return (
    <ul className="divide-y divide-slate-100 dark:divide-slate-800" aria-label="Steps">
      {rows.map((row) => {
        const r = row.runtime;
        const open = selected === row.id;
        const status = displayStepStatus(r?.status, runEnded);
        return (
          <li
            key={row.id}
            ref={(el) => {
              refs.current[row.id] = el;
            }}
            data-testid={`step-row-${row.id}`}
            data-status={status}
          >
            <button
              type="button"
              aria-expanded={open}
              onClick={() => onSelect(open ? null : row.id)}
              className={cn(
                "flex w-full items-center gap-3 px-4 py-2.5 text-left hover:bg-slate-50 dark:hover:bg-slate-800/50",
                open && "bg-slate-50 dark:bg-slate-800/50",
              )}
            >
              <span className="h-6 w-1 rounded" style={{ background: stepTypeColour(row.type) }} aria-hidden />
              <span className="min-w-0 flex-1">
                <span className="block truncate font-mono text-sm font-medium text-slate-900 dark:text-slate-100">{row.id}</span>
                <span className="text-xs text-slate-500">{row.type ?? "step"}</span>
              </span>
              <span className="hidden text-xs tabular-nums text-slate-500 sm:block">
                {r?.started_at ? formatTime(r.started_at) : ""}
              </span>
              <span className="w-16 text-right text-xs tabular-nums text-slate-500">
                {r?.started_at ? formatDuration(durationBetween(r.started_at, r.completed_at, now)) : ""}
              </span>
              <span className="w-8 text-right text-xs text-slate-500" title="attempts">
                {(r?.attempts ?? 0) > 1 ? `×${r?.attempts}` : ""}
              </span>
              <StatusBadge status={status} className="w-24 justify-center" />
            </button>
            {open && (
              <div className="space-y-3 bg-slate-50/60 px-4 pb-4 pt-2 dark:bg-slate-900/40">
                <dl className="grid grid-cols-2 gap-x-6 gap-y-1 text-xs sm:grid-cols-4">
                  <div>
                    <dt className="text-slate-500">Attempts</dt>
                    <dd>{r?.attempts ?? 0}</dd>
                  </div>
                  <div>
                    <dt className="text-slate-500">Started</dt>
                    <dd>{formatTime(r?.started_at)}</dd>
                  </div>
                  <div>
                    <dt className="text-slate-500">Ended</dt>
                    <dd>{formatTime(r?.completed_at)}</dd>
                  </div>
                  <div>
                    <dt className="text-slate-500">Depends on</dt>
                    <dd className="font-mono">{row.info?.dependsOn.join(", ") || "—"}</dd>
                  </div>
                </dl>
                {r?.error && (
                  <div>
                    <p className="mb-1 text-xs font-medium text-red-700 dark:text-red-400">Error</p>
                    <pre className="overflow-auto whitespace-pre-wrap rounded-md bg-red-50 p-3 font-mono text-xs text-red-800 ring-1 ring-inset ring-red-200 dark:bg-red-950/50 dark:text-red-300 dark:ring-red-900" data-testid="step-error">
                      {r.error}
                    </pre>
                  </div>
                )}
                {executionId && r && row.type === "agent" && (
                  <AgentTranscript executionId={executionId} stepId={row.id} output={r.output} follow={!runEnded} />
                )}
                <div>
                  <p className="mb-1 text-xs font-medium text-slate-600 dark:text-slate-400">Output</p>
                  {r?.output !== undefined && r?.output !== null ? (
                    <JsonView value={r.output} />
                  ) : (
                    <p className="text-xs text-slate-400">No output{status === "pending" || status === "running" ? " yet" : ""}.</p>
                  )}
                </div>
                {executionId && r && <StepLogs executionId={executionId} stepId={row.id} follow={!runEnded} />}
              </div>
            )}
          </li>
        );
      })}
    </ul>
  );
}
