/**
 * JSON pointers (RFC 6901) mapped to positions in a JSON text, so the API's 422 problems
 * (`/definition/steps/2/depends_on/0`) can be shown at their exact line in the editor.
 */
import { parseTree, type Node, type ParseError, printParseErrorCode } from "jsonc-parser";

export interface TextRange {
  /** Offsets into the text, `to` exclusive. */
  from: number;
  to: number;
  /** 1-based line and column of `from`. */
  line: number;
  column: number;
  /** False when the pointer names something absent: the range is then its nearest parent. */
  exact: boolean;
}

/** The pointer's reference tokens, unescaped (`~1` → `/`, `~0` → `~`). */
export function pointerSegments(pointer: string): string[] {
  if (pointer === "" || pointer === "/") return pointer === "/" ? [""] : [];
  if (!pointer.startsWith("/")) throw new Error(`not a JSON pointer: ${pointer}`);
  return pointer
    .slice(1)
    .split("/")
    .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
}

/** `pointer` relative to `prefix`, or null when it is not under it. */
export function stripPointerPrefix(pointer: string, prefix: string): string | null {
  if (pointer === prefix) return "";
  if (pointer.startsWith(prefix + "/")) return pointer.slice(prefix.length);
  return null;
}

/** 1-based line and column of an offset. */
export function offsetToLineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  const end = Math.min(offset, text.length);
  for (let i = 0; i < end; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: end - lineStart + 1 };
}

function child(node: Node, segment: string): Node | undefined {
  if (node.type === "object") {
    const prop = node.children?.find((p) => p.children?.[0]?.value === segment);
    return prop?.children?.[1];
  }
  if (node.type === "array" && /^(0|[1-9][0-9]*)$/.test(segment)) {
    return node.children?.[Number(segment)];
  }
  return undefined;
}

function rangeOf(text: string, node: Node, exact: boolean): TextRange {
  // A value inside a property is shown from its key; a container only on its key's line.
  let from = node.offset;
  let to = node.offset + node.length;
  const parent = node.parent;
  if (parent?.type === "property" && parent.children?.[1] === node) {
    const key = parent.children[0];
    if (key) {
      from = key.offset;
      if (node.type === "object" || node.type === "array") to = key.offset + key.length;
    }
  } else if (node.type === "object" || node.type === "array") {
    to = node.offset + 1;
  }
  return { from, to, exact, ...offsetToLineColumn(text, from) };
}

/**
 * Where `pointer` points in `text`. A pointer to something missing (a required field that is
 * absent) resolves to the deepest existing parent, with `exact: false`. Null when the text
 * does not parse at all.
 */
export function locatePointer(text: string, pointer: string): TextRange | null {
  const root = parseTree(text);
  if (!root) return null;
  let node: Node = root;
  let segments: string[];
  try {
    segments = pointerSegments(pointer);
  } catch {
    return rangeOf(text, root, false);
  }
  for (const segment of segments) {
    const next = child(node, segment);
    if (!next) return rangeOf(text, node, false);
    node = next;
  }
  return rangeOf(text, node, true);
}

export interface SyntaxProblem {
  from: number;
  to: number;
  line: number;
  column: number;
  message: string;
}

const SYNTAX_MESSAGES: Record<string, string> = {
  InvalidSymbol: "Invalid symbol",
  InvalidNumberFormat: "Invalid number",
  PropertyNameExpected: "Property name expected",
  ValueExpected: "Value expected",
  ColonExpected: "':' expected",
  CommaExpected: "',' expected",
  CloseBraceExpected: "'}' expected",
  CloseBracketExpected: "']' expected",
  EndOfFileExpected: "End of file expected",
  InvalidCommentToken: "Comments are not allowed in JSON",
  UnexpectedEndOfComment: "Unexpected end of comment",
  UnexpectedEndOfString: "Unterminated string",
  UnexpectedEndOfNumber: "Unexpected end of number",
  InvalidUnicode: "Invalid unicode escape",
  InvalidEscapeCharacter: "Invalid escape character",
  InvalidCharacter: "Invalid character",
};

/** Strict JSON syntax problems (no comments, no trailing commas), with their positions. */
export function jsonSyntaxProblems(text: string): SyntaxProblem[] {
  const errors: ParseError[] = [];
  parseTree(text, errors, { allowTrailingComma: false, disallowComments: true });
  if (text.trim() === "") {
    return [{ from: 0, to: 0, line: 1, column: 1, message: "The document is empty" }];
  }
  return errors.map((e) => {
    const name = printParseErrorCode(e.error);
    return {
      from: e.offset,
      to: e.offset + Math.max(e.length, 1),
      message: SYNTAX_MESSAGES[name] ?? name,
      ...offsetToLineColumn(text, e.offset),
    };
  });
}

/** `JSON.parse` that answers a discriminated result instead of throwing. */
export function tryParseJson(text: string): { ok: true; value: unknown } | { ok: false; error: string } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (e) {
    return { ok: false, error: e instanceof Error ? e.message : String(e) };
  }
}
