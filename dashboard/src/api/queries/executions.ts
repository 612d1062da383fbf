import { keepPreviousData, queryOptions, useMutation, useQueryClient } from "@tanstack/react-query";
import { api, unwrap, type Schemas } from "../client";
import { isTerminal, type RunStatus } from "../../lib/status";

export type Execution = Schemas["ExecutionPublic"];
export type ExecutionSummary = Schemas["ExecutionSummary"];
export type Step = Schemas["StepPublic"];
export type LogEntry = Schemas["LogEntry"];
export type ExecuteRequest = Schemas["ExecuteRequest"];

export interface ExecutionListParams {
  workflow_id?: string;
  status?: RunStatus;
  limit: number;
  offset: number;
}

export interface LogParams {
  level?: string;
  step_id?: string;
}

export const executionKeys = {
  all: ["executions"] as const,
  lists: () => [...executionKeys.all, "list"] as const,
  list: (params: ExecutionListParams) => [...executionKeys.lists(), params] as const,
  detail: (id: string) => [...executionKeys.all, "detail", id] as const,
  logs: (id: string, params: LogParams) => [...executionKeys.detail(id), "logs", params] as const,
};

export const executionListQuery = (params: ExecutionListParams, refetchInterval: number | false = false) =>
  queryOptions({
    queryKey: executionKeys.list(params),
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/executions", {
          params: {
            query: {
              limit: params.limit,
              offset: params.offset,
              ...(params.workflow_id ? { workflow_id: params.workflow_id } : {}),
              ...(params.status ? { status: params.status } : {}),
            },
          },
        }),
      ),
    placeholderData: keepPreviousData,
    refetchInterval,
  });

/**
 * One execution. While it is not terminal it is polled: every second without a live stream,
 * every few seconds as a safety net when the SSE stream drives updates.
 */
export const executionQuery = (id: string, live: boolean) =>
  queryOptions({
    queryKey: executionKeys.detail(id),
    queryFn: () =>
      unwrap(api.GET("/api/v1/executions/{execution_id}", { params: { path: { execution_id: id } } })),
    refetchInterval: (query) => (isTerminal(query.state.data?.status) ? false : live ? 5000 : 1000),
  });

export const executionLogsQuery = (id: string, params: LogParams, follow: boolean) =>
  queryOptions({
    queryKey: executionKeys.logs(id, params),
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/executions/{execution_id}/logs", {
          params: {
            path: { execution_id: id },
            query: {
              limit: 1000,
              ...(params.level ? { level: params.level } : {}),
              ...(params.step_id ? { step_id: params.step_id } : {}),
            },
          },
        }),
      ),
    refetchInterval: follow ? 2000 : false,
  });

export function useExecute(workflowId: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (body: ExecuteRequest) =>
      unwrap(
        api.POST("/api/v1/workflows/{workflow_id}/execute", {
          params: { path: { workflow_id: workflowId } },
          body,
        }),
      ),
    onSuccess: () => void qc.invalidateQueries({ queryKey: executionKeys.lists() }),
  });
}

type Action =
  | { kind: "cancel" }
  | { kind: "signal"; name: string; payload: unknown }
  | { kind: "approve" | "reject"; comment?: string; step_id?: string }
  | { kind: "pause" | "resume" }
  | { kind: "retry"; from_failed: boolean }
  | { kind: "resolve"; step_id: string; action: "retry" | "skip" | "abort"; output?: unknown };

/** Operator actions on a run; each refreshes that run and the lists, nothing else. */
export function useExecutionAction(id: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: async (action: Action): Promise<{ execution_id?: string; id?: string; status?: string }> => {
      const path = { params: { path: { execution_id: id } } };
      switch (action.kind) {
        case "cancel":
          return unwrap(api.POST("/api/v1/executions/{execution_id}/cancel", path));
        case "signal":
          return unwrap(
            api.POST("/api/v1/executions/{execution_id}/signal", {
              ...path,
              body: { name: action.name, payload: action.payload },
            }),
          );
        case "approve":
        case "reject": {
          const body = { comment: action.comment || null, step_id: action.step_id ?? null };
          return action.kind === "approve"
            ? unwrap(api.POST("/api/v1/executions/{execution_id}/approve", { ...path, body }))
            : unwrap(api.POST("/api/v1/executions/{execution_id}/reject", { ...path, body }));
        }
        // Shown only when the server's OpenAPI lists them (see api/features.ts).
        case "pause":
          return unwrap(api.POST("/api/v1/executions/{execution_id}/pause", path));
        case "resume":
          return unwrap(api.POST("/api/v1/executions/{execution_id}/resume", path));
        case "retry":
          return unwrap(
            api.POST("/api/v1/executions/{execution_id}/retry", { ...path, body: { from_failed: action.from_failed } }),
          );
        case "resolve":
          return unwrap(
            api.POST("/api/v1/executions/{execution_id}/steps/{step_id}/resolve", {
              params: { path: { execution_id: id, step_id: action.step_id } },
              body: { action: action.action, ...(action.output !== undefined ? { output: action.output } : {}) },
            }),
          );
      }
    },
    onSettled: () => {
      void qc.invalidateQueries({ queryKey: executionKeys.detail(id) });
      void qc.invalidateQueries({ queryKey: executionKeys.lists() });
    },
  });
}
