/**
 * A JSON editor (CodeMirror 6, a hand-picked set of extensions rather than the full basic
 * setup, to keep the chunk small) that marks syntax errors as you type and the API's problems
 * at the line their JSON pointer names. Problems stay anchored to their pointer, so they move
 * with the text until the next validation replaces them.
 */
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { json } from "@codemirror/lang-json";
import { bracketMatching, foldGutter, foldKeymap, indentOnInput } from "@codemirror/language";
import { lintGutter, setDiagnostics, type Diagnostic } from "@codemirror/lint";
import { Compartment, EditorState } from "@codemirror/state";
import {
  drawSelection,
  EditorView,
  highlightActiveLine,
  highlightActiveLineGutter,
  keymap,
  lineNumbers,
} from "@codemirror/view";
import { forwardRef, useEffect, useImperativeHandle, useRef } from "react";
import type { LocatedProblem } from "../../lib/editorProblems";
import { useTheme } from "../../lib/theme";
import { themeExtensions } from "./editorTheme";

export interface JsonEditorHandle {
  /** Put the cursor at an offset, scroll to it and focus the editor. */
  reveal(offset: number): void;
}

export const JsonEditor = forwardRef<
  JsonEditorHandle,
  {
    value: string;
    onChange: (text: string) => void;
    problems: LocatedProblem[];
    label: string;
    height?: string;
    readOnly?: boolean;
    /** Told the cursor's offset whenever it moves (the JSON tab's script panel follows it). */
    onCursor?: (offset: number, text: string) => void;
  }
>(function JsonEditor({ value, onChange, problems, label, height = "480px", readOnly = false, onCursor }, ref) {
  const host = useRef<HTMLDivElement>(null);
  const viewRef = useRef<EditorView | null>(null);
  const onChangeRef = useRef(onChange);
  onChangeRef.current = onChange;
  const onCursorRef = useRef(onCursor);
  onCursorRef.current = onCursor;
  const themeSlot = useRef(new Compartment());
  const readOnlySlot = useRef(new Compartment());
  const [theme] = useTheme();

  // Create the view once; later props reach it through transactions, not a new editor.
  useEffect(() => {
    const view = new EditorView({
      parent: host.current!,
      state: EditorState.create({
        doc: value,
        extensions: [
          lineNumbers(),
          highlightActiveLineGutter(),
          foldGutter(),
          lintGutter(),
          history(),
          drawSelection(),
          indentOnInput(),
          bracketMatching(),
          highlightActiveLine(),
          json(),
          keymap.of([...defaultKeymap, ...historyKeymap, ...foldKeymap, indentWithTab]),
          EditorView.contentAttributes.of({ "aria-label": label }),
          EditorView.updateListener.of((update) => {
            if (update.docChanged) onChangeRef.current(update.state.doc.toString());
            if (update.selectionSet) onCursorRef.current?.(update.state.selection.main.head, update.state.doc.toString());
          }),
          themeSlot.current.of(themeExtensions(document.documentElement.classList.contains("dark"))),
          readOnlySlot.current.of(EditorState.readOnly.of(readOnly)),
        ],
      }),
    });
    viewRef.current = view;
    return () => {
      view.destroy();
      viewRef.current = null;
    };
    // The view is created once per mount; value/theme/readOnly are synced below.
  }, []);

  // Text set from outside (an imported file, a reset after save).
  useEffect(() => {
    const view = viewRef.current;
    if (view && view.state.doc.toString() !== value) {
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: value } });
    }
  }, [value]);

  useEffect(() => {
    viewRef.current?.dispatch({ effects: themeSlot.current.reconfigure(themeExtensions(theme === "dark")) });
  }, [theme]);

  useEffect(() => {
    viewRef.current?.dispatch({ effects: readOnlySlot.current.reconfigure(EditorState.readOnly.of(readOnly)) });
  }, [readOnly]);

  useImperativeHandle(ref, () => ({
    reveal(offset: number) {
      const view = viewRef.current;
      if (!view) return;
      const pos = Math.min(offset, view.state.doc.length);
      view.dispatch({ selection: { anchor: pos }, scrollIntoView: true });
      view.focus();
    },
  }));

  // Push the problems into CodeMirror's lint state whenever they (or the text) change.
  useEffect(() => {
    const view = viewRef.current;
    if (!view) return;
    const len = view.state.doc.length;
    const diagnostics: Diagnostic[] = problems
      .filter((p) => p.line !== null)
      .map((p) => {
        const from = Math.min(p.from, len);
        return {
          from,
          to: Math.max(from, Math.min(p.to, len)),
          severity: "error",
          source: p.source === "server" ? "Headrace" : "JSON",
          message: p.pointer ? `${p.detail} (${p.pointer})` : p.detail,
        };
      });
    view.dispatch(setDiagnostics(view.state, diagnostics));
  }, [problems, value]);

  return (
    <div
      ref={host}
      className="overflow-hidden rounded-md text-[13px] ring-1 ring-inset ring-slate-300 dark:ring-slate-700"
      style={{ height }}
      data-testid="json-editor"
    />
  );
});

export default JsonEditor;
