/** One palette for run and step statuses, shared by badges, graph nodes and the timeline. */

export const RUN_STATUSES = [
  "pending",
  "queued",
  "running",
  "waiting",
  "paused",
  "completed",
  "failed",
  "cancelled",
] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

export const TERMINAL_STATUSES: ReadonlySet<string> = new Set(["completed", "failed", "cancelled"]);

export function isTerminal(status: string | undefined | null): boolean {
  return status != null && TERMINAL_STATUSES.has(status);
}

export interface StatusStyle {
  /** Badge classes (background, text, ring). */
  badge: string;
  /** A solid colour for dots, bars and node borders. */
  solid: string;
  /** Hex of the solid colour, for SVG and React Flow. */
  hex: string;
  /** Graph node classes (border and tinted background). */
  node: string;
  label: string;
  /** Whether the status is in progress (animated in the UI). */
  active: boolean;
}

const STYLES: Record<string, StatusStyle> = {
  pending: {
    badge: "bg-slate-100 text-slate-700 ring-slate-300 dark:bg-slate-800 dark:text-slate-300 dark:ring-slate-600",
    solid: "bg-slate-400",
    hex: "#94a3b8",
    node: "border-slate-300 bg-white dark:border-slate-600 dark:bg-slate-900",
    label: "Pending",
    active: false,
  },
  queued: {
    badge: "bg-violet-50 text-violet-700 ring-violet-300 dark:bg-violet-950 dark:text-violet-300 dark:ring-violet-700",
    solid: "bg-violet-400",
    hex: "#a78bfa",
    node: "border-violet-300 bg-violet-50 dark:border-violet-700 dark:bg-violet-950",
    label: "Queued",
    active: false,
  },
  running: {
    badge: "bg-sky-50 text-sky-700 ring-sky-300 dark:bg-sky-950 dark:text-sky-300 dark:ring-sky-700",
    solid: "bg-sky-500",
    hex: "#0ea5e9",
    node: "border-sky-500 bg-sky-50 dark:bg-sky-950",
    label: "Running",
    active: true,
  },
  retrying: {
    badge: "bg-orange-50 text-orange-700 ring-orange-300 dark:bg-orange-950 dark:text-orange-300 dark:ring-orange-700",
    solid: "bg-orange-500",
    hex: "#f97316",
    node: "border-orange-500 bg-orange-50 dark:bg-orange-950",
    label: "Retrying",
    active: true,
  },
  waiting: {
    badge: "bg-amber-50 text-amber-800 ring-amber-300 dark:bg-amber-950 dark:text-amber-300 dark:ring-amber-700",
    solid: "bg-amber-500",
    hex: "#f59e0b",
    node: "border-amber-500 bg-amber-50 dark:bg-amber-950",
    label: "Waiting",
    active: true,
  },
  paused: {
    badge: "bg-violet-50 text-violet-700 ring-violet-300 dark:bg-violet-950 dark:text-violet-300 dark:ring-violet-700",
    solid: "bg-violet-500",
    hex: "#8b5cf6",
    node: "border-violet-500 bg-violet-50 dark:bg-violet-950",
    label: "Paused",
    active: false,
  },
  completed: {
    badge: "bg-emerald-50 text-emerald-700 ring-emerald-300 dark:bg-emerald-950 dark:text-emerald-300 dark:ring-emerald-700",
    solid: "bg-emerald-500",
    hex: "#10b981",
    node: "border-emerald-500 bg-emerald-50 dark:bg-emerald-950",
    label: "Completed",
    active: false,
  },
  failed: {
    badge: "bg-red-50 text-red-700 ring-red-300 dark:bg-red-950 dark:text-red-300 dark:ring-red-700",
    solid: "bg-red-500",
    hex: "#ef4444",
    node: "border-red-500 bg-red-50 dark:bg-red-950",
    label: "Failed",
    active: false,
  },
  cancelled: {
    badge: "bg-zinc-100 text-zinc-700 ring-zinc-300 dark:bg-zinc-800 dark:text-zinc-300 dark:ring-zinc-600",
    solid: "bg-zinc-500",
    hex: "#71717a",
    node: "border-zinc-500 bg-zinc-100 dark:bg-zinc-800",
    label: "Cancelled",
    active: false,
  },
  skipped: {
    badge: "bg-slate-50 text-slate-500 ring-slate-200 dark:bg-slate-900 dark:text-slate-400 dark:ring-slate-700",
    solid: "bg-slate-300 dark:bg-slate-600",
    hex: "#cbd5e1",
    node: "border-dashed border-slate-300 bg-slate-50 opacity-70 dark:border-slate-600 dark:bg-slate-900",
    label: "Skipped",
    active: false,
  },
  // A step that never started because the run failed or was cancelled first.
  not_run: {
    badge: "bg-slate-50 text-slate-500 ring-slate-200 dark:bg-slate-900 dark:text-slate-400 dark:ring-slate-700",
    solid: "bg-slate-300 dark:bg-slate-600",
    hex: "#cbd5e1",
    node: "border-dashed border-slate-300 bg-slate-50 opacity-70 dark:border-slate-600 dark:bg-slate-900",
    label: "Not run",
    active: false,
  },
};

/** The style of a status; unknown statuses look like `pending` but keep their own name. */
export function statusStyle(status: string | null | undefined): StatusStyle {
  const key = (status ?? "pending").toLowerCase();
  const known = STYLES[key];
  if (known) return known;
  const fallback = STYLES.pending as StatusStyle;
  return { ...fallback, label: key ? key[0]!.toUpperCase() + key.slice(1) : fallback.label };
}

/** Colours of step types in the graph (left stripe and type chip). */
const TYPE_COLOURS: Record<string, string> = {
  http: "#2563eb",
  transform: "#7c3aed",
  sleep: "#d97706",
  wait_for_event: "#0891b2",
  approval: "#db2777",
  workflow: "#4f46e5",
  n8n: "#ea580c",
  storage: "#059669",
  log: "#64748b",
  fail: "#dc2626",
  llm: "#0d9488",
  agent: "#9333ea",
};

export function stepTypeColour(type: string | undefined): string {
  return (type && TYPE_COLOURS[type]) || "#475569";
}

export const STEP_TYPES = Object.keys(TYPE_COLOURS);

/**
 * The status to show for a step: once the run has ended, a step still `pending` never ran
 * (skipped), and one still running or waiting was cut short (cancelled).
 */
export function displayStepStatus(status: string | null | undefined, runEnded: boolean): string {
  const s = status ?? "pending";
  if (!runEnded) return s;
  if (s === "pending") return "skipped";
  if (s === "running" || s === "waiting" || s === "paused") return "cancelled";
  return s;
}

/** The text colour of a log line's level (`/logs` and a step's logs on the run page). */
export const LOG_LEVEL_TONE: Record<string, string> = {
  debug: "text-slate-400",
  info: "text-sky-600 dark:text-sky-400",
  warning: "text-amber-600 dark:text-amber-400",
  warn: "text-amber-600 dark:text-amber-400",
  error: "text-red-600 dark:text-red-400",
};
