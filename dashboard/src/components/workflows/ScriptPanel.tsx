/**
 * The JSON tab's script panel: a `code` step's `with.code` is a JSON string in the definition
 * (`"const n = input.n;\nreturn n * 2;"`), unreadable there. Below the JSON editor this panel
 * shows it as JavaScript, highlighted and editable; edits rewrite only that string in the JSON
 * text. It follows the JSON editor's cursor: moving into a code step shows that step's script.
 */
import { lazy, Suspense, useEffect, useMemo, useState } from "react";
import { codeStepsOf, setStepCode } from "../../lib/codeSteps";
import { Loading } from "../ui/Spinner";

const CodeEditor = lazy(() => import("./CodeEditor"));

export function ScriptPanel({
  text,
  definition,
  parses,
  cursorStep,
  onChange,
  readOnly = false,
}: {
  /** The definition's JSON text. */
  text: string;
  /** The last definition that parsed. */
  definition: unknown;
  /** Whether `text` parses now: while it does not, the script is shown read-only. */
  parses: boolean;
  /** The index of the step the JSON editor's cursor is in. */
  cursorStep: number | null;
  onChange: (text: string) => void;
  readOnly?: boolean;
}) {
  const steps = useMemo(() => codeStepsOf(definition), [definition]);
  const [chosen, setChosen] = useState<string | null>(null);
  // The cursor moved into a code step: show that one.
  useEffect(() => {
    const under = steps.find((s) => s.index === cursorStep);
    if (under) setChosen(under.id);
    // Only a move of the cursor chooses; edits to the steps keep the choice.
  }, [cursorStep]);
  if (!steps.length) return null;
  const step = steps.find((s) => s.id === chosen) ?? steps[0]!;
  const locked = readOnly || !parses;
  return (
    <section aria-label="Script" className="space-y-1.5" data-testid="script-panel">
      <div className="flex flex-wrap items-center gap-2 text-xs">
        <span className="font-semibold uppercase tracking-wide text-slate-500">Script</span>
        {steps.length > 1 ? (
          <select
            aria-label="Script of step"
            className="rounded-md border border-slate-300 bg-white px-1.5 py-0.5 font-mono text-xs dark:border-slate-700 dark:bg-slate-900"
            value={step.id}
            onChange={(e) => setChosen(e.target.value)}
          >
            {steps.map((s) => (
              <option key={s.id} value={s.id}>
                {s.id}
              </option>
            ))}
          </select>
        ) : (
          <span className="font-mono">{step.id}</span>
        )}
        <span className="text-slate-500">
          JavaScript of <code>/steps/{step.index}/with/code</code>
          {!parses && " · read-only until the JSON parses"}
        </span>
      </div>
      <Suspense fallback={<Loading label="Loading the code editor…" />}>
        <CodeEditor
          key={step.id}
          label={`Script of step ${step.id} (JavaScript)`}
          value={step.code}
          readOnly={locked}
          height="220px"
          onChange={(code) => onChange(setStepCode(text, step.index, code))}
        />
      </Suspense>
    </section>
  );
}
