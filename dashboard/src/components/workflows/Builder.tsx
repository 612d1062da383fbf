/**
 * The visual builder: the same definition as the JSON tab, edited by placing steps, dragging
 * edges and filling forms generated from the definition's JSON Schema. Every edit rewrites
 * the definition text, so the JSON tab shows it at once; while that text does not parse, the
 * builder keeps showing the last valid definition, read-only, and never overwrites the text.
 */
import { useQuery } from "@tanstack/react-query";
import { lazy, Suspense, useCallback, useEffect, useMemo, useRef, useState, type KeyboardEvent } from "react";
import { api, unwrap } from "../../api/client";
import { errorMessage, type ProblemEntry } from "../../api/problem";
import {
  addStep,
  completionsFor,
  connect,
  removeStep,
  renameStep,
  upstreamOf,
  setDependsOn,
  setWith,
  stepProblems,
  updateStep,
  type Definition,
} from "../../lib/builder";
import { isRecord, readSteps } from "../../lib/definition";
import { tryParseJson } from "../../lib/jsonPointer";
import { fieldsOf, formatFieldValue, isFreeForm, parseFieldValue, stepTypesOf, type FieldSpec } from "../../lib/schemaForm";
import { Button } from "../ui/Button";
import { Loading } from "../ui/Spinner";

const BuilderGraph = lazy(() => import("./BuilderGraph"));
const CodeEditor = lazy(() => import("./CodeEditor"));

const inputClass =
  "block w-full rounded-md border border-slate-300 bg-white px-2.5 py-1.5 text-sm text-slate-900 shadow-sm focus:border-teal-600 focus:outline-none focus:ring-1 focus:ring-teal-600 aria-[invalid=true]:border-red-500 dark:border-slate-700 dark:bg-slate-900 dark:text-slate-100";
const labelClass = "mb-1 block font-mono text-xs font-medium text-slate-700 dark:text-slate-300";

export const definitionSchemaQuery = {
  queryKey: ["definition-schema"],
  queryFn: () => unwrap(api.GET("/api/v1/workflows/definition-schema")),
  staleTime: Infinity,
};

function FieldError({ id, messages }: { id: string; messages: string[] }) {
  if (!messages.length) return null;
  return (
    <p id={id} className="mt-1 text-xs text-red-600 dark:text-red-400" data-testid="field-error">
      {messages.join("; ")}
    </p>
  );
}

/** A text input that commits on blur or Enter (a step id, a new key): not on every key. */
function CommitInput({ value, onCommit, ...rest }: { value: string; onCommit: (v: string) => void } & Omit<React.InputHTMLAttributes<HTMLInputElement>, "value" | "onChange">) {
  const [text, setText] = useState(value);
  useEffect(() => setText(value), [value]);
  return (
    <input
      {...rest}
      value={text}
      onChange={(e) => setText(e.target.value)}
      onBlur={() => text !== value && onCommit(text)}
      onKeyDown={(e) => {
        if (e.key === "Enter") {
          e.preventDefault();
          if (text !== value) onCommit(text);
        }
      }}
    />
  );
}

function MapEditor({
  name,
  label,
  value,
  onChange,
  listId,
  readOnly,
}: {
  name: string;
  label: (key: string) => string;
  value: Record<string, unknown>;
  onChange: (next: Record<string, unknown> | undefined) => void;
  listId: string;
  readOnly: boolean;
}) {
  const [key, setKey] = useState("");
  const add = () => {
    const k = key.trim();
    if (!k || k in value) return;
    onChange({ ...value, [k]: "" });
    setKey("");
  };
  return (
    <div className="space-y-2 rounded-md border border-dashed border-slate-300 p-2 dark:border-slate-700">
      {Object.entries(value).map(([k, v]) => (
        <div key={k} className="flex items-end gap-2">
          <label className="flex-1">
            <span className={labelClass}>{label(k)}</span>
            <input
              className={inputClass}
              list={listId}
              value={formatFieldValue("json", v)}
              disabled={readOnly}
              onChange={(e) => onChange({ ...value, [k]: parseFieldValue("json", e.target.value) ?? "" })}
            />
          </label>
          <Button
            type="button"
            size="sm"
            variant="ghost"
            aria-label={`Remove ${label(k)}`}
            disabled={readOnly}
            onClick={() => {
              const { [k]: _gone, ...rest } = value;
              onChange(Object.keys(rest).length ? rest : undefined);
            }}
          >
            ✕
          </Button>
        </div>
      ))}
      <div className="flex items-end gap-2">
        <label className="flex-1">
          <span className="mb-1 block text-xs text-slate-500">{`New ${name} key`}</span>
          <input
            className={inputClass}
            value={key}
            disabled={readOnly}
            onChange={(e) => setKey(e.target.value)}
            onKeyDown={(e) => {
              if (e.key === "Enter") {
                e.preventDefault();
                add();
              }
            }}
          />
        </label>
        <Button type="button" size="sm" onClick={add} disabled={readOnly || !key.trim()}>
          {`Add ${name} key`}
        </Button>
      </div>
    </div>
  );
}

