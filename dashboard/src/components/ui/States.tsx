import type { ReactNode } from "react";
import { errorMessage } from "../../api/problem";
import { Button } from "./Button";
import { cn } from "./cn";

export function EmptyState({
  title,
  description,
  action,
  icon = "◇",
  className,
}: {
  title: ReactNode;
  description?: ReactNode;
  action?: ReactNode;
  icon?: ReactNode;
  className?: string;
}) {
  return (
    <div className={cn("flex flex-col items-center justify-center px-6 py-12 text-center", className)}>
      <div className="mb-3 flex h-10 w-10 items-center justify-center rounded-full bg-slate-100 text-lg text-slate-500 dark:bg-slate-800 dark:text-slate-400" aria-hidden>
        {icon}
      </div>
      <h3 className="text-sm font-semibold text-slate-900 dark:text-slate-100">{title}</h3>
      {description && <p className="mt-1 max-w-md text-sm text-slate-500 dark:text-slate-400">{description}</p>}
      {action && <div className="mt-4">{action}</div>}
    </div>
  );
}

export function ErrorState({ error, retry, className }: { error: unknown; retry?: () => void; className?: string }) {
  return (
    <div role="alert" className={cn("rounded-lg border border-red-200 bg-red-50 p-4 text-sm dark:border-red-900 dark:bg-red-950/50", className)}>
      <div className="flex items-start justify-between gap-4">
        <div>
          <p className="font-medium text-red-800 dark:text-red-300">Something went wrong</p>
          <p className="mt-1 text-red-700 dark:text-red-400">{errorMessage(error)}</p>
        </div>
        {retry && (
          <Button size="sm" onClick={retry}>
            Retry
          </Button>
        )}
      </div>
    </div>
  );
}

export function InlineError({ error }: { error: unknown }) {
  if (!error) return null;
  return (
    <p role="alert" className="text-sm text-red-600 dark:text-red-400">
      {errorMessage(error)}
    </p>
  );
}
