/** Problems of a JSON text (its syntax, or the API's 422 entries) with their positions. */
import type { ProblemEntry } from "../api/problem";
import { jsonSyntaxProblems, locatePointer } from "./jsonPointer";

export interface LocatedProblem {
  pointer: string;
  detail: string;
  code?: string;
  line: number | null;
  from: number;
  to: number;
  source: "syntax" | "server";
}

/** Syntax problems of the text, then each server problem located by its pointer. */
export function locateProblems(text: string, serverProblems: ProblemEntry[]): LocatedProblem[] {
  const syntax = jsonSyntaxProblems(text);
  if (syntax.length) {
    return syntax.map((p) => ({
      pointer: "",
      detail: p.message,
      code: "syntax",
      line: p.line,
      from: p.from,
      to: Math.min(p.to, text.length),
      source: "syntax" as const,
    }));
  }
  return serverProblems.map((p) => {
    const range = locatePointer(text, p.pointer);
    return {
      pointer: p.pointer,
      detail: p.detail,
      code: p.code,
      line: range?.line ?? null,
      from: range?.from ?? 0,
      to: range ? Math.min(range.to, text.length) : 0,
      source: "server" as const,
    };
  });
}

