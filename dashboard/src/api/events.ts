/**
 * The live event stream of one execution (`GET /executions/{id}/events`, Server-Sent Events).
 * Read with `fetch` rather than EventSource so the token travels in a header, a 404 can be
 * told apart ("this server has no stream yet": fall back to polling), and `Last-Event-ID`
 * resumes after a dropped connection.
 */
import { freshAccessToken } from "./session";

export interface RunEvent {
  id?: string | number;
  type: string;
  execution_id?: string;
  step_id?: string | null;
  attempt?: number | null;
  data?: unknown;
  ts?: string;
}

export const TERMINAL_EVENTS = new Set(["execution.completed", "execution.failed", "execution.cancelled"]);

/** Split an SSE byte stream into events (the `event:`, `data:` and `id:` fields). */
export class SseParser {
  private buffer = "";
  private data: string[] = [];
  private event = "";
  private id: string | null = null;
  lastEventId: string | null = null;

  push(chunk: string, emit: (e: { event: string; data: string; id: string | null }) => void): void {
    this.buffer += chunk;
    let nl: number;
    while ((nl = this.buffer.search(/\r\n|\r|\n/)) >= 0) {
      const line = this.buffer.slice(0, nl);
      const sep = this.buffer.startsWith("\r\n", nl) ? 2 : 1;
      this.buffer = this.buffer.slice(nl + sep);
      if (line === "") {
        if (this.data.length) {
          if (this.id !== null) this.lastEventId = this.id;
          emit({ event: this.event || "message", data: this.data.join("\n"), id: this.id });
        }
        this.data = [];
        this.event = "";
        this.id = null;
        continue;
      }
      if (line.startsWith(":")) continue; // comment / keep-alive
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "data") this.data.push(value);
      else if (field === "event") this.event = value;
      else if (field === "id") this.id = value;
    }
  }
}

export type StreamState = "connecting" | "live" | "unavailable" | "ended" | "error";

export interface StreamHandle {
  close(): void;
}

/**
 * Follow an execution's events. `onState` reports whether the stream is live; "unavailable"
 * means the server has no such endpoint (the caller keeps polling). Reconnects with
 * `Last-Event-ID` after network errors, up to a few times.
 */
export function followExecution(
  executionId: string,
  onEvent: (e: RunEvent) => void,
  onState: (s: StreamState) => void,
): StreamHandle {
  const controller = new AbortController();
  let lastEventId: string | null = null;
  let failures = 0;

  async function connect(): Promise<void> {
    onState("connecting");
    const token = await freshAccessToken();
    const headers: Record<string, string> = { Accept: "text/event-stream" };
    if (token) headers.Authorization = `Bearer ${token}`;
    if (lastEventId) headers["Last-Event-ID"] = lastEventId;
    const res = await fetch(`/api/v1/executions/${executionId}/events`, { headers, signal: controller.signal });
    const type = res.headers.get("Content-Type") ?? "";
    if (res.status === 404 || res.status === 405 || (res.ok && !type.includes("text/event-stream"))) {
      onState("unavailable");
      return;
    }
    if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
    onState("live");
    failures = 0;
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    const parser = new SseParser();
    let ended = false;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      parser.push(value, ({ event, data }) => {
        try {
          const parsed = JSON.parse(data) as RunEvent;
          const e: RunEvent = { ...parsed, type: parsed.type ?? event };
          if (TERMINAL_EVENTS.has(e.type)) ended = true;
          onEvent(e);
        } catch {
          /* a non-JSON event: ignore */
        }
      });
      lastEventId = parser.lastEventId ?? lastEventId;
    }
    if (ended) {
      onState("ended");
      return;
    }
    throw new Error("stream closed");
  }

  void (async () => {
    while (!controller.signal.aborted) {
      try {
        await connect();
        return;
      } catch {
        if (controller.signal.aborted) return;
        failures++;
        if (failures > 5) {
          onState("error");
          return;
        }
        onState("connecting");
        await new Promise((r) => setTimeout(r, Math.min(1000 * 2 ** failures, 10_000)));
      }
    }
  })();

  return { close: () => controller.abort() };
}
