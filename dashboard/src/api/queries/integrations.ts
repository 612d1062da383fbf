import { queryOptions, useMutation, useQueryClient } from "@tanstack/react-query";
import { api, unwrap, type Schemas } from "../client";
import { isMissingEndpoint } from "../problem";

export type Integration = Schemas["IntegrationPublic"];
export type N8nSyncRequest = Schemas["N8nSyncRequest"];
export type N8nSyncResult = Schemas["N8nSyncResult"];

export const integrationKeys = {
  all: ["integrations"] as const,
  list: () => [...integrationKeys.all, "list"] as const,
};

/** The caller's integrations; null when this server has no integrations endpoint. */
export const integrationListQuery = () =>
  queryOptions({
    queryKey: integrationKeys.list(),
    queryFn: async (): Promise<Integration[] | null> => {
      try {
        return await unwrap(api.GET("/api/v1/integrations"));
      } catch (e) {
        if (isMissingEndpoint(e)) return null;
        throw e;
      }
    },
    retry: false,
  });

export function useN8nSync() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (body: N8nSyncRequest) => unwrap(api.POST("/api/v1/integrations/n8n/sync", { body })),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: integrationKeys.list() });
      // A sync creates or updates workflows.
      void qc.invalidateQueries({ queryKey: ["workflows", "list"] });
    },
  });
}

export function useTestIntegration() {
  return useMutation({
    mutationFn: (id: string) =>
      unwrap(api.POST("/api/v1/integrations/{integration_id}/test", { params: { path: { integration_id: id } } })),
  });
}

export function useDeleteIntegration() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (id: string) =>
      unwrap(api.DELETE("/api/v1/integrations/{integration_id}", { params: { path: { integration_id: id } } })),
    onSuccess: () => void qc.invalidateQueries({ queryKey: integrationKeys.list() }),
  });
}

export type IntegrationCreate = Schemas["IntegrationCreate"];

export function useCreateIntegration() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (body: IntegrationCreate) => unwrap(api.POST("/api/v1/integrations", { body })),
    onSuccess: () => void qc.invalidateQueries({ queryKey: integrationKeys.list() }),
  });
}
