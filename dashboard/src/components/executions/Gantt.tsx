import { buildTimeline, type TimelineInput } from "../../lib/timeline";
import { formatDuration } from "../../lib/format";
import { statusStyle } from "../../lib/status";
import { cn } from "../ui/cn";

export function Gantt({
  steps,
  runStart,
  runEnd,
  now,
  onSelect,
}: {
  steps: TimelineInput[];
  runStart?: string | null;
  runEnd?: string | null;
  now: number;
  onSelect?: (id: string) => void;
}) {
  const t = buildTimeline(steps, runStart, runEnd, now);
  if (!t.bars.length) return <p className="px-4 py-6 text-sm text-slate-500">No step has started yet.</p>;
  const span = t.end - t.start;
  // Fewer labels on a very short run, where quarter ticks would all read "0 ms".
  const ticks = span < 40 ? [0, 1] : [0, 0.25, 0.5, 0.75, 1];
  return (
    <div className="px-4 py-3" data-testid="gantt">
      <div className="relative ml-32 mr-[5.5rem] h-5 text-[10px] text-slate-400">
        {ticks.map((f) => (
          <span key={f} className={cn("absolute whitespace-nowrap", f === 0 ? "" : f === 1 ? "-translate-x-full" : "-translate-x-1/2")} style={{ left: `${f * 100}%` }}>
            {formatDuration(span * f)}
          </span>
        ))}
      </div>
      <ul className="space-y-1">
        {t.bars.map((b) => {
          const s = statusStyle(b.status);
          return (
            <li key={b.id} className="flex items-center gap-2">
              <button
                type="button"
                onClick={() => onSelect?.(b.id)}
                className="w-[7.5rem] shrink-0 truncate text-left font-mono text-xs text-slate-700 hover:underline dark:text-slate-300"
                title={b.id}
              >
                {b.id}
              </button>
              <div className="relative h-5 flex-1 rounded bg-slate-100 dark:bg-slate-800">
                {ticks.slice(1, -1).map((f) => (
                  <span key={f} className="absolute inset-y-0 w-px bg-slate-200 dark:bg-slate-700" style={{ left: `${f * 100}%` }} />
                ))}
                <div
                  className={cn("absolute inset-y-0.5 rounded-sm", s.solid, b.open && "animate-pulse")}
                  style={{ left: `${b.left * 100}%`, width: `${b.width * 100}%` }}
                  title={`${b.id}: ${s.label}, ${formatDuration(b.durationMs)}${b.attempts > 1 ? `, ${b.attempts} attempts` : ""}`}
                />
              </div>
              <span className="w-20 shrink-0 text-right text-xs tabular-nums text-slate-500">
                {formatDuration(b.durationMs)}
                {b.attempts > 1 && <span className="ml-1 text-orange-600">×{b.attempts}</span>}
              </span>
            </li>
          );
        })}
      </ul>
      {t.notStarted.length > 0 && (
        <p className="mt-2 text-xs text-slate-400">Not started: {t.notStarted.join(", ")}</p>
      )}
    </div>
  );
}