function SchemaField({
  spec,
  value,
  onChange,
  errors,
  listId,
  readOnly,
}: {
  spec: FieldSpec;
  value: unknown;
  onChange: (v: unknown) => void;
  errors: string[];
  listId: string;
  readOnly: boolean;
}) {
  const id = `field-${spec.name}`;
  const errorId = `${id}-error`;
  const common = {
    id,
    disabled: readOnly,
    "aria-invalid": errors.length > 0,
    "aria-describedby": errors.length ? errorId : undefined,
    "aria-required": spec.required,
  };
  let control: React.ReactNode;
  if (spec.kind === "enum") {
    control = (
      <select {...common} className={inputClass} value={value === undefined ? "" : String(value)} onChange={(e) => onChange(e.target.value || undefined)}>
        <option value="">{spec.defaultValue !== undefined ? `(default: ${String(spec.defaultValue)})` : "(none)"}</option>
        {spec.options.map((o) => (
          <option key={o} value={o}>
            {o}
          </option>
        ))}
      </select>
    );
  } else if (spec.kind === "boolean") {
    control = (
      <input
        {...common}
        type="checkbox"
        className="h-4 w-4"
        checked={value === undefined ? spec.defaultValue === true : value === true}
        onChange={(e) => onChange(e.target.checked)}
      />
    );
  } else if (spec.kind === "map") {
    return (
      <fieldset>
        <legend className={labelClass}>{spec.name}</legend>
        <MapEditor
          name={spec.name}
          label={(k) => `${spec.name}.${k}`}
          value={isRecord(value) ? value : {}}
          onChange={onChange}
          listId={listId}
          readOnly={readOnly}
        />
        <FieldError id={errorId} messages={errors} />
      </fieldset>
    );
  } else if (spec.kind === "code") {
    control = (
      <Suspense fallback={<Loading label="Loading the code editor…" />}>
        <CodeEditor
          label={spec.name}
          value={typeof value === "string" ? value : formatFieldValue("text", value)}
          onChange={(text) => onChange(text)}
          readOnly={readOnly}
          invalid={errors.length > 0}
          describedBy={errors.length ? errorId : undefined}
          height="260px"
        />
      </Suspense>
    );
    return (
      <div data-testid={`code-field-${spec.name}`}>
        {/* CodeMirror's editable area is named by aria-label; this heading is for the eye. */}
        <span className={labelClass}>
          {spec.name} <span className="font-sans font-normal text-slate-500">({spec.language ?? "code"})</span>
        </span>
        {control}
        <FieldError id={errorId} messages={errors} />
      </div>
    );
  } else if (spec.kind === "json" || (spec.kind === "text" && value !== undefined && value !== null && typeof value !== "string")) {
    // A text field that holds a structured value (a code step's `input` object) stays JSON.
    control = (
      <textarea
        {...common}
        rows={2}
        className={`${inputClass} font-mono`}
        value={formatFieldValue("json", value)}
        onChange={(e) => onChange(parseFieldValue("json", e.target.value))}
        placeholder="JSON or a template"
      />
    );
  } else {
    control = (
      <input
        {...common}
        className={inputClass}
        list={listId}
        value={formatFieldValue(spec.kind, value)}
        onChange={(e) => onChange(parseFieldValue(spec.kind, e.target.value))}
        placeholder={spec.defaultValue !== undefined ? String(spec.defaultValue) : undefined}
      />
    );
  }
  return (
    <div>
      <label htmlFor={id} className={labelClass}>
        {spec.name}
      </label>
      {control}
      <FieldError id={errorId} messages={errors} />
    </div>
  );
}

