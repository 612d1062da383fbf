/**
 * What an n8n sync did, per workflow: created / updated / unchanged / archived, translated to
 * Headrace steps or delegated to n8n, and every reason for a delegation (not only the first),
 * the translator's notes, the secrets of webhooks it created (shown once) and the workflows
 * that could not be synced, each with its error.
 */
import { Link } from "react-router-dom";
import type { N8nSyncResult } from "../../api/queries/integrations";
import { CopyButton } from "../ui/CopyButton";
import { Badge } from "../ui/StatusBadge";
import { Table, Td, Th, Tr } from "../ui/Table";

type Synced = N8nSyncResult["workflows"][number];

export const MODE = {
  translated: {
    label: "translated",
    title: "Translated to Headrace steps: runs without n8n",
    className: "bg-emerald-50 text-emerald-800 ring-emerald-200 dark:bg-emerald-950/40 dark:text-emerald-300 dark:ring-emerald-900",
  },
  delegate: {
    label: "delegated to n8n",
    title: "Runs in n8n through its webhook: some part has no Headrace equal (see the reasons)",
    className: "bg-amber-50 text-amber-800 ring-amber-200 dark:bg-amber-950/40 dark:text-amber-300 dark:ring-amber-900",
  },
} as const;

function plural(n: number, word: string) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** "3 workflows synced: 2 translated, 1 delegated to n8n; 1 failed." */
export function syncSummary(result: N8nSyncResult): string {
  const translated = result.workflows.filter((w) => w.mode === "translated").length;
  const delegated = result.workflows.length - translated;
  const parts = [`${plural(result.synced_count, "workflow")} synced`];
  if (result.workflows.length) parts[0] += `: ${translated} translated, ${delegated} delegated to n8n`;
  if (result.errors.length) parts.push(`${result.errors.length} failed`);
  return `${parts.join("; ")}.`;
}

export function Lines({ items, label, testId }: { items: string[]; label: string; testId: string }) {
  if (!items.length) return null;
  return (
    <ul aria-label={label} data-testid={testId} className="list-disc space-y-0.5 pl-4">
      {items.map((item, i) => (
        <li key={i}>{item}</li>
      ))}
    </ul>
  );
}

function Row({ w }: { w: Synced }) {
  const mode = MODE[w.mode];
  const secrets = Object.entries(w.webhook_secrets ?? {});
  return (
    <Tr data-testid={`synced-${w.n8n_id}`} data-mode={w.mode} className="align-top">
      <Td className="whitespace-normal">
        <Link to={`/workflows/${w.workflow_id}`} className="font-medium text-teal-700 hover:underline dark:text-teal-400">
          {w.name}
        </Link>
        <span className="block font-mono text-[11px] text-slate-400">n8n {w.n8n_id}</span>
      </Td>
      <Td>
        <Badge>{w.action}</Badge>
      </Td>
      <Td>
        <span title={mode.title} data-testid="sync-mode" className={`inline-flex items-center rounded px-1.5 py-0.5 text-[11px] font-medium ring-1 ring-inset ${mode.className}`}>
          {mode.label}
        </span>
      </Td>
      <Td className="min-w-[18rem] whitespace-normal text-xs">
        {w.mode === "delegate" && (
          <div className="text-amber-800 dark:text-amber-300">
            <p className="font-medium">{w.reasons.length === 1 ? "Why it is delegated" : `Why it is delegated (${w.reasons.length} reasons)`}</p>
            {w.reasons.length ? (
              <Lines items={w.reasons} label={`Reasons ${w.name} is delegated`} testId="sync-reasons" />
            ) : (
              <p>No reason given.</p>
            )}
          </div>
        )}
        {w.notes.length > 0 && (
          <div className="mt-1 text-slate-500">
            <p className="font-medium">Notes</p>
            <Lines items={w.notes} label={`Notes on ${w.name}`} testId="sync-notes" />
          </div>
        )}
        {secrets.length > 0 && (
          <div className="mt-1 space-y-1">
            <p className="font-medium text-slate-700 dark:text-slate-300">Webhook secrets (shown once: copy them now)</p>
            {secrets.map(([path, secret]) => (
              <div key={path} className="flex items-center gap-2">
                <code className="text-slate-500">{path}</code>
                <code className="rounded bg-slate-100 px-1 dark:bg-slate-800">{secret}</code>
                <CopyButton text={secret} />
              </div>
            ))}
          </div>
        )}
        {w.mode === "translated" && !w.notes.length && !secrets.length && <span className="text-slate-400">—</span>}
      </Td>
    </Tr>
  );
}

export function SyncResult({ result }: { result: N8nSyncResult }) {
  return (
    <div className="space-y-3" data-testid="sync-result">
      <p className="text-sm text-slate-700 dark:text-slate-300" role="status">
        {syncSummary(result)}
      </p>
      {result.workflows.length > 0 && (
        <Table aria-label="Synced workflows">
          <thead>
            <tr>
              <Th>n8n workflow</Th>
              <Th>Result</Th>
              <Th>Mode</Th>
              <Th>Reasons and notes</Th>
            </tr>
          </thead>
          <tbody>
            {result.workflows.map((w) => (
              <Row key={w.n8n_id} w={w} />
            ))}
          </tbody>
        </Table>
      )}
      {result.errors.length > 0 && (
        <div className="rounded-md border border-red-200 bg-red-50 p-3 dark:border-red-900 dark:bg-red-950/40">
          <p className="text-sm font-medium text-red-800 dark:text-red-300">Not synced</p>
          <ul aria-label="Sync errors" data-testid="sync-errors" className="mt-1 space-y-1 text-xs text-red-700 dark:text-red-300">
            {result.errors.map((e) => (
              <li key={e.workflow_id}>
                <code className="font-semibold">{e.workflow_id}</code>: {e.error}
              </li>
            ))}
          </ul>
        </div>
      )}
    </div>
  );
}
