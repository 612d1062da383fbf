import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router-dom";
import { errorMessage } from "../../api/problem";
import { useTriggerAction, workflowTriggersQuery, type Trigger, type Workflow } from "../../api/queries/workflows";
import { formatDateTime, formatRelative } from "../../lib/format";
import { isRecord } from "../../lib/definition";
import { Button } from "../ui/Button";
import { CopyButton } from "../ui/CopyButton";
import { Loading } from "../ui/Spinner";
import { EmptyState, ErrorState } from "../ui/States";
import { Badge } from "../ui/StatusBadge";
import { useToast } from "../ui/toast";

/** The `curl` that calls a webhook, signed the way its authentication asks. */
export function webhookCurl(config: Record<string, unknown>, url: string | null | undefined, origin: string): string {
  const method = typeof config.method === "string" ? config.method : "POST";
  const target = url ?? `${origin}/hooks/${typeof config.url_path === "string" ? config.url_path : "<url_path>"}`;
  const auth = isRecord(config.authentication) ? config.authentication : {};
  const body = `'{"hello": "world"}'`;
  if (auth.type === "hmac") {
    return [
      `BODY=${body}`,
      `SIG=$(printf '%s' "$BODY" | openssl dgst -sha256 -hmac "$WEBHOOK_SECRET" | sed 's/^.* //')`,
      `curl -X ${method} '${target}' \\`,
      `  -H 'Content-Type: application/json' \\`,
      `  -H "X-Headrace-Signature: sha256=$SIG" \\`,
      `  -H "Idempotency-Key: $(uuidgen)" \\`,
      `  --data "$BODY"`,
    ].join("\n");
  }
  const lines = [`curl -X ${method} '${target}' \\`, `  -H 'Content-Type: application/json' \\`];
  if (auth.type === "header") {
    const header = typeof auth.header === "string" && auth.header ? auth.header : "X-Headrace-Token";
    lines.push(`  -H "${header}: $WEBHOOK_SECRET" \\`);
  }
  lines.push(`  --data ${body}`);
  return lines.join("\n");
}

/** One trigger as the workflow document declares it, or as the triggers endpoint lists it. */
interface TriggerView {
  id?: string;
  type: string;
  config: Record<string, unknown>;
  paused: boolean;
  url?: string | null;
  secret?: string | null;
  nextRuns: string[];
  recentRuns: { at: string; execution_id?: string | null }[];
}

function fromServer(t: Trigger): TriggerView {
  return {
    id: t.id,
    type: t.type,
    config: t.config,
    paused: t.paused,
    url: t.url,
    secret: t.secret,
    nextRuns: t.schedule?.next_action_times ?? [],
    recentRuns: (t.schedule?.recent_actions ?? []).map((a) => ({ at: a.started_at, execution_id: a.execution_id })),
  };
}

function fromDocument(t: Record<string, unknown>): TriggerView {
  return { type: String(t.type ?? "?"), config: t, paused: t.paused === true, nextRuns: [], recentRuns: [] };
}

