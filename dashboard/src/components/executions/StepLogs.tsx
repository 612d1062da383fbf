/**
 * The log lines of one step of a run (a `code` step's console.log lines, a `log` step's
 * message), read from `GET /executions/{id}/logs?step_id=` and followed while the run goes on.
 */
import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router-dom";
import { executionLogsQuery } from "../../api/queries/executions";
import { formatTime } from "../../lib/format";
import { LOG_LEVEL_TONE } from "../../lib/status";
import { cn } from "../ui/cn";

export function StepLogs({ executionId, stepId, follow }: { executionId: string; stepId: string; follow: boolean }) {
  const logs = useQuery(executionLogsQuery(executionId, { step_id: stepId }, follow));
  // Step lifecycle events are on the timeline already: only the lines the step logged.
  const lines = (logs.data?.data ?? []).filter((l) => l.type === "log");
  return (
    <div>
      <p className="mb-1 flex items-center gap-2 text-xs font-medium text-slate-600 dark:text-slate-400">
        Logs
        <Link
          to={`/logs?execution=${executionId}&step=${encodeURIComponent(stepId)}`}
          className="font-normal text-teal-700 hover:underline dark:text-teal-400"
        >
          open in Logs →
        </Link>
      </p>
      {logs.isPending ? (
        <p className="text-xs text-slate-400">Loading…</p>
      ) : logs.isError ? (
        <p className="text-xs text-red-600">The logs could not be read.</p>
      ) : lines.length === 0 ? (
        <p className="text-xs text-slate-400">No log lines{follow ? " yet" : ""}.</p>
      ) : (
        <ol
          className="max-h-48 overflow-auto rounded-md bg-white py-1 font-mono text-xs ring-1 ring-inset ring-slate-200 dark:bg-slate-950 dark:ring-slate-800"
          aria-label={`Logs of ${stepId}`}
          data-testid="step-logs"
        >
          {lines.map((l) => (
            <li key={l.id} className="flex gap-2 px-2 py-0.5">
              <span className="shrink-0 text-slate-400" title={l.ts}>
                {formatTime(l.ts)}
              </span>
              <span className={cn("w-12 shrink-0 uppercase", LOG_LEVEL_TONE[l.level] ?? "text-slate-500")}>{l.level}</span>
              {(l.attempt ?? 1) > 1 && <span className="shrink-0 text-slate-400">#{l.attempt}</span>}
              <span className="min-w-0 flex-1 whitespace-pre-wrap break-words text-slate-800 dark:text-slate-200">{l.message}</span>
            </li>
          ))}
        </ol>
      )}
    </div>
  );
}
