import { useQuery, useQueryClient } from "@tanstack/react-query";
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import { authKeys, meQuery, type User } from "../api/queries/auth";
import { clearSession, hasSession, login as loginRequest, onSessionEnd } from "../api/session";

interface AuthState {
  user: User | undefined;
  /** True while the session is being restored from the refresh token. */
  loading: boolean;
  error: unknown;
  signedIn: boolean;
  login: (email: string, password: string) => Promise<void>;
  logout: () => void;
}

const AuthContext = createContext<AuthState | null>(null);

export function AuthProvider({ children }: { children: ReactNode }) {
  const qc = useQueryClient();
  const [signedIn, setSignedIn] = useState(hasSession);
  const me = useQuery({ ...meQuery(), enabled: signedIn });

  useEffect(
    () =>
      onSessionEnd(() => {
        setSignedIn(false);
        qc.clear();
      }),
    [qc],
  );

  const login = useCallback(
    async (email: string, password: string) => {
      await loginRequest(email, password);
      qc.clear();
      setSignedIn(true);
      await qc.fetchQuery(meQuery());
    },
    [qc],
  );

  const logout = useCallback(() => {
    clearSession();
  }, []);

  // A session that cannot load the user (refresh refused) is no session.
  useEffect(() => {
    if (me.isError) qc.removeQueries({ queryKey: authKeys.me });
  }, [me.isError, qc]);

  const value = useMemo<AuthState>(
    () => ({
      user: signedIn ? me.data : undefined,
      loading: signedIn && me.isPending,
      error: me.error,
      signedIn: signedIn && !me.isError,
      login,
      logout,
    }),
    [signedIn, me.data, me.isPending, me.isError, me.error, login, logout],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthState {
  const ctx = useContext(AuthContext);
  if (!ctx) throw new Error("useAuth outside <AuthProvider>");
  return ctx;
}
