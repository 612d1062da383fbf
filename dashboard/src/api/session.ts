/**
 * The login session. The access token lives only in memory (never in storage a script could
 * read later); the refresh token is kept in sessionStorage so a reload of this tab stays
 * logged in, and closing the tab ends the session.
 */

const REFRESH_KEY = "headrace.refresh_token";

export interface TokenPair {
  access_token: string;
  refresh_token: string;
  expires_in: number;
}

let accessToken: string | null = null;
let expiresAt = 0;
let refreshing: Promise<string | null> | null = null;
const listeners = new Set<() => void>();

function storedRefreshToken(): string | null {
  try {
    return sessionStorage.getItem(REFRESH_KEY);
  } catch {
    return null;
  }
}

export function hasSession(): boolean {
  return accessToken !== null || storedRefreshToken() !== null;
}

export function accessTokenNow(): string | null {
  return accessToken;
}

export function setTokens(pair: TokenPair): void {
  accessToken = pair.access_token;
  expiresAt = Date.now() + pair.expires_in * 1000;
  try {
    sessionStorage.setItem(REFRESH_KEY, pair.refresh_token);
  } catch {
    /* storage unavailable: the session lasts until reload */
  }
}

/** Forget every token and tell the app (it shows the login page). */
export function clearSession(): void {
  accessToken = null;
  expiresAt = 0;
  try {
    sessionStorage.removeItem(REFRESH_KEY);
  } catch {
    /* nothing stored */
  }
  listeners.forEach((l) => l());
}

/** Called when the session ends (logout, or a refresh the server refused). */
export function onSessionEnd(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/**
 * A new access token from the refresh token. Concurrent callers share one request, so a burst
 * of 401s makes one refresh. Resolves null (and ends the session) when the server refuses.
 */
export function refreshAccessToken(): Promise<string | null> {
  if (refreshing) return refreshing;
  const refreshToken = storedRefreshToken();
  if (!refreshToken) return Promise.resolve(null);
  refreshing = (async () => {
    try {
      const res = await fetch("/api/v1/auth/refresh", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ refresh_token: refreshToken }),
      });
      if (!res.ok) {
        if (res.status === 401 || res.status === 403 || res.status === 422) clearSession();
        return null;
      }
      const pair = (await res.json()) as TokenPair;
      setTokens(pair);
      return pair.access_token;
    } catch {
      return null; // network trouble: keep the session, the next call retries
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

/** An access token valid for at least `marginSeconds` more (for EventSource/WebSocket URLs). */
export async function freshAccessToken(marginSeconds = 30): Promise<string | null> {
  if (accessToken && Date.now() < expiresAt - marginSeconds * 1000) return accessToken;
  return refreshAccessToken();
}

/** Log in with the OAuth2 password form. Throws the server's problem on failure. */
export async function login(email: string, password: string): Promise<void> {
  const res = await fetch("/api/v1/auth/token", {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ username: email, password }),
  });
  if (!res.ok) {
    const { problemFromResponse } = await import("./problem");
    throw await problemFromResponse(res);
  }
  setTokens((await res.json()) as TokenPair);
}
