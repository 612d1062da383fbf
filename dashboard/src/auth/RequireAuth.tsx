import { Navigate, useLocation } from "react-router-dom";
import type { ReactNode } from "react";
import { Loading } from "../components/ui/Spinner";
import { useAuth } from "./AuthProvider";
import type { Role } from "../api/queries/auth";
import { EmptyState } from "../components/ui/States";

export function RequireAuth({ children }: { children: ReactNode }) {
  const { signedIn, loading } = useAuth();
  const location = useLocation();
  if (loading) return <Loading label="Restoring your session…" className="min-h-screen" />;
  if (!signedIn) {
    const next = location.pathname + location.search;
    return <Navigate to={next === "/" ? "/login" : `/login?next=${encodeURIComponent(next)}`} replace />;
  }
  return <>{children}</>;
}

export function RequireRole({ roles, children }: { roles: Role[]; children: ReactNode }) {
  const { user } = useAuth();
  if (!user || !roles.includes(user.role)) {
    return (
      <EmptyState
        icon="🔒"
        title="Not available for your role"
        description={`This page needs one of these roles: ${roles.join(", ")}.`}
      />
    );
  }
  return <>{children}</>;
}
