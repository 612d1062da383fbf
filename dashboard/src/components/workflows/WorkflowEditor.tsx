/**
 * Create or edit a workflow: name and settings as fields, the definition (and triggers and
 * variables) as JSON with problems at their lines, and the DAG drawn live beside it.
 */
import { lazy, Suspense, useEffect, useMemo, useRef, useState, type FormEvent } from "react";
import { useFeatures } from "../../api/features";
import { ApiError, errorMessage, type ProblemEntry } from "../../api/problem";
import { validateDefinition, type Workflow, type WorkflowCreate, type WorkflowStatus } from "../../api/queries/workflows";
import { locateProblems, type LocatedProblem } from "../../lib/editorProblems";
import { tryParseJson } from "../../lib/jsonPointer";
import { readSteps } from "../../lib/definition";
import { Button } from "../ui/Button";
import { Card, CardHeader } from "../ui/Card";
import { Field, Input, Select } from "../ui/Input";
import { Loading } from "../ui/Spinner";
import { Tabs } from "../ui/Tabs";
import type { JsonEditorHandle } from "./JsonEditor";
import { ProblemList } from "./ProblemList";
import { ScriptPanel } from "./ScriptPanel";
import { stepIndexAt } from "../../lib/codeSteps";

const JsonEditor = lazy(() => import("./JsonEditor"));
const WorkflowGraph = lazy(() => import("./WorkflowGraph"));
const Builder = lazy(() => import("./Builder"));

type Doc = "definition" | "triggers" | "variables";

export interface WorkflowDraft {
  name: string;
  description: string;
  status: WorkflowStatus;
  shared: boolean;
  definition: string;
  triggers: string;
  variables: string;
}

export function draftFrom(workflow: Pick<Workflow, "name" | "description" | "status" | "shared" | "definition" | "triggers" | "variables">): WorkflowDraft {
  return {
    name: workflow.name,
    description: workflow.description,
    status: (workflow.status as WorkflowStatus) ?? "active",
    shared: workflow.shared,
    definition: JSON.stringify(workflow.definition, null, 2),
    triggers: JSON.stringify(workflow.triggers ?? [], null, 2),
    variables: JSON.stringify(workflow.variables ?? {}, null, 2),
  };
}

/** Problems of a save split by where they point: one of the JSON documents, or a field. */
export function splitProblems(error: ApiError): { docs: Record<Doc, ProblemEntry[]>; fields: Record<string, string>; other: string[] } {
  const docs: Record<Doc, ProblemEntry[]> = { definition: [], triggers: [], variables: [] };
  const fields: Record<string, string> = {};
  const other: string[] = [];
  for (const e of error.errors) {
    const doc = (["definition", "triggers", "variables"] as const).find((d) => e.pointer === `/${d}` || e.pointer.startsWith(`/${d}/`));
    if (doc) docs[doc].push({ ...e, pointer: e.pointer.slice(doc.length + 1) });
    else if (/^\/(name|description|status|shared)$/.test(e.pointer)) fields[e.pointer.slice(1)] = e.detail;
    else other.push(e.pointer ? `${e.pointer}: ${e.detail}` : e.detail);
  }
  if (!error.errors.length) other.push(errorMessage(error));
  return { docs, fields, other };
}

