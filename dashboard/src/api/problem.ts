/** RFC 9457 problems, as the API answers every error. */

export interface ProblemEntry {
  pointer: string;
  detail: string;
  code?: string;
}

export interface ProblemBody {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  errors?: ProblemEntry[];
}

export class ApiError extends Error {
  readonly status: number;
  readonly title: string;
  readonly detail: string;
  readonly errors: ProblemEntry[];
  readonly retryAfter: number | null;

  constructor(status: number, body: ProblemBody, retryAfter: number | null = null) {
    const title = body.title ?? (status ? `HTTP ${status}` : "Network error");
    const detail = body.detail ?? "";
    super(detail ? `${title}: ${detail}` : title);
    this.name = "ApiError";
    this.status = status;
    this.title = title;
    this.detail = detail;
    this.errors = Array.isArray(body.errors) ? body.errors : [];
    this.retryAfter = retryAfter;
  }

  /** The problems under a pointer prefix (`/definition`), with the prefix removed. */
  errorsUnder(prefix: string): ProblemEntry[] {
    return this.errors
      .filter((e) => e.pointer === prefix || e.pointer.startsWith(prefix + "/"))
      .map((e) => ({ ...e, pointer: e.pointer.slice(prefix.length) }));
  }
}

function normaliseFastApiDetail(detail: unknown): ProblemBody {
  // FastAPI's default 422 shape, should a route answer it: {detail: [{loc, msg, type}]}.
  if (Array.isArray(detail)) {
    return {
      title: "Invalid input",
      detail: "The request is not valid",
      errors: detail.map((d: { loc?: unknown[]; msg?: string; type?: string }) => {
        const loc = (d.loc ?? []).slice(1).map(String);
        return { pointer: loc.length ? "/" + loc.join("/") : "", detail: d.msg ?? "invalid", code: d.type };
      }),
    };
  }
  return { detail: typeof detail === "string" ? detail : undefined };
}

export function problemFromBody(status: number, body: unknown, retryAfter: number | null = null): ApiError {
  if (body && typeof body === "object") {
    const b = body as ProblemBody & { detail?: unknown };
    if (typeof b.title === "string" || typeof b.type === "string") return new ApiError(status, b, retryAfter);
    return new ApiError(status, normaliseFastApiDetail(b.detail), retryAfter);
  }
  return new ApiError(status, { detail: typeof body === "string" ? body : undefined }, retryAfter);
}

export async function problemFromResponse(res: Response): Promise<ApiError> {
  let body: unknown = null;
  try {
    const text = await res.text();
    body = text ? (JSON.parse(text) as unknown) : null;
  } catch {
    body = null;
  }
  const retry = Number(res.headers.get("Retry-After"));
  return problemFromBody(res.status, body ?? { title: res.statusText || `HTTP ${res.status}` }, Number.isFinite(retry) && retry > 0 ? retry : null);
}

/** A readable message for any thrown value. */
export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.errors.length && !error.detail) {
      return error.errors.map((e) => `${e.pointer || "/"}: ${e.detail}`).join("; ");
    }
    return error.detail || error.title;
  }
  if (error instanceof Error) return error.message;
  return String(error);
}

/** True for "this endpoint does not exist here (yet)". */
export function isMissingEndpoint(error: unknown): boolean {
  return error instanceof ApiError && (error.status === 404 || error.status === 405);
}
