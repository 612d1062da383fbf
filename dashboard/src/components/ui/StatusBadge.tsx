import { statusStyle } from "../../lib/status";
import { cn } from "./cn";

export function StatusBadge({ status, className }: { status: string | null | undefined; className?: string }) {
  const s = statusStyle(status);
  return (
    <span
      data-status={status ?? "pending"}
      className={cn(
        "inline-flex items-center gap-1.5 rounded-full px-2 py-0.5 text-xs font-medium ring-1 ring-inset",
        s.badge,
        className,
      )}
    >
      <span className={cn("h-1.5 w-1.5 rounded-full", s.solid, s.active && "animate-pulse")} aria-hidden />
      {s.label}
    </span>
  );
}

export function Badge({ children, className }: { children: React.ReactNode; className?: string }) {
  return (
    <span
      className={cn(
        "inline-flex items-center rounded px-1.5 py-0.5 text-[11px] font-medium text-slate-600 ring-1 ring-inset ring-slate-200 dark:text-slate-300 dark:ring-slate-700",
        className,
      )}
    >
      {children}
    </span>
  );
}