export function WorkflowEditor({
  initial,
  onSave,
  saving,
  submitLabel,
  readOnly = false,
  workflowId,
}: {
  /** Set when editing a saved workflow. */
  workflowId?: string;
  initial: WorkflowDraft;
  onSave: (body: WorkflowCreate) => Promise<unknown>;
  saving: boolean;
  submitLabel: string;
  readOnly?: boolean;
}) {
  const [draft, setDraft] = useState(initial);
  // "builder" edits the definition too, as forms and a graph (see Builder).
  const [tab, setTab] = useState<Doc | "builder">("definition");
  const [builderOpened, setBuilderOpened] = useState(false);
  useEffect(() => {
    if (tab === "builder") setBuilderOpened(true);
  }, [tab]);
  const [serverProblems, setServerProblems] = useState<Record<Doc, ProblemEntry[]>>({ definition: [], triggers: [], variables: [] });
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});
  const [otherErrors, setOtherErrors] = useState<string[]>([]);
  const [liveValidation, setLiveValidation] = useState<"unknown" | "on" | "off">("unknown");
  const [selected, setSelected] = useState<string | null>(null);
  // The step the definition editor's cursor is in (the script panel follows it).
  const [cursorStep, setCursorStep] = useState<number | null>(null);
  const editorRef = useRef<JsonEditorHandle>(null);
  const features = useFeatures();
  // Probe the validate endpoint only when the OpenAPI document lists it (or cannot be read).
  const canValidate = !features.known || features.has("post", "/api/v1/workflows/validate");

  useEffect(() => setDraft(initial), [initial]);

  // The graph follows the last definition that parsed, so it does not flicker while typing.
  const parsed = useMemo(() => tryParseJson(draft.definition), [draft.definition]);
  const [graphDefinition, setGraphDefinition] = useState<unknown>(() => (parsed.ok ? parsed.value : null));
  useEffect(() => {
    if (parsed.ok) setGraphDefinition(parsed.value);
  }, [parsed]);

  // Live validation through the API, when the server offers it.
  useEffect(() => {
    if (!parsed.ok || liveValidation === "off" || readOnly || !canValidate) return;
    const timer = setTimeout(async () => {
      try {
        const result = await validateDefinition(parsed.value);
        if (result === "unavailable") setLiveValidation("off");
        else {
          setLiveValidation("on");
          setServerProblems((s) => ({ ...s, definition: result === "valid" ? [] : result.errorsUnder("/definition") }));
        }
      } catch {
        /* network trouble: saving validates anyway */
      }
    }, 600);
    return () => clearTimeout(timer);
  }, [parsed, liveValidation, readOnly, canValidate]);

  const problems: Record<Doc, LocatedProblem[]> = useMemo(
    () => ({
      definition: locateProblems(draft.definition, serverProblems.definition),
      triggers: locateProblems(draft.triggers, serverProblems.triggers),
      variables: locateProblems(draft.variables, serverProblems.variables),
    }),
    [draft.definition, draft.triggers, draft.variables, serverProblems],
  );

  const set = <K extends keyof WorkflowDraft>(key: K, value: WorkflowDraft[K]) => setDraft((d) => ({ ...d, [key]: value }));

  async function submit(e: FormEvent) {
    e.preventDefault();
    setFieldErrors({});
    setOtherErrors([]);
    const docs = { definition: tryParseJson(draft.definition), triggers: tryParseJson(draft.triggers), variables: tryParseJson(draft.variables) };
    const broken = (Object.keys(docs) as Doc[]).find((d) => !docs[d].ok);
    if (broken) {
      setTab(broken);
      setOtherErrors([`The ${broken} is not valid JSON: fix the marked line first.`]);
      return;
    }
    if (!draft.name.trim()) {
      setFieldErrors({ name: "A name is required" });
      return;
    }
    const value = (d: Doc) => (docs[d] as { ok: true; value: unknown }).value;
    try {
      await onSave({
        name: draft.name.trim(),
        description: draft.description,
        status: draft.status,
        shared: draft.shared,
        definition: value("definition") as Record<string, unknown>,
        triggers: value("triggers") as Record<string, unknown>[],
        variables: value("variables") as Record<string, unknown>,
      });
      setServerProblems({ definition: [], triggers: [], variables: [] });
    } catch (err) {
      if (err instanceof ApiError && err.status === 422) {
        const split = splitProblems(err);
        setServerProblems(split.docs);
        setFieldErrors(split.fields);
        setOtherErrors(split.other);
        const first = (["definition", "triggers", "variables"] as const).find((d) => split.docs[d].length);
        if (first) setTab(first);
      } else {
        setOtherErrors([errorMessage(err)]);
      }
    }
  }

  const docTab: Doc = tab === "builder" ? "definition" : tab;
  const current = problems[docTab];
  const stepCount = readSteps(graphDefinition).length;
  const tabLabel = (d: Doc, text: string) => (
    <span className="inline-flex items-center gap-1.5">
      {text}
      {problems[d].length > 0 && (
        <span className="rounded-full bg-red-600 px-1.5 text-[10px] font-semibold text-white">{problems[d].length}</span>
      )}
    </span>
  );

  return (
    <form onSubmit={submit} className="space-y-4" aria-label="Workflow">
      <div className="grid gap-4 md:grid-cols-[2fr_3fr_auto_auto] md:items-start">
        <Field label="Name" required error={fieldErrors.name}>
          {(p) => <Input {...p} name="name" value={draft.name} onChange={(e) => set("name", e.target.value)} disabled={readOnly} maxLength={200} />}
        </Field>
        <Field label="Description" error={fieldErrors.description}>
          {(p) => <Input {...p} name="description" value={draft.description} onChange={(e) => set("description", e.target.value)} disabled={readOnly} />}
        </Field>
        <Field label="Status" error={fieldErrors.status}>
          {({ invalid: _invalid, ...p }) => (
            <Select {...p} name="status" value={draft.status} onChange={(e) => set("status", e.target.value as WorkflowStatus)} disabled={readOnly}>
              <option value="active">active</option>
              <option value="inactive">inactive</option>
              <option value="archived">archived</option>
            </Select>
          )}
        </Field>
        <label className="flex h-9 items-center gap-2 self-end text-sm md:mb-0">
          <input
            type="checkbox"
            checked={draft.shared}
            onChange={(e) => set("shared", e.target.checked)}
            disabled={readOnly}
            className="h-4 w-4 rounded border-slate-300 text-teal-600 focus:ring-teal-600"
          />
          Shared with everyone
        </label>
      </div>

      <div className={tab === "builder" ? "grid gap-4" : "grid gap-4 xl:grid-cols-2"}>
        <Card className="flex min-w-0 flex-col">
          <div className="flex items-center justify-between gap-2 px-3 pt-2">
            <Tabs
              label="Documents"
              value={tab}
              onChange={setTab}
              tabs={[
                { id: "definition", label: tabLabel("definition", "Definition") },
                { id: "builder", label: tabLabel("definition", "Builder") },
                { id: "triggers", label: tabLabel("triggers", "Triggers") },
                { id: "variables", label: tabLabel("variables", "Variables") },
              ]}
            />
            <div className="flex items-center gap-2 text-xs text-slate-500">
              {liveValidation === "on" && <span title="Validated by the API as you type">✓ live validation</span>}
              {!readOnly && (
                <label className="cursor-pointer rounded-md px-2 py-1 font-medium text-teal-700 hover:bg-slate-100 dark:text-teal-400 dark:hover:bg-slate-800">
                  Import file
                  <input
                    type="file"
                    accept="application/json,.json"
                    className="sr-only"
                    data-testid="import-json"
                    onChange={async (e) => {
                      const file = e.target.files?.[0];
                      if (!file) return;
                      const text = await file.text();
                      const doc = tryParseJson(text);
                      // A whole workflow document fills every field; a bare definition only the editor.
                      if (doc.ok && doc.value && typeof doc.value === "object" && "definition" in doc.value) {
                        const w = doc.value as Partial<Workflow>;
                        setDraft((d) => ({
                          ...d,
                          name: w.name ?? d.name,
                          description: w.description ?? d.description,
                          definition: JSON.stringify(w.definition, null, 2),
                          triggers: JSON.stringify(w.triggers ?? [], null, 2),
                          variables: JSON.stringify(w.variables ?? {}, null, 2),
                        }));
                      } else {
                        setDraft((d) => ({ ...d, [docTab]: text }));
                      }
                      e.target.value = "";
                    }}
                  />
                </label>
              )}
            </div>
          </div>
          <div className="space-y-3 p-3">
            <Suspense fallback={<Loading label="Loading editor…" />}>
              {/* Kept mounted once opened: its selection, undo history and last valid definition
                  survive a visit to the JSON tab (even one that leaves the JSON broken). */}
              {builderOpened && (
                <div hidden={tab !== "builder"}>
                  <Builder
                    workflowId={workflowId}
                    text={draft.definition}
                    lastValid={graphDefinition}
                    visible={tab === "builder"}
                    onChange={(text) => set("definition", text)}
                    problems={serverProblems.definition}
                    readOnly={readOnly}
                  />
                </div>
              )}
              {tab !== "builder" && (
              <JsonEditor
                ref={editorRef}
                key={tab}
                label={`${tab} (JSON)`}
                value={draft[tab]}
                onChange={(text) => set(tab, text)}
                problems={current}
                readOnly={readOnly}
                height="520px"
                onCursor={tab === "definition" ? (offset, text) => setCursorStep(stepIndexAt(text, offset)) : undefined}
              />
              )}
            </Suspense>
            {tab !== "builder" && <ProblemList problems={current} onReveal={(p) => editorRef.current?.reveal(p.from)} />}
            {tab === "definition" && (
              <ScriptPanel
                text={draft.definition}
                definition={parsed.ok ? parsed.value : graphDefinition}
                parses={parsed.ok}
                cursorStep={cursorStep}
                onChange={(text) => set("definition", text)}
                readOnly={readOnly}
              />
            )}
          </div>
        </Card>
        {tab !== "builder" && (
        <Card className="flex min-w-0 flex-col">
          <CardHeader
            title="Graph"
            description={`${stepCount} step${stepCount === 1 ? "" : "s"} · edges from depends_on · dashed: runs on a when expression`}
          />
          <Suspense fallback={<Loading label="Loading graph…" />}>
            <WorkflowGraph definition={graphDefinition} className="h-[560px]" selectedStep={selected} onSelectStep={setSelected} />
          </Suspense>
        </Card>
        )}
      </div>

      {otherErrors.length > 0 && (
        <div role="alert" className="rounded-md border border-red-200 bg-red-50 p-3 text-sm text-red-700 dark:border-red-900 dark:bg-red-950/40 dark:text-red-300">
          {otherErrors.map((m, i) => (
            <p key={i}>{m}</p>
          ))}
        </div>
      )}
      {!readOnly && (
        <div className="flex justify-end gap-2">
          <Button type="submit" variant="primary" loading={saving}>
            {submitLabel}
          </Button>
        </div>
      )}
    </form>
  );
}
