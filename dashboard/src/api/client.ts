/**
 * The typed API client: `openapi-fetch` over the paths generated from `/openapi.json`
 * (`npm run gen:api`), with the bearer token added and one refresh-and-retry on 401.
 */
import createClient from "openapi-fetch";
import type { components, paths } from "./schema";
import { accessTokenNow, clearSession, refreshAccessToken } from "./session";
import { ApiError, problemFromBody, problemFromResponse } from "./problem";

export type Schemas = components["schemas"];

function withToken(request: Request, token: string | null): Request {
  const headers = new Headers(request.headers);
  if (token) headers.set("Authorization", `Bearer ${token}`);
  return new Request(request, { headers });
}

/** `fetch` with the session's token; on 401, refresh once and replay the request. */
export async function authFetch(input: Request): Promise<Response> {
  // Keep a copy: a request body can be read only once.
  const replay = input.clone();
  let token = accessTokenNow();
  if (!token) token = await refreshAccessToken();
  const res = await fetch(withToken(input, token));
  if (res.status !== 401) return res;
  const fresh = await refreshAccessToken();
  if (!fresh) {
    clearSession();
    return res;
  }
  const again = await fetch(withToken(replay, fresh));
  if (again.status === 401) clearSession();
  return again;
}

export const api = createClient<paths>({ baseUrl: "", fetch: authFetch });

type Result<T> = { data?: T; error?: unknown; response: Response };

/** The data of an openapi-fetch result, or its problem thrown as an `ApiError`. */
export async function unwrap<T>(promise: Promise<Result<T>>): Promise<T> {
  let result: Result<T>;
  try {
    result = await promise;
  } catch (e) {
    throw new ApiError(0, { title: "Network error", detail: e instanceof Error ? e.message : String(e) });
  }
  const { data, error, response } = result;
  if (!response.ok) {
    const retry = Number(response.headers.get("Retry-After"));
    throw problemFromBody(response.status, error, Number.isFinite(retry) && retry > 0 ? retry : null);
  }
  return data as T;
}

/**
 * A call to an endpoint not yet in `/openapi.json` (analytics, SSE, pause/resume…), for
 * features the dashboard detects at run time: a 404/405 means "not on this server".
 */
export async function rawRequest<T>(method: string, path: string, body?: unknown): Promise<T> {
  const init: RequestInit = { method, headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { ...init.headers, "Content-Type": "application/json" };
  }
  let res: Response;
  try {
    res = await authFetch(new Request(path, init));
  } catch (e) {
    throw new ApiError(0, { title: "Network error", detail: e instanceof Error ? e.message : String(e) });
  }
  if (!res.ok) throw await problemFromResponse(res);
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  return (text ? JSON.parse(text) : undefined) as T;
}
