/**
 * Adds an `llm` connection (an OpenAI-compatible chat completions API: OpenAI, Ollama,
 * vLLM...) that `llm` and `agent` steps name. The API key is sent once and never shown again.
 */
import { useState, type FormEvent } from "react";
import { useCreateIntegration } from "../../api/queries/integrations";
import { Button } from "../ui/Button";
import { Field, Input } from "../ui/Input";
import { InlineError } from "../ui/States";

export const PROVIDERS = [
  { label: "OpenAI", baseUrl: "https://api.openai.com/v1", model: "gpt-4o-mini" },
  { label: "Ollama", baseUrl: "http://localhost:11434/v1", model: "llama3.1" },
  { label: "vLLM", baseUrl: "http://localhost:8000/v1", model: "" },
] as const;

export function LlmConnectionForm({ onCreated }: { onCreated?: (name: string) => void }) {
  const [name, setName] = useState("");
  const [baseUrl, setBaseUrl] = useState("");
  const [model, setModel] = useState("");
  const [apiKey, setApiKey] = useState("");
  const create = useCreateIntegration();
  function submit(e: FormEvent) {
    e.preventDefault();
    const config: Record<string, unknown> = { base_url: baseUrl.trim() };
    if (model.trim()) config.model = model.trim();
    create.mutate(
      { type: "llm", name: name.trim(), config, credentials: apiKey ? { api_key: apiKey } : {} },
      {
        onSuccess: () => {
          onCreated?.(name.trim());
          setName("");
          setApiKey("");
        },
      },
    );
  }
  return (
    <form onSubmit={submit} className="space-y-3 p-4" aria-label="Add an AI model connection">
      <p className="flex flex-wrap items-center gap-2 text-xs text-slate-500">
        Fill in for
        {PROVIDERS.map((p) => (
          <Button
            key={p.label}
            size="sm"
            type="button"
            onClick={() => {
              setBaseUrl(p.baseUrl);
              setModel(p.model);
              if (!name) setName(p.label.toLowerCase());
            }}
          >
            {p.label}
          </Button>
        ))}
      </p>
      <div className="grid gap-3 md:grid-cols-2">
        <Field label="Name" required hint="What llm and agent steps put in connection.">
          {(p) => <Input {...p} required value={name} onChange={(e) => setName(e.target.value)} />}
        </Field>
        <Field label="Base URL" required hint="The part before /chat/completions, usually ending in /v1.">
          {(p) => <Input {...p} type="url" required value={baseUrl} onChange={(e) => setBaseUrl(e.target.value)} />}
        </Field>
        <Field label="Default model" hint="Used by steps that name no model.">
          {(p) => <Input {...p} value={model} onChange={(e) => setModel(e.target.value)} />}
        </Field>
        <Field label="API key" hint="Stored encrypted; never shown again. Local servers may need none.">
          {(p) => <Input {...p} type="password" autoComplete="off" value={apiKey} onChange={(e) => setApiKey(e.target.value)} />}
        </Field>
      </div>
      <Button type="submit" variant="primary" loading={create.isPending}>
        Add connection
      </Button>
      <InlineError error={create.error} />
    </form>
  );
}
