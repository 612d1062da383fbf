import { useQuery } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { errorMessage } from "../api/problem";
import {
  integrationListQuery,
  useDeleteIntegration,
  useN8nSync,
  useTestIntegration,
} from "../api/queries/integrations";
import { LlmConnectionForm } from "../components/integrations/LlmConnectionForm";
import { SyncResult } from "../components/integrations/SyncResult";
import { Button } from "../components/ui/Button";
import { Card, CardHeader, PageHeader } from "../components/ui/Card";
import { Field, Input } from "../components/ui/Input";
import { Loading } from "../components/ui/Spinner";
import { EmptyState, ErrorState, InlineError } from "../components/ui/States";
import { Badge } from "../components/ui/StatusBadge";
import { useToast } from "../components/ui/toast";
import { formatRelative } from "../lib/format";

function N8nSync() {
  const [url, setUrl] = useState("");
  const [key, setKey] = useState("");
  const [ids, setIds] = useState("");
  const sync = useN8nSync();
  function submit(e: FormEvent) {
    e.preventDefault();
    const workflowIds = ids.split(",").map((s) => s.trim()).filter(Boolean);
    sync.mutate({ n8n_url: url.trim(), api_key: key, workflow_ids: workflowIds.length ? workflowIds : null });
  }
  return (
    <form onSubmit={submit} className="space-y-3 p-4" aria-label="Sync from n8n">
      <div className="grid gap-3 md:grid-cols-2">
        <Field label="n8n URL" required hint="e.g. https://n8n.example.com">
          {(p) => <Input {...p} type="url" required value={url} onChange={(e) => setUrl(e.target.value)} />}
        </Field>
        <Field label="n8n API key" required hint="Stored encrypted; never shown again.">
          {(p) => <Input {...p} type="password" required autoComplete="off" value={key} onChange={(e) => setKey(e.target.value)} />}
        </Field>
      </div>
      <Field label="Workflow ids (optional)" hint="Comma-separated n8n ids; every workflow if empty.">
        {(p) => <Input {...p} value={ids} onChange={(e) => setIds(e.target.value)} />}
      </Field>
      <Button type="submit" variant="primary" loading={sync.isPending}>
        Sync workflows
      </Button>
      <InlineError error={sync.error} />
      {sync.data && <SyncResult result={sync.data} />}
    </form>
  );
}

export default function IntegrationsPage() {
  const list = useQuery(integrationListQuery());
  const test = useTestIntegration();
  const remove = useDeleteIntegration();
  const toast = useToast();

  return (
    <>
      <PageHeader title="Integrations" description="Bring n8n workflows into Headrace and keep them in sync; connect AI models." />
      {list.isPending ? (
        <Loading />
      ) : list.isError ? (
        <ErrorState error={list.error} retry={() => void list.refetch()} />
      ) : list.data === null ? (
        <Card>
          <EmptyState icon="🔌" title="Integrations are not available on this server yet" description="This server does not answer GET /api/v1/integrations." />
        </Card>
      ) : (
        <div className="space-y-4">
          <Card>
            <CardHeader title="Sync from n8n" description="Creates one Headrace workflow per n8n workflow; a second sync updates them, never duplicates." />
            <N8nSync />
          </Card>
          <Card>
            <CardHeader
              title="AI model connection"
              description="An OpenAI-compatible chat API (OpenAI, Ollama, vLLM…) for llm and agent steps."
            />
            <LlmConnectionForm onCreated={(name) => toast(`Connection “${name}” added`, "success")} />
          </Card>
          <Card>
            <CardHeader title="Connections" />
            {list.data.length === 0 ? (
              <EmptyState title="No connections yet" description="A sync above creates one." />
            ) : (
              <ul className="divide-y divide-slate-100 dark:divide-slate-800">
                {list.data.map((i) => (
                  <li key={i.id} className="flex flex-wrap items-center justify-between gap-3 px-4 py-3 text-sm">
                    <span className="flex items-center gap-2">
                      <Badge>{i.type}</Badge>
                      <span className="font-medium">{i.name}</span>
                      {typeof i.config.base_url === "string" && <span className="text-xs text-slate-500">{i.config.base_url}</span>}
                      {i.has_credentials && <span className="text-xs text-slate-400">credentials stored ({i.credential_fields.join(", ")})</span>}
                    </span>
                    <span className="flex items-center gap-2 text-xs text-slate-500">
                      updated {formatRelative(i.updated_at)}
                      <Button
                        size="sm"
                        onClick={async () => {
                          try {
                            const r = await test.mutateAsync(i.id);
                            toast(r.ok ? `Connection works: ${r.detail}` : `Connection failed: ${r.detail}`, r.ok ? "success" : "error");
                          } catch (e) {
                            toast(errorMessage(e), "error");
                          }
                        }}
                      >
                        Test
                      </Button>
                      <Button
                        size="sm"
                        variant="ghost"
                        className="text-red-600"
                        onClick={async () => {
                          if (!window.confirm(`Remove the connection “${i.name}”? Synced workflows stay.`)) return;
                          try {
                            await remove.mutateAsync(i.id);
                          } catch (e) {
                            toast(errorMessage(e), "error");
                          }
                        }}
                      >
                        Remove
                      </Button>
                    </span>
                  </li>
                ))}
              </ul>
            )}
          </Card>
        </div>
      )}
    </>
  );
}
