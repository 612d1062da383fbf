import { useQuery } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { errorMessage } from "../api/problem";
import { apiKeyListQuery, useCreateApiKey, useRevokeApiKey, type ApiKey, type ApiKeyCreated } from "../api/queries/apiKeys";
import { Button } from "../components/ui/Button";
import { Card, CardHeader, PageHeader } from "../components/ui/Card";
import { CopyButton } from "../components/ui/CopyButton";
import { Dialog } from "../components/ui/Dialog";
import { Field, Input } from "../components/ui/Input";
import { Loading } from "../components/ui/Spinner";
import { EmptyState, ErrorState, InlineError } from "../components/ui/States";
import { Table, Td, Th, Tr } from "../components/ui/Table";
import { useToast } from "../components/ui/toast";
import { formatDateTime, formatRelative } from "../lib/format";

function CreateForm({ onCreated }: { onCreated: (k: ApiKeyCreated) => void }) {
  const create = useCreateApiKey();
  const [name, setName] = useState("");
  const [expires, setExpires] = useState("");
  async function submit(e: FormEvent) {
    e.preventDefault();
    try {
      const key = await create.mutateAsync({ name: name.trim(), expires_at: expires ? new Date(`${expires}T23:59:59`).toISOString() : null });
      setName("");
      setExpires("");
      onCreated(key);
    } catch {
      /* shown below */
    }
  }
  return (
    <form onSubmit={submit} className="flex flex-wrap items-end gap-3 p-4" aria-label="Create an API key">
      <Field label="Name" className="min-w-[14rem] flex-1" hint="What uses it, e.g. “CI pipeline”.">
        {(p) => <Input {...p} name="key-name" required maxLength={200} value={name} onChange={(e) => setName(e.target.value)} />}
      </Field>
      <Field label="Expires (optional)" hint="Never, if empty.">
        {(p) => <Input {...p} type="date" value={expires} onChange={(e) => setExpires(e.target.value)} min={new Date().toISOString().slice(0, 10)} />}
      </Field>
      <div className="pb-5">
        <Button type="submit" variant="primary" loading={create.isPending} disabled={!name.trim()}>
          Create key
        </Button>
      </div>
      {create.isError && (
        <div className="w-full">
          <InlineError error={create.error} />
        </div>
      )}
    </form>
  );
}

function NewKey({ created, onDone }: { created: ApiKeyCreated; onDone: () => void }) {
  return (
    <div role="status" className="m-4 space-y-2 rounded-md border border-emerald-300 bg-emerald-50 p-4 dark:border-emerald-800 dark:bg-emerald-950/40" data-testid="new-api-key">
      <p className="text-sm font-medium text-emerald-900 dark:text-emerald-200">
        Key “{created.name}” created. Copy it now: it will not be shown again.
      </p>
      <div className="flex items-center gap-2">
        <code className="min-w-0 flex-1 break-all rounded bg-white px-3 py-2 font-mono text-xs ring-1 ring-emerald-200 dark:bg-slate-950 dark:ring-emerald-900" data-testid="api-key-value">
          {created.key}
        </code>
        <CopyButton text={created.key} />
      </div>
      <p className="text-xs text-emerald-800 dark:text-emerald-300">
        Use it as <code>X-API-Key: {created.key.slice(0, 6)}…</code> on any /api/v1 call.
      </p>
      <Button size="sm" onClick={onDone}>
        I have saved it
      </Button>
    </div>
  );
}

export default function ApiKeysPage() {
  const keys = useQuery(apiKeyListQuery());
  const revoke = useRevokeApiKey();
  const toast = useToast();
  const [created, setCreated] = useState<ApiKeyCreated | null>(null);
  const [toRevoke, setToRevoke] = useState<ApiKey | null>(null);

  return (
    <>
      <PageHeader title="API keys" description="Keys for scripts and CI: they act as you, with your role." />
      <Card className="mb-4">
        <CardHeader title="Create a key" />
        <CreateForm onCreated={setCreated} />
        {created && <NewKey created={created} onDone={() => setCreated(null)} />}
      </Card>
      <Card>
        <CardHeader title="Your keys" />
        {keys.isPending ? (
          <Loading />
        ) : keys.isError ? (
          <ErrorState error={keys.error} retry={() => void keys.refetch()} className="m-4" />
        ) : keys.data.length === 0 ? (
          <EmptyState icon="🔑" title="No API keys" description="Create one above to call the API from scripts." />
        ) : (
          <Table aria-label="API keys">
            <thead>
              <tr>
                <Th>Name</Th>
                <Th>Key</Th>
                <Th>Created</Th>
                <Th>Last used</Th>
                <Th>Expires</Th>
                <Th className="text-right">
                  <span className="sr-only">Actions</span>
                </Th>
              </tr>
            </thead>
            <tbody className="divide-y divide-slate-100 dark:divide-slate-800">
              {keys.data.map((k) => (
                <Tr key={k.id} data-testid={`api-key-row-${k.name}`}>
                  <Td className="font-medium">{k.name}</Td>
                  <Td className="font-mono text-xs">{k.prefix}…</Td>
                  <Td title={k.created_at}>{formatRelative(k.created_at)}</Td>
                  <Td>{k.last_used_at ? formatRelative(k.last_used_at) : "never"}</Td>
                  <Td>{k.expires_at ? formatDateTime(k.expires_at) : "never"}</Td>
                  <Td className="text-right">
                    <Button size="sm" variant="ghost" className="text-red-600 dark:text-red-400" onClick={() => setToRevoke(k)}>
                      Revoke
                    </Button>
                  </Td>
                </Tr>
              ))}
            </tbody>
          </Table>
        )}
      </Card>
      <Dialog
        open={toRevoke !== null}
        onClose={() => setToRevoke(null)}
        title="Revoke this key?"
        footer={
          <>
            <Button onClick={() => setToRevoke(null)}>Keep it</Button>
            <Button
              variant="danger"
              loading={revoke.isPending}
              onClick={async () => {
                if (!toRevoke) return;
                try {
                  await revoke.mutateAsync(toRevoke.id);
                  toast(`Revoked “${toRevoke.name}”`, "success");
                } catch (e) {
                  toast(errorMessage(e), "error");
                }
                setToRevoke(null);
              }}
            >
              Revoke
            </Button>
          </>
        }
      >
        <p className="text-sm">Anything using “{toRevoke?.name}” stops working at once.</p>
      </Dialog>
    </>
  );
}
