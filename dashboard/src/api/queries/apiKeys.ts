import { queryOptions, useMutation, useQueryClient } from "@tanstack/react-query";
import { api, unwrap, type Schemas } from "../client";

export type ApiKey = Schemas["ApiKeyPublic"];
export type ApiKeyCreated = Schemas["ApiKeyCreated"];

export const apiKeyKeys = {
  all: ["api-keys"] as const,
  list: () => [...apiKeyKeys.all, "list"] as const,
};

export const apiKeyListQuery = () =>
  queryOptions({
    queryKey: apiKeyKeys.list(),
    queryFn: () => unwrap(api.GET("/api/v1/api-keys")),
  });

export function useCreateApiKey() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (body: { name: string; expires_at: string | null }) =>
      unwrap(api.POST("/api/v1/api-keys", { body: { name: body.name, expires_at: body.expires_at } })),
    onSuccess: () => void qc.invalidateQueries({ queryKey: apiKeyKeys.list() }),
  });
}

export function useRevokeApiKey() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (id: string) => unwrap(api.DELETE("/api/v1/api-keys/{key_id}", { params: { path: { key_id: id } } })),
    onSuccess: () => void qc.invalidateQueries({ queryKey: apiKeyKeys.list() }),
  });
}
