import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { authFetch } from "./client";
import { accessTokenNow, clearSession, hasSession, onSessionEnd, setTokens } from "./session";

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

describe("authFetch", () => {
  const calls: { url: string; auth: string | null; body: string | null }[] = [];
  beforeEach(() => {
    calls.length = 0;
    sessionStorage.clear();
  });
  afterEach(() => {
    vi.unstubAllGlobals();
    clearSession();
  });

  function stub(responder: (url: string, auth: string | null) => Response) {
    vi.stubGlobal(
      "fetch",
      vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
        const req = input instanceof Request ? input : new Request(new URL(String(input), "http://localhost"), init);
        const body = req.method === "GET" ? null : await req.clone().text();
        calls.push({ url: new URL(req.url).pathname, auth: req.headers.get("Authorization"), body });
        return responder(new URL(req.url).pathname, req.headers.get("Authorization"));
      }),
    );
  }

  it("sends the token, and on a 401 refreshes once and replays the request with its body", async () => {
    setTokens({ access_token: "old", refresh_token: "r1", expires_in: 900 });
    stub((url, auth) => {
      if (url === "/api/v1/auth/refresh") return json(200, { access_token: "new", refresh_token: "r2", expires_in: 900 });
      return auth === "Bearer new" ? json(200, { ok: true }) : json(401, { title: "Unauthorized" });
    });
    const res = await authFetch(new Request("http://localhost/api/v1/workflows", { method: "POST", body: '{"name":"x"}' }));
    expect(res.status).toBe(200);
    expect(calls.map((c) => [c.url, c.auth])).toEqual([
      ["/api/v1/workflows", "Bearer old"],
      ["/api/v1/auth/refresh", null],
      ["/api/v1/workflows", "Bearer new"],
    ]);
    expect(calls[2]!.body).toBe('{"name":"x"}');
    expect(accessTokenNow()).toBe("new");
    expect(sessionStorage.getItem("headrace.refresh_token")).toBe("r2");
  });

  it("ends the session when the refresh token is refused", async () => {
    setTokens({ access_token: "old", refresh_token: "r1", expires_in: 900 });
    const ended = vi.fn();
    const off = onSessionEnd(ended);
    stub(() => json(401, { title: "Unauthorized" }));
    const res = await authFetch(new Request("http://localhost/api/v1/auth/me"));
    expect(res.status).toBe(401);
    expect(ended).toHaveBeenCalled();
    expect(hasSession()).toBe(false);
    off();
  });

  it("keeps the refresh token out of memory-only storage and the access token out of storage", () => {
    setTokens({ access_token: "a", refresh_token: "r", expires_in: 60 });
    expect(Object.values({ ...sessionStorage })).not.toContain("a");
    expect(localStorage.length).toBe(0);
  });
});
