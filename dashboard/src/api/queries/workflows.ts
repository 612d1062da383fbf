import { keepPreviousData, queryOptions, useMutation, useQueryClient } from "@tanstack/react-query";
import { api, rawRequest, unwrap, type Schemas } from "../client";
import { ApiError, isMissingEndpoint } from "../problem";

export type Workflow = Schemas["WorkflowPublic"];
export type WorkflowCreate = Schemas["WorkflowCreate"];
export type WorkflowPatch = Schemas["WorkflowPatch"];
export type WorkflowVersion = Schemas["WorkflowVersionPublic"];
export type WorkflowStatus = NonNullable<WorkflowPatch["status"]>;

export interface WorkflowListParams {
  q?: string;
  status?: WorkflowStatus;
  limit: number;
  offset: number;
}

export const workflowKeys = {
  all: ["workflows"] as const,
  lists: () => [...workflowKeys.all, "list"] as const,
  list: (params: WorkflowListParams) => [...workflowKeys.lists(), params] as const,
  detail: (id: string) => [...workflowKeys.all, "detail", id] as const,
  versions: (id: string) => [...workflowKeys.detail(id), "versions"] as const,
  triggers: (id: string) => [...workflowKeys.detail(id), "triggers"] as const,
};

export const workflowListQuery = (params: WorkflowListParams) =>
  queryOptions({
    queryKey: workflowKeys.list(params),
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/workflows", {
          params: {
            query: {
              limit: params.limit,
              offset: params.offset,
              ...(params.q ? { q: params.q } : {}),
              ...(params.status ? { status: params.status } : {}),
            },
          },
        }),
      ),
    placeholderData: keepPreviousData,
  });

export const workflowQuery = (id: string) =>
  queryOptions({
    queryKey: workflowKeys.detail(id),
    queryFn: () => unwrap(api.GET("/api/v1/workflows/{workflow_id}", { params: { path: { workflow_id: id } } })),
  });

export const workflowVersionsQuery = (id: string) =>
  queryOptions({
    queryKey: workflowKeys.versions(id),
    queryFn: () =>
      unwrap(api.GET("/api/v1/workflows/{workflow_id}/versions", { params: { path: { workflow_id: id } } })),
  });

export function useCreateWorkflow() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (body: WorkflowCreate) => unwrap(api.POST("/api/v1/workflows", { body })),
    onSuccess: (wf) => {
      qc.setQueryData(workflowKeys.detail(wf.id), wf);
      void qc.invalidateQueries({ queryKey: workflowKeys.lists() });
    },
  });
}

export function useUpdateWorkflow(id: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (body: WorkflowPatch) =>
      unwrap(api.PATCH("/api/v1/workflows/{workflow_id}", { params: { path: { workflow_id: id } }, body })),
    onSuccess: (wf) => {
      qc.setQueryData(workflowKeys.detail(id), wf);
      void qc.invalidateQueries({ queryKey: workflowKeys.lists() });
      void qc.invalidateQueries({ queryKey: workflowKeys.versions(id) });
    },
  });
}

export function useDeleteWorkflow() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (id: string) =>
      unwrap(api.DELETE("/api/v1/workflows/{workflow_id}", { params: { path: { workflow_id: id } } })),
    onSuccess: (_, id) => {
      qc.removeQueries({ queryKey: workflowKeys.detail(id) });
      void qc.invalidateQueries({ queryKey: workflowKeys.lists() });
    },
  });
}

/**
 * Server-side validation of a definition without saving it, when the API offers
 * `POST /workflows/validate` (answers "unavailable" otherwise; saving still validates).
 */
export async function validateDefinition(
  definition: unknown,
): Promise<"valid" | "unavailable" | ApiError> {
  try {
    await rawRequest("POST", "/api/v1/workflows/validate", { definition });
    return "valid";
  } catch (e) {
    if (isMissingEndpoint(e)) return "unavailable";
    if (e instanceof ApiError && e.status === 422) return e;
    throw e;
  }
}

export type Trigger = Schemas["TriggerPublic"];

/** Triggers of a workflow with their live state (next runs), null when the server has none. */
export const workflowTriggersQuery = (id: string) =>
  queryOptions({
    queryKey: workflowKeys.triggers(id),
    queryFn: async (): Promise<Trigger[] | null> => {
      try {
        return await unwrap(
          api.GET("/api/v1/workflows/{workflow_id}/triggers", { params: { path: { workflow_id: id } } }),
        );
      } catch (e) {
        if (isMissingEndpoint(e)) return null;
        throw e;
      }
    },
    retry: false,
  });

export function useTriggerAction(workflowId: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: ({ id, action }: { id: string; action: "pause" | "resume" | "run-now" }): Promise<unknown> =>
      action === "run-now"
        ? unwrap(api.POST("/api/v1/triggers/{trigger_id}/run-now", { params: { path: { trigger_id: id } } }))
        : unwrap(
            api.PATCH("/api/v1/triggers/{trigger_id}", {
              params: { path: { trigger_id: id } },
              body: { paused: action === "pause" },
            }),
          ),
    onSuccess: () => void qc.invalidateQueries({ queryKey: workflowKeys.triggers(workflowId) }),
  });
}