/** The input and the upstream steps' outputs of the workflow's last run, as sample data. */
async function lastRunSample(workflowId: string, upstream: string[]): Promise<{ input: unknown; outputs: Record<string, unknown> } | null> {
  const page = await unwrap(api.GET("/api/v1/executions", { params: { query: { workflow_id: workflowId, limit: 1, offset: 0 } } }));
  const last = page.data[0];
  if (!last) return null;
  const run = await unwrap(api.GET("/api/v1/executions/{execution_id}", { params: { path: { execution_id: last.id } } }));
  const outputs: Record<string, unknown> = {};
  for (const s of run.steps) if (upstream.includes(s.id) && s.status === "completed") outputs[s.id] = s.output;
  return { input: run.input_data ?? {}, outputs };
}

function StepTester({ definition, stepId, workflowId }: { definition: Definition; stepId: string; workflowId?: string }) {
  const [input, setInput] = useState("{}");
  const [outputs, setOutputs] = useState("{}");
  const [result, setResult] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  async function loadLastRun() {
    try {
      const sample = await lastRunSample(workflowId!, upstreamOf(definition, stepId));
      if (!sample) setResult("No run of this workflow yet.");
      else {
        setInput(JSON.stringify(sample.input, null, 2));
        setOutputs(JSON.stringify(sample.outputs, null, 2));
      }
    } catch (err) {
      setResult(errorMessage(err));
    }
  }
  async function run() {
    const i = tryParseJson(input);
    const o = tryParseJson(outputs);
    if (!i.ok || !o.ok) {
      setResult("Sample input and upstream outputs must be JSON.");
      return;
    }
    setBusy(true);
    try {
      const r = await unwrap(
        api.POST("/api/v1/workflows/test-step", {
          body: { definition, step_id: stepId, input: i.value, outputs: (o.value ?? {}) as Record<string, unknown> },
        }),
      );
      setResult(r.status === "completed" ? JSON.stringify(r.output, null, 2) : `failed (${r.error_type}): ${r.error}`);
    } catch (err) {
      setResult(errorMessage(err));
    } finally {
      setBusy(false);
    }
  }
  return (
    <details className="rounded-md border border-slate-200 p-2 dark:border-slate-800">
      <summary className="cursor-pointer text-sm font-medium">Test this step</summary>
      <div className="mt-2 space-y-2">
        <label className="block">
          <span className={labelClass}>Sample input</span>
          <textarea className={`${inputClass} font-mono`} rows={2} value={input} onChange={(e) => setInput(e.target.value)} />
        </label>
        <label className="block">
          <span className={labelClass}>Upstream outputs</span>
          <textarea className={`${inputClass} font-mono`} rows={2} value={outputs} onChange={(e) => setOutputs(e.target.value)} />
        </label>
        <div className="flex gap-2">
          <Button type="button" size="sm" onClick={run} loading={busy}>
            Run step
          </Button>
          {workflowId && (
            <Button type="button" size="sm" variant="ghost" onClick={() => void loadLastRun()}>
              Use the last run
            </Button>
          )}
        </div>
        {result !== null && (
          <pre data-testid="step-test-result" className="max-h-48 overflow-auto rounded bg-slate-100 p-2 text-xs dark:bg-slate-800">
            {result}
          </pre>
        )}
      </div>
    </details>
  );
}

