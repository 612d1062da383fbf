import { queryOptions, useMutation, useQueryClient } from "@tanstack/react-query";
import { api, unwrap, type Schemas } from "../client";

export type Secret = Schemas["SecretPublic"];

export const secretKeys = {
  all: ["secrets"] as const,
  list: () => [...secretKeys.all, "list"] as const,
};

/** Names only: a secret's value is never returned after it is stored. */
export const secretListQuery = () =>
  queryOptions({
    queryKey: secretKeys.list(),
    queryFn: () => unwrap(api.GET("/api/v1/secrets")),
  });

export function useCreateSecret() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (body: { name: string; value: string; shared?: boolean }) =>
      unwrap(api.POST("/api/v1/secrets", { body: { shared: false, ...body } })),
    onSuccess: () => void qc.invalidateQueries({ queryKey: secretKeys.list() }),
  });
}

export function useDeleteSecret() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (name: string) => unwrap(api.DELETE("/api/v1/secrets/{name}", { params: { path: { name } } })),
    onSuccess: () => void qc.invalidateQueries({ queryKey: secretKeys.list() }),
  });
}
