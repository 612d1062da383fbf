/**
 * The `code` steps of a definition's JSON text, for the JSON tab's script panel: which ones
 * there are, which one the cursor is in, and their script written back into the text as a
 * JSON string (only that string changes: the rest of the text keeps its formatting).
 */
import { applyEdits, getLocation, modify } from "jsonc-parser";
import { isRecord } from "./definition";

export interface CodeStep {
  id: string;
  /** Index in `steps` (the `N` of `/steps/N/with/code`). */
  index: number;
  code: string;
}

/** Every step of type `code` whose `with.code` is text, in definition order. */
export function codeStepsOf(definition: unknown): CodeStep[] {
  if (!isRecord(definition) || !Array.isArray(definition.steps)) return [];
  const found: CodeStep[] = [];
  definition.steps.forEach((raw, index) => {
    if (!isRecord(raw) || raw.type !== "code" || typeof raw.id !== "string") return;
    const code = isRecord(raw.with) ? raw.with.code : undefined;
    found.push({ id: raw.id, index, code: typeof code === "string" ? code : "" });
  });
  return found;
}

/** The index of the step (in `steps`) that the text offset falls in, if any. */
export function stepIndexAt(text: string, offset: number): number | null {
  const path = getLocation(text, offset).path;
  return path[0] === "steps" && typeof path[1] === "number" ? path[1] : null;
}

/** The text with `/steps/<index>/with/code` set to `code`, every other character kept. */
export function setStepCode(text: string, index: number, code: string): string {
  const edits = modify(text, ["steps", index, "with", "code"], code, {
    formattingOptions: { insertSpaces: true, tabSize: 2 },
  });
  return applyEdits(text, edits);
}
