import { queryOptions } from "@tanstack/react-query";
import { api, unwrap, type Schemas } from "../client";

export type User = Schemas["UserPublic"];
export type Role = User["role"];

export const authKeys = {
  me: ["auth", "me"] as const,
};

export const meQuery = () =>
  queryOptions({
    queryKey: authKeys.me,
    queryFn: () => unwrap(api.GET("/api/v1/auth/me")),
    staleTime: 5 * 60_000,
    retry: false,
  });

/** What a role may do in the dashboard (the API enforces it; this only hides dead ends). */
export function can(user: User | undefined, action: "editWorkflows" | "manageUsers"): boolean {
  if (!user) return false;
  if (action === "manageUsers") return user.role === "admin";
  return user.role === "admin" || user.role === "developer";
}