function TriggerCard({ trigger, workflowId }: { trigger: TriggerView; workflowId: string }) {
  const action = useTriggerAction(workflowId);
  const toast = useToast();
  const c = trigger.config;
  const run = async (kind: "pause" | "resume" | "run-now", message: string) => {
    if (!trigger.id) return;
    try {
      await action.mutateAsync({ id: trigger.id, action: kind });
      toast(message, "success");
    } catch (e) {
      toast(errorMessage(e), "error");
    }
  };
  const curl = webhookCurl(c, trigger.url, window.location.origin);
  return (
    <div className="space-y-2 rounded-md border border-slate-200 bg-white p-3 dark:border-slate-800 dark:bg-slate-900" data-testid={`trigger-${trigger.type}`}>
      <div className="flex flex-wrap items-center justify-between gap-2">
        <div className="flex flex-wrap items-center gap-2">
          <Badge>{trigger.type}</Badge>
          {trigger.type === "schedule" && (
            <code className="text-xs">
              {typeof c.cron === "string" ? `cron ${c.cron}` : `every ${String(c.interval ?? "?")}`}
              {typeof c.timezone === "string" ? ` (${c.timezone})` : ""}
            </code>
          )}
          {trigger.type === "webhook" && (
            <code className="text-xs">
              {String(c.method ?? "POST")} /hooks/{String(c.url_path ?? "…")}
              {isRecord(c.authentication) && c.authentication.type !== "none" ? ` · ${String(c.authentication.type)} auth` : ""}
            </code>
          )}
          {trigger.paused && <Badge className="text-amber-700 dark:text-amber-300">paused</Badge>}
        </div>
        {trigger.id && trigger.type === "schedule" && (
          <div className="flex gap-2">
            <Button size="sm" disabled={action.isPending} onClick={() => run("run-now", "Started a run now")}>
              Run now
            </Button>
            {trigger.paused ? (
              <Button size="sm" disabled={action.isPending} onClick={() => run("resume", "Schedule resumed")}>
                Resume
              </Button>
            ) : (
              <Button size="sm" disabled={action.isPending} onClick={() => run("pause", "Schedule paused")}>
                Pause
              </Button>
            )}
          </div>
        )}
      </div>
      {trigger.type === "schedule" && trigger.nextRuns.length > 0 && (
        <div className="text-xs text-slate-600 dark:text-slate-400">
          Next runs:{" "}
          {trigger.nextRuns.slice(0, 5).map((n) => (
            <span key={n} className="mr-3 font-mono" title={n}>
              {formatDateTime(n)}
            </span>
          ))}
        </div>
      )}
      {trigger.recentRuns.length > 0 && (
        <div className="text-xs text-slate-500">
          Recent runs:{" "}
          {trigger.recentRuns.slice(-3).map((r, i) =>
            r.execution_id ? (
              <Link key={i} to={`/executions/${r.execution_id}`} className="mr-3 text-teal-700 hover:underline dark:text-teal-400">
                {formatRelative(r.at)}
              </Link>
            ) : (
              <span key={i} className="mr-3">
                {formatRelative(r.at)}
              </span>
            ),
          )}
        </div>
      )}
      {trigger.type === "webhook" && (
        <div className="space-y-1">
          <div className="flex items-center justify-between">
            <span className="text-xs font-medium text-slate-600 dark:text-slate-400">Call it</span>
            <CopyButton text={curl} label="Copy curl" />
          </div>
          <pre className="overflow-x-auto rounded bg-slate-900 p-3 font-mono text-xs text-slate-100">{curl}</pre>
          {isRecord(c.authentication) && c.authentication.type !== "none" && (
            <p className="text-xs text-slate-500">
              <code>$WEBHOOK_SECRET</code> is the secret shown once when the trigger was created (or rotated).
            </p>
          )}
        </div>
      )}
    </div>
  );
}

export function TriggersPanel({ workflow }: { workflow: Workflow }) {
  const server = useQuery(workflowTriggersQuery(workflow.id));
  if (server.isPending) return <Loading />;
  if (server.isError) return <ErrorState error={server.error} retry={() => void server.refetch()} />;
  // Without the triggers endpoint, show what the workflow document declares.
  const rows = server.data ? server.data.map(fromServer) : workflow.triggers.map(fromDocument);
  if (!rows.length) {
    return (
      <EmptyState
        title="No triggers"
        description='Add schedule or webhook triggers in the Triggers tab of the editor, e.g. {"type": "schedule", "cron": "0 * * * *"}.'
      />
    );
  }
  return (
    <div className="space-y-3">
      {rows.map((t, i) => (
        <TriggerCard key={t.id ?? i} trigger={t} workflowId={workflow.id} />
      ))}
    </div>
  );
}