export default function Builder({
  workflowId,
  text,
  lastValid,
  visible = true,
  onChange,
  problems,
  readOnly = false,
}: {
  /** The saved workflow being edited: its last run can feed "Test this step". */
  workflowId?: string;
  text: string;
  /** The last definition that parsed (the editor's), shown while `text` does not parse. */
  lastValid?: unknown;
  visible?: boolean;
  onChange: (text: string) => void;
  problems: ProblemEntry[];
  readOnly?: boolean;
}) {
  const schema = useQuery(definitionSchemaQuery);
  const types = useMemo(() => stepTypesOf(schema.data), [schema.data]);
  const parsed = useMemo(() => tryParseJson(text), [text]);
  // The last definition that parsed: what the builder shows while the JSON is broken.
  const lastGood = useRef<Definition>(isRecord(lastValid) ? (lastValid as Definition) : { steps: [] });
  if (parsed.ok && isRecord(parsed.value)) lastGood.current = parsed.value as Definition;
  const broken = !parsed.ok || !isRecord(parsed.value);
  const locked = readOnly || broken;
  const definition = lastGood.current;

  const [selected, setSelected] = useState<string | null>(null);
  const [menuOpen, setMenuOpen] = useState(false);
  const [addAfter, setAddAfter] = useState<string | null>(null);
  const [layoutKey, setLayoutKey] = useState(0);
  // A graph drawn while hidden has no size: lay it out again when shown.
  useEffect(() => {
    if (visible) setLayoutKey((k) => k + 1);
  }, [visible]);
  const undo = useRef<string[]>([]);
  const redo = useRef<string[]>([]);
  const [, setHistoryTick] = useState(0);

  const apply = useCallback(
    (next: Definition) => {
      if (locked) return;
      undo.current.push(text);
      redo.current = [];
      setHistoryTick((t) => t + 1);
      onChange(JSON.stringify(next, null, 2));
    },
    [locked, onChange, text],
  );
  const travel = (from: React.MutableRefObject<string[]>, to: React.MutableRefObject<string[]>) => {
    const previous = from.current.pop();
    if (previous === undefined || readOnly) return;
    to.current.push(text);
    setHistoryTick((t) => t + 1);
    onChange(previous);
  };

  const steps = readSteps(definition);
  const step = steps.find((s) => s.id === selected) ?? null;
  const rawStep = step ? (definition.steps?.[step.index] as Record<string, unknown>) : null;
  const problemCounts = useMemo(() => {
    const counts: Record<string, number> = {};
    for (const s of steps) counts[s.id] = stepProblems(problems, s.index).length;
    return counts;
  }, [steps, problems]);

  // Problems outside any step (output, input_schema, ...), listed above the graph.
  const otherProblems = problems.filter((p) => !/^\/steps\/\d+(\/|$)/.test(p.pointer));

  const add = (type: string) => {
    const { definition: next, id } = addStep(definition, type, addAfter ?? undefined);
    apply(next);
    setSelected(id);
    setMenuOpen(false);
    setAddAfter(null);
  };
  const onAddAfter = useCallback((after: string) => {
    setAddAfter(after);
    setMenuOpen(true);
  }, []);

  function onKey(e: KeyboardEvent) {
    const target = e.target as HTMLElement;
    // Fields and the code editor (contenteditable) keep their own undo.
    if (["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName) || target.isContentEditable) return;
    const mod = e.ctrlKey || e.metaKey;
    if (mod && e.key.toLowerCase() === "z") {
      e.preventDefault();
      if (e.shiftKey) travel(redo, undo);
      else travel(undo, redo);
    } else if (mod && e.key.toLowerCase() === "y") {
      e.preventDefault();
      travel(redo, undo);
    } else if (e.key === "Escape") {
      setMenuOpen(false);
    }
  }

  const errorsFor = (field: string) => (step ? stepProblems(problems, step.index).filter((p) => p.field === field).map((p) => p.detail) : []);
  const typeSpec = step ? types.find((t) => t.type === step.type) : undefined;
  const withValue = rawStep && isRecord(rawStep.with) ? rawStep.with : {};
  const listId = `completions-${step?.id ?? "none"}`;

  return (
    <div className="space-y-3" onKeyDown={onKey} data-testid="builder">
      {broken && (
        <div role="status" className="rounded-md border border-amber-300 bg-amber-50 p-2 text-sm text-amber-800 dark:border-amber-800 dark:bg-amber-950/40 dark:text-amber-200">
          The JSON does not parse: the builder shows the last valid definition and is read-only until the JSON is fixed.
        </div>
      )}
      <div className="flex flex-wrap items-center gap-2" role="toolbar" aria-label="Builder">
        <div className="relative">
          <Button type="button" size="sm" variant="primary" aria-haspopup="menu" aria-expanded={menuOpen} disabled={locked || !types.length} onClick={() => { setAddAfter(null); setMenuOpen((o) => !o); }}>
            Add step
          </Button>
          {menuOpen && (
            <div role="menu" aria-label={addAfter ? `Add a step after ${addAfter}` : "Step types"} className="absolute z-20 mt-1 w-48 rounded-md border border-slate-200 bg-white py-1 shadow-lg dark:border-slate-700 dark:bg-slate-900">
              {types.map((t, i) => (
                <button
                  key={t.type}
                  type="button"
                  role="menuitem"
                  autoFocus={i === 0}
                  className="block w-full px-3 py-1.5 text-left font-mono text-sm hover:bg-slate-100 focus:bg-slate-100 focus:outline-none dark:hover:bg-slate-800 dark:focus:bg-slate-800"
                  onClick={() => add(t.type)}
                  onKeyDown={(e) => {
                    const items = Array.from((e.currentTarget.parentElement?.querySelectorAll("[role=menuitem]") ?? []) as NodeListOf<HTMLElement>);
                    const at = items.indexOf(e.currentTarget);
                    if (e.key === "ArrowDown") { e.preventDefault(); items[(at + 1) % items.length]?.focus(); }
                    if (e.key === "ArrowUp") { e.preventDefault(); items[(at - 1 + items.length) % items.length]?.focus(); }
                  }}
                >
                  {t.type}
                </button>
              ))}
            </div>
          )}
        </div>
        {addAfter && menuOpen && <span className="text-xs text-slate-500">after {addAfter}</span>}
        <Button type="button" size="sm" aria-keyshortcuts="Control+Z" disabled={readOnly || !undo.current.length} onClick={() => travel(undo, redo)}>
          Undo
        </Button>
        <Button type="button" size="sm" aria-keyshortcuts="Control+Shift+Z" disabled={readOnly || !redo.current.length} onClick={() => travel(redo, undo)}>
          Redo
        </Button>
        <Button type="button" size="sm" onClick={() => setLayoutKey((k) => k + 1)}>
          Auto-layout
        </Button>
        <Button
          type="button"
          size="sm"
          variant="ghost"
          disabled={locked || !steps.length}
          onClick={() => {
            // The output reads steps: it goes with them (input_schema and variables stay).
            const { output: _output, ...rest } = definition;
            apply({ ...rest, steps: [] });
            setSelected(null);
          }}
        >
          Clear steps
        </Button>
        {schema.isError && <span className="text-xs text-red-600">Could not load the step types: {errorMessage(schema.error)}</span>}
      </div>
      {otherProblems.length > 0 && (
        <ul className="rounded-md border border-red-200 bg-red-50 p-2 text-xs text-red-700 dark:border-red-900 dark:bg-red-950/40 dark:text-red-300" aria-label="Definition problems">
          {otherProblems.map((p, i) => (
            <li key={i}>
              <span className="font-mono">{p.pointer || "/"}</span>: {p.detail}
            </li>
          ))}
        </ul>
      )}
      <div className="grid gap-3 lg:grid-cols-[3fr_2fr]">
        <div className="h-[520px] rounded-md border border-slate-200 dark:border-slate-800">
          <Suspense fallback={<Loading label="Loading graph…" />}>
            <BuilderGraph
              definition={definition}
              selected={selected}
              problemCounts={problemCounts}
              onSelect={setSelected}
              onConnect={(source, target) => apply(connect(definition, source, target))}
              onAddAfter={onAddAfter}
              layoutKey={layoutKey}
            />
          </Suspense>
        </div>
        <div className="max-h-[520px] min-w-0 space-y-3 overflow-auto pr-1" aria-label="Step" role="region">
          {!step || !rawStep ? (
            <div className="space-y-2">
              <p className="text-sm text-slate-500">Select a step in the graph, or add one.</p>
              <ul className="space-y-1">
                {steps.map((s) => (
                  <li key={s.id}>
                    <button type="button" className="font-mono text-sm text-teal-700 hover:underline dark:text-teal-400" onClick={() => setSelected(s.id)}>
                      Edit {s.id}
                    </button>
                  </li>
                ))}
              </ul>
            </div>
          ) : (
            <div className="space-y-3" data-testid={`step-form-${step.id}`}>
              <div className="flex items-center justify-between">
                <h3 className="text-sm font-semibold">
                  <span className="font-mono">{step.id}</span> <span className="text-slate-500">· {step.type}</span>
                </h3>
                <Button type="button" size="sm" variant="ghost" disabled={locked} onClick={() => { apply(removeStep(definition, step.id)); setSelected(null); }}>
                  Remove step
                </Button>
              </div>
              <FieldError id="step-errors" messages={errorsFor("")} />
              <div>
                <label htmlFor="builder-step-id" className={labelClass}>Step id</label>
                <CommitInput
                  id="builder-step-id"
                  className={inputClass}
                  value={step.id}
                  disabled={locked}
                  aria-invalid={errorsFor("id").length > 0}
                  onCommit={(v) => {
                    if (!v.trim() || steps.some((s) => s.id === v)) return;
                    apply(renameStep(definition, step.id, v.trim()));
                    setSelected(v.trim());
                  }}
                />
                <FieldError id="builder-step-id-error" messages={errorsFor("id")} />
              </div>
              <div>
                <label htmlFor="builder-depends-on" className={labelClass}>Depends on</label>
                <select
                  id="builder-depends-on"
                  multiple
                  className={inputClass}
                  disabled={locked}
                  value={step.dependsOn}
                  aria-invalid={errorsFor("depends_on").length > 0}
                  onChange={(e) => apply(setDependsOn(definition, step.id, Array.from(e.target.selectedOptions, (o) => o.value)))}
                >
                  {/* Steps downstream of this one are left out: depending on them is a cycle. */}
                  {steps.filter((s) => s.id !== step.id && (step.dependsOn.includes(s.id) || !upstreamOf(definition, s.id).includes(step.id))).map((s) => (
                    <option key={s.id} value={s.id}>
                      {s.id}
                    </option>
                  ))}
                  {/* A dependency on a missing step stays visible, so it can be removed. */}
                  {step.dependsOn.filter((d) => !steps.some((s) => s.id === d)).map((d) => (
                    <option key={d} value={d}>
                      {d} (missing)
                    </option>
                  ))}
                </select>
                <FieldError id="builder-depends-on-error" messages={errorsFor("depends_on")} />
              </div>
              <datalist id={listId}>
                {completionsFor(definition, step.id).map((c) => (
                  <option key={c} value={c} />
                ))}
              </datalist>
              <fieldset className="space-y-3">
                <legend className="mb-1 text-xs font-semibold uppercase tracking-wide text-slate-500">with</legend>
                {typeSpec && isFreeForm(typeSpec.with) ? (
                  <MapEditor
                    name="with"
                    label={(k) => k}
                    value={withValue}
                    onChange={(next) => apply(updateStep(definition, step.id, (s) => ({ ...s, with: next ?? {} })))}
                    listId={listId}
                    readOnly={locked}
                  />
                ) : (
                  fieldsOf(typeSpec?.with).map((spec) => (
                    <SchemaField
                      key={`${step.id}-${spec.name}`}
                      spec={spec}
                      value={withValue[spec.name]}
                      errors={errorsFor(spec.name)}
                      listId={listId}
                      readOnly={locked}
                      onChange={(v) => apply(setWith(definition, step.id, spec.name, v))}
                    />
                  ))
                )}
                <FieldError id="with-errors" messages={errorsFor("with")} />
              </fieldset>
              {typeSpec?.testable ? (
                <StepTester key={step.id} definition={definition} stepId={step.id} workflowId={workflowId} />
              ) : (
                <p className="text-xs text-slate-500">A {step.type} step waits or runs elsewhere: test it by running the workflow.</p>
              )}
            </div>
          )}
        </div>
      </div>
    </div>
  );
}
