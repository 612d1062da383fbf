/**
 * What this server offers, read from its `/openapi.json`: endpoints that other parts of the
 * product add over time (pause/resume, retry, resolve, analytics, triggers, integrations)
 * appear in the dashboard as soon as the server lists them, and stay hidden before.
 */
import { queryOptions, useQuery } from "@tanstack/react-query";

type Method = "get" | "post" | "put" | "patch" | "delete";

export interface Features {
  has(method: Method, path: string): boolean;
  /** False when the OpenAPI document could not be read (callers then probe at run time). */
  known: boolean;
}

export function featuresFrom(doc: unknown): Features {
  const paths = (doc && typeof doc === "object" && "paths" in doc ? (doc as { paths: unknown }).paths : null) as
    | Record<string, Record<string, unknown>>
    | null;
  if (!paths) return { has: () => false, known: false };
  return {
    known: true,
    has: (method, path) => Boolean(paths[path]?.[method]),
  };
}

export const featuresQuery = () =>
  queryOptions({
    queryKey: ["openapi"] as const,
    queryFn: async () => {
      const res = await fetch("/openapi.json", { headers: { Accept: "application/json" } });
      if (!res.ok) return null;
      return (await res.json()) as unknown;
    },
    staleTime: 10 * 60_000,
    retry: false,
    select: featuresFrom,
  });

export function useFeatures(): Features {
  const q = useQuery(featuresQuery());
  return q.data ?? { has: () => false, known: false };
}

export const PATHS = {
  pause: "/api/v1/executions/{execution_id}/pause",
  resume: "/api/v1/executions/{execution_id}/resume",
  retry: "/api/v1/executions/{execution_id}/retry",
  resolve: "/api/v1/executions/{execution_id}/steps/{step_id}/resolve",
  analytics: "/api/v1/analytics/summary",
  triggers: "/api/v1/workflows/{workflow_id}/triggers",
  integrations: "/api/v1/integrations",
  n8nSync: "/api/v1/integrations/n8n/sync",
  secrets: "/api/v1/secrets",
} as const;
