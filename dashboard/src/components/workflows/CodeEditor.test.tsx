import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { act, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { EditorView } from "@codemirror/view";
import { useState } from "react";
import { beforeAll, describe, expect, it } from "vitest";
import served from "../../test/definition-schema.json";
import Builder, { definitionSchemaQuery } from "./Builder";
import { ScriptPanel } from "./ScriptPanel";

// jsdom has no layout: CodeMirror measures text ranges to draw the selection.
beforeAll(() => {
  const empty = { length: 0, item: () => null, [Symbol.iterator]: [][Symbol.iterator] } as unknown as DOMRectList;
  Range.prototype.getClientRects ??= () => empty;
  Range.prototype.getBoundingClientRect ??= () => new DOMRect();
  // The builder's graph (React Flow) loads in the background and observes its size.
  globalThis.ResizeObserver ??= class {
    observe() {}
    unobserve() {}
    disconnect() {}
  } as unknown as typeof ResizeObserver;
});

const SCRIPT = 'const total = input.items.reduce((a, b) => a + b, 0);\n// the sum\nreturn { total, label: "sum" };';
const TEXT = JSON.stringify(
  {
    steps: [
      { id: "fetch", type: "http", with: { url: "https://example.com" } },
      { id: "sum", type: "code", depends_on: ["fetch"], with: { code: SCRIPT, input: { items: "{{ steps.fetch.output.body }}" } } },
      { id: "other", type: "code", with: { code: "return 1;" } },
    ],
  },
  null,
  2,
);

/** The editor's view, to type into it as a user would (jsdom has no real keyboard input). */
function viewIn(host: HTMLElement): EditorView {
  const view = EditorView.findFromDOM(host.querySelector(".cm-editor") as HTMLElement);
  if (!view) throw new Error("no CodeMirror view");
  return view;
}

function typeAtEnd(host: HTMLElement, text: string) {
  const view = viewIn(host);
  act(() => view.dispatch({ changes: { from: view.state.doc.length, insert: text }, userEvent: "input.type" }));
}

/** A highlighted token: a span inside the content whose class CodeMirror's highlighter set. */
function highlighted(host: HTMLElement, token: string): HTMLElement | undefined {
  return Array.from(host.querySelectorAll<HTMLElement>(".cm-content span")).find(
    (s) => s.textContent === token && s.className.trim() !== "",
  );
}

function BuilderHarness({ initial }: { initial: string }) {
  const [text, setText] = useState(initial);
  return (
    <>
      <textarea aria-label="definition text" value={text} onChange={(e) => setText(e.target.value)} />
      <Builder text={text} onChange={setText} problems={[]} />
    </>
  );
}

function PanelHarness({ initial, cursorStep = null }: { initial: string; cursorStep?: number | null }) {
  const [text, setText] = useState(initial);
  let parsed: unknown = null;
  let parses = true;
  try {
    parsed = JSON.parse(text);
  } catch {
    parses = false;
  }
  return (
    <>
      <textarea aria-label="definition text" value={text} onChange={(e) => setText(e.target.value)} />
      <ScriptPanel text={text} definition={parsed ?? JSON.parse(initial)} parses={parses} cursorStep={cursorStep} onChange={setText} />
    </>
  );
}

const definitionText = () => (screen.getByLabelText("definition text") as HTMLTextAreaElement).value;

describe("the code field of the builder", () => {
  it("edits a code step's script in a JavaScript editor with highlighting, written back to with.code", async () => {
    const client = new QueryClient();
    client.setQueryData(definitionSchemaQuery.queryKey, served);
    render(
      <QueryClientProvider client={client}>
        <BuilderHarness initial={TEXT} />
      </QueryClientProvider>,
    );
    fireEvent.click(screen.getByRole("button", { name: "Edit sum" }));
    const field = await screen.findByTestId("code-field-code", {}, { timeout: 10_000 });
    await waitFor(() => expect(field.querySelector(".cm-content")).not.toBeNull(), { timeout: 10_000 });
    expect(field.querySelector("[data-language=javascript]")).not.toBeNull();
    expect(field.textContent).toContain("(javascript)");
    expect(viewIn(field).state.doc.toString()).toBe(SCRIPT);
    // Keywords, strings and comments are tokens of their own, each with a highlight class.
    const keyword = highlighted(field, "const");
    const string = highlighted(field, '"sum"');
    const comment = highlighted(field, "// the sum");
    expect(keyword && string && comment).toBeTruthy();
    expect(new Set([keyword!.className, string!.className, comment!.className]).size).toBe(3);

    typeAtEnd(field, "\nconsole.log(total);");
    const steps = JSON.parse(definitionText()).steps;
    expect(steps[1].with.code).toBe(`${SCRIPT}\nconsole.log(total);`);
    // The step's input stays an object (shown as JSON, not flattened to text).
    expect(steps[1].with.input).toEqual({ items: "{{ steps.fetch.output.body }}" });
    expect((screen.getByLabelText("input") as HTMLTextAreaElement).tagName).toBe("TEXTAREA");
  });

  it("follows edits made in the JSON without writing them back", async () => {
    const client = new QueryClient();
    client.setQueryData(definitionSchemaQuery.queryKey, served);
    render(
      <QueryClientProvider client={client}>
        <BuilderHarness initial={TEXT} />
      </QueryClientProvider>,
    );
    fireEvent.click(screen.getByRole("button", { name: "Edit sum" }));
    const field = await screen.findByTestId("code-field-code", {}, { timeout: 10_000 });
    await waitFor(() => expect(field.querySelector(".cm-content")).not.toBeNull(), { timeout: 10_000 });
    // Compact JSON typed in the JSON tab: the builder must not reformat it.
    const compact = JSON.stringify({ ...JSON.parse(TEXT), steps: JSON.parse(TEXT).steps.map((s: { id: string }) => (s.id === "sum" ? { ...s, with: { code: "return 42;" } } : s)) });
    fireEvent.change(screen.getByLabelText("definition text"), { target: { value: compact } });
    expect(viewIn(field).state.doc.toString()).toBe("return 42;");
    expect(definitionText()).toBe(compact);
  });
});

describe("ScriptPanel (the JSON tab's script view)", () => {
  it("shows the script of the step the cursor is in, decoded and highlighted", async () => {
    render(<PanelHarness initial={TEXT} cursorStep={2} />);
    const panel = screen.getByTestId("script-panel");
    await waitFor(() => expect(panel.querySelector(".cm-content")).not.toBeNull(), { timeout: 10_000 });
    expect(viewIn(panel).state.doc.toString()).toBe("return 1;");
    expect(highlighted(panel, "return")).toBeTruthy();
    fireEvent.change(screen.getByRole("combobox", { name: "Script of step" }), { target: { value: "sum" } });
    await waitFor(() => expect(viewIn(panel).state.doc.toString()).toBe(SCRIPT));
    expect(panel.textContent).toContain("/steps/1/with/code");
  });

  it("writes edits back into only that JSON string", async () => {
    render(<PanelHarness initial={TEXT} cursorStep={1} />);
    const panel = screen.getByTestId("script-panel");
    await waitFor(() => expect(panel.querySelector(".cm-content")).not.toBeNull(), { timeout: 10_000 });
    typeAtEnd(panel, "\n// more");
    const next = definitionText();
    expect(JSON.parse(next).steps[1].with.code).toBe(`${SCRIPT}\n// more`);
    expect(next.replace(JSON.stringify(`${SCRIPT}\n// more`), "X")).toBe(TEXT.replace(JSON.stringify(SCRIPT), "X"));
  });

  it("is read-only while the JSON does not parse, and absent without code steps", async () => {
    const { unmount } = render(<PanelHarness initial={TEXT} cursorStep={1} />);
    fireEvent.change(screen.getByLabelText("definition text"), { target: { value: "{ broken" } });
    const panel = screen.getByTestId("script-panel");
    expect(panel.textContent).toContain("read-only until the JSON parses");
    await waitFor(() => expect(panel.querySelector(".cm-content")?.getAttribute("contenteditable")).toBe("false"));
    unmount();
    render(<PanelHarness initial={JSON.stringify({ steps: [{ id: "a", type: "log", with: { message: "hi" } }] })} />);
    expect(screen.queryByTestId("script-panel")).toBeNull();
  });
});
