import type { LocatedProblem } from "../../lib/editorProblems";

/** The list under the editor: each problem with its line, a button that jumps there. */
export function ProblemList({
  problems,
  onReveal,
  title = "Problems",
}: {
  problems: LocatedProblem[];
  onReveal: (p: LocatedProblem) => void;
  title?: string;
}) {
  if (!problems.length) return null;
  return (
    <div
      role="alert"
      data-testid="problem-list"
      className="rounded-md border border-red-200 bg-red-50 p-3 text-sm dark:border-red-900 dark:bg-red-950/40"
    >
      <p className="mb-2 font-medium text-red-800 dark:text-red-300">
        {title} ({problems.length})
      </p>
      <ul className="space-y-1">
        {problems.map((p, i) => (
          <li key={i} className="flex items-start gap-2">
            <button
              type="button"
              onClick={() => onReveal(p)}
              className="shrink-0 rounded bg-red-100 px-1.5 py-0.5 font-mono text-xs text-red-800 hover:bg-red-200 dark:bg-red-900 dark:text-red-200 dark:hover:bg-red-800"
              data-testid="problem-line"
            >
              {p.line !== null ? `line ${p.line}` : "—"}
            </button>
            <span className="text-red-700 dark:text-red-300">
              {p.pointer && <code className="mr-1 text-xs">{p.pointer}</code>}
              {p.detail}
            </span>
          </li>
        ))}
      </ul>
    </div>
  );
}

