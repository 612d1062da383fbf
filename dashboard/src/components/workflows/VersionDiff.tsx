import { useMemo, useState } from "react";
import type { WorkflowVersion } from "../../api/queries/workflows";
import { diffLines } from "../../lib/diff";
import { formatDateTime } from "../../lib/format";
import { Select } from "../ui/Input";
import { cn } from "../ui/cn";

/** Two versions side by side as a unified line diff of their pretty-printed definitions. */
export function VersionDiff({ versions }: { versions: WorkflowVersion[] }) {
  const sorted = useMemo(() => [...versions].sort((a, b) => b.version - a.version), [versions]);
  const [right, setRight] = useState(sorted[0]?.version ?? 1);
  const [left, setLeft] = useState(sorted[1]?.version ?? sorted[0]?.version ?? 1);
  const byVersion = (v: number) => sorted.find((x) => x.version === v);
  const lines = useMemo(() => {
    const a = byVersion(left);
    const b = byVersion(right);
    return diffLines(JSON.stringify(a?.definition ?? {}, null, 2), JSON.stringify(b?.definition ?? {}, null, 2));
  }, [left, right, sorted]);
  const added = lines.filter((l) => l.kind === "added").length;
  const removed = lines.filter((l) => l.kind === "removed").length;

  const picker = (label: string, value: number, onChange: (v: number) => void) => (
    <label className="flex items-center gap-2 text-xs text-slate-600 dark:text-slate-400">
      {label}
      <Select className="w-56" value={value} onChange={(e) => onChange(Number(e.target.value))}>
        {sorted.map((v) => (
          <option key={v.version} value={v.version}>
            v{v.version} · {formatDateTime(v.created_at)}
          </option>
        ))}
      </Select>
    </label>
  );

  return (
    <div className="space-y-3">
      <div className="flex flex-wrap items-center gap-4">
        {picker("From", left, setLeft)}
        {picker("To", right, setRight)}
        <span className="text-xs">
          <span className="text-emerald-600">+{added}</span> <span className="text-red-600">−{removed}</span>
        </span>
      </div>
      <div className="max-h-[600px] overflow-auto rounded-md ring-1 ring-inset ring-slate-200 dark:ring-slate-800" data-testid="version-diff">
        <table className="w-full border-collapse font-mono text-xs">
          <tbody>
            {lines.map((l, i) => (
              <tr
                key={i}
                className={cn(
                  l.kind === "added" && "bg-emerald-50 dark:bg-emerald-950/50",
                  l.kind === "removed" && "bg-red-50 dark:bg-red-950/50",
                )}
              >
                <td className="w-10 select-none px-2 text-right text-slate-400">{l.kind !== "added" ? l.left : ""}</td>
                <td className="w-10 select-none px-2 text-right text-slate-400">{l.kind !== "removed" ? l.right : ""}</td>
                <td className="w-4 select-none text-center text-slate-500">{l.kind === "added" ? "+" : l.kind === "removed" ? "−" : ""}</td>
                <td className="whitespace-pre px-2 text-slate-800 dark:text-slate-200">{l.text}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}
