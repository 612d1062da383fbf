/** The run form: one field per simple `input_schema` property, or the input as JSON. */
import { useMemo, useState, type FormEvent } from "react";
import { buildInput, formFromSchema, initialValues, type FormField } from "../../lib/inputSchema";
import { tryParseJson } from "../../lib/jsonPointer";
import { Button } from "../ui/Button";
import { Field, Input, Select, Textarea } from "../ui/Input";

function FieldControl({
  field,
  value,
  onChange,
  error,
}: {
  field: FormField;
  value: string;
  onChange: (v: string) => void;
  error?: string;
}) {
  const hint = field.description ?? (field.kind === "json" ? "JSON value" : undefined);
  if (field.kind === "boolean") {
    return (
      <div className="space-y-1">
        <label className="flex items-center gap-2 text-sm">
          <input
            type="checkbox"
            name={field.name}
            checked={value === "true"}
            onChange={(e) => onChange(e.target.checked ? "true" : "false")}
            className="h-4 w-4 rounded border-slate-300 text-teal-600 focus:ring-teal-600"
          />
          <span className="font-medium">{field.title}</span>
        </label>
        {hint && <p className="text-xs text-slate-500">{hint}</p>}
        {error && <p className="text-xs text-red-600">{error}</p>}
      </div>
    );
  }
  return (
    <Field label={field.title} hint={hint} error={error} required={field.required}>
      {(p) =>
        field.kind === "enum" ? (
          <Select id={p.id} aria-describedby={p["aria-describedby"]} name={field.name} value={value} onChange={(e) => onChange(e.target.value)}>
            {!field.required && <option value="">—</option>}
            {field.required && value === "" && <option value="">Choose…</option>}
            {field.options?.map((o) => (
              <option key={String(o)} value={String(o)}>
                {String(o)}
              </option>
            ))}
          </Select>
        ) : field.kind === "json" ? (
          <Textarea {...p} name={field.name} rows={4} value={value} onChange={(e) => onChange(e.target.value)} spellCheck={false} />
        ) : (
          <Input
            {...p}
            name={field.name}
            type={field.kind === "string" ? "text" : "number"}
            step={field.kind === "integer" ? 1 : "any"}
            value={value}
            onChange={(e) => onChange(e.target.value)}
          />
        )
      }
    </Field>
  );
}

export function InputForm({
  schema,
  onSubmit,
  submitting,
  serverErrors = {},
  submitLabel = "Run",
}: {
  schema: Record<string, unknown> | null;
  onSubmit: (input: unknown) => void;
  submitting?: boolean;
  /** Messages by field name (from the API's `/input_data/<name>` pointers; "" for the whole input). */
  serverErrors?: Record<string, string>;
  submitLabel?: string;
}) {
  const form = useMemo(() => formFromSchema(schema), [schema]);
  const [values, setValues] = useState(() => initialValues(form));
  const [asJson, setAsJson] = useState(!form.simple);
  const [jsonText, setJsonText] = useState("{}");
  const [errors, setErrors] = useState<Record<string, string>>({});

  function submit(e: FormEvent) {
    e.preventDefault();
    if (asJson) {
      const parsed = tryParseJson(jsonText);
      if (!parsed.ok) {
        setErrors({ "": `Not valid JSON: ${parsed.error}` });
        return;
      }
      setErrors({});
      onSubmit(parsed.value);
      return;
    }
    const built = buildInput(form, values);
    if (!built.ok) {
      setErrors(built.errors);
      return;
    }
    setErrors({});
    onSubmit(built.value);
  }

  function toggleJson() {
    if (!asJson) {
      const built = buildInput(form, values);
      setJsonText(JSON.stringify(built.ok ? built.value : {}, null, 2));
    }
    setAsJson((v) => !v);
  }

  const allErrors = { ...serverErrors, ...errors };
  return (
    <form onSubmit={submit} className="space-y-4" aria-label="Run input" noValidate>
      {form.simple && (
        <div className="flex justify-end">
          <button type="button" onClick={toggleJson} className="text-xs font-medium text-teal-700 hover:underline dark:text-teal-400">
            {asJson ? "Use the form" : "Edit as JSON"}
          </button>
        </div>
      )}
      {asJson ? (
        <Field label="Input (JSON)" error={allErrors[""]} hint={form.simple ? undefined : "This workflow's input_schema is not a simple object: write the input as JSON."}>
          {(p) => <Textarea {...p} name="input_json" rows={10} value={jsonText} onChange={(e) => setJsonText(e.target.value)} spellCheck={false} />}
        </Field>
      ) : form.fields.length === 0 ? (
        <p className="text-sm text-slate-500">This workflow takes no input.</p>
      ) : (
        <div className="grid gap-4 sm:grid-cols-2">
          {form.fields.map((f) => (
            <FieldControl
              key={f.name}
              field={f}
              value={values[f.name] ?? ""}
              onChange={(v) => setValues((s) => ({ ...s, [f.name]: v }))}
              error={allErrors[f.name]}
            />
          ))}
        </div>
      )}
      {!asJson && allErrors[""] && <p className="text-sm text-red-600">{allErrors[""]}</p>}
      <div className="flex justify-end">
        <Button type="submit" variant="primary" loading={submitting}>
          {submitLabel}
        </Button>
      </div>
    </form>
  );
}
