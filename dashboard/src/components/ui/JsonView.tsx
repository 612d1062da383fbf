import { prettyJson } from "../../lib/format";
import { cn } from "./cn";

export function JsonView({ value, className, maxHeight = "max-h-72" }: { value: unknown; className?: string; maxHeight?: string }) {
  return (
    <pre
      className={cn(
        "overflow-auto rounded-md bg-slate-50 p-3 font-mono text-xs text-slate-800 ring-1 ring-inset ring-slate-200 dark:bg-slate-950 dark:text-slate-200 dark:ring-slate-800",
        maxHeight,
        className,
      )}
    >
      {value === undefined ? "—" : prettyJson(value)}
    </pre>
  );
}
