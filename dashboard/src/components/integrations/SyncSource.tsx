/**
 * On a workflow synced from n8n: where it came from, translated or delegated, and every reason
 * (the `source` the sync stored), so the answer outlives the sync's own result.
 */
import { isRecord } from "../../lib/definition";
import { Lines, MODE } from "./SyncResult";

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : []);

export function SyncSource({ source }: { source: unknown }) {
  if (!isRecord(source) || source.kind !== "n8n") return null;
  const mode = source.mode === "delegate" ? MODE.delegate : MODE.translated;
  const reasons = strings(source.reasons);
  const notes = strings(source.notes);
  return (
    <div className="mb-4 rounded-md border border-slate-200 p-3 text-xs dark:border-slate-800" data-testid="sync-source">
      <p className="flex flex-wrap items-center gap-2">
        <span>Synced from n8n{typeof source.n8n_id === "string" ? ` (${source.n8n_id})` : ""}</span>
        <span title={mode.title} className={`inline-flex items-center rounded px-1.5 py-0.5 text-[11px] font-medium ring-1 ring-inset ${mode.className}`}>
          {mode.label}
        </span>
        {source.deleted_upstream ? <span className="text-red-600">deleted in n8n</span> : null}
      </p>
      {reasons.length > 0 && (
        <div className="mt-1 text-amber-800 dark:text-amber-300">
          <Lines items={reasons} label="Why it is delegated" testId="source-reasons" />
        </div>
      )}
      {notes.length > 0 && (
        <div className="mt-1 text-slate-500">
          <Lines items={notes} label="Notes from the sync" testId="source-notes" />
        </div>
      )}
    </div>
  );
}
