/**
 * A JavaScript editor (CodeMirror 6 with `@codemirror/lang-javascript`) for a `code` step's
 * script: syntax highlighting, line numbers, bracket matching and its own undo history.
 * Loaded lazily, so the JavaScript grammar is fetched only when a script is shown.
 */
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { javascript } from "@codemirror/lang-javascript";
import { bracketMatching, indentOnInput } from "@codemirror/language";
import { Annotation, Compartment, EditorState } from "@codemirror/state";
import { drawSelection, EditorView, highlightActiveLine, keymap, lineNumbers } from "@codemirror/view";
import { useEffect, useRef } from "react";
import { useTheme } from "../../lib/theme";
import { themeExtensions } from "./editorTheme";

/** Marks the text set from the `value` prop: not an edit, so not reported back. */
const fromProps = Annotation.define<boolean>();

export default function CodeEditor({
  value,
  onChange,
  label,
  readOnly = false,
  height = "220px",
  invalid = false,
  describedBy,
}: {
  value: string;
  onChange: (text: string) => void;
  /** The accessible name of the editable area. */
  label: string;
  readOnly?: boolean;
  height?: string;
  invalid?: boolean;
  describedBy?: string;
}) {
  const host = useRef<HTMLDivElement>(null);
  const viewRef = useRef<EditorView | null>(null);
  const onChangeRef = useRef(onChange);
  onChangeRef.current = onChange;
  const themeSlot = useRef(new Compartment());
  const readOnlySlot = useRef(new Compartment());
  const attributesSlot = useRef(new Compartment());
  const [theme] = useTheme();

  const attributes = (): Record<string, string> => ({
    "aria-label": label,
    "aria-multiline": "true",
    ...(invalid ? { "aria-invalid": "true" } : {}),
    ...(describedBy ? { "aria-describedby": describedBy } : {}),
  });

  // Created once per mount; later props reach it through transactions.
  useEffect(() => {
    const view = new EditorView({
      parent: host.current!,
      state: EditorState.create({
        doc: value,
        extensions: [
          lineNumbers(),
          history(),
          drawSelection(),
          indentOnInput(),
          bracketMatching(),
          highlightActiveLine(),
          javascript(),
          keymap.of([...defaultKeymap, ...historyKeymap, indentWithTab]),
          attributesSlot.current.of(EditorView.contentAttributes.of(attributes())),
          EditorView.updateListener.of((update) => {
            // Only the user's edits: echoing a value set from outside would rewrite the
            // definition (and push an undo step) while the JSON tab is being typed in.
            if (update.docChanged && !update.transactions.some((t) => t.annotation(fromProps))) {
              onChangeRef.current(update.state.doc.toString());
            }
          }),
          themeSlot.current.of(themeExtensions(document.documentElement.classList.contains("dark"))),
          readOnlySlot.current.of([EditorState.readOnly.of(readOnly), EditorView.editable.of(!readOnly)]),
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

  // Text changed elsewhere (the JSON tab, undo in the builder, another step selected).
  useEffect(() => {
    const view = viewRef.current;
    if (view && view.state.doc.toString() !== value) {
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: value }, annotations: fromProps.of(true) });
    }
  }, [value]);

  useEffect(() => {
    viewRef.current?.dispatch({ effects: themeSlot.current.reconfigure(themeExtensions(theme === "dark")) });
  }, [theme]);

  useEffect(() => {
    viewRef.current?.dispatch({
      effects: readOnlySlot.current.reconfigure([EditorState.readOnly.of(readOnly), EditorView.editable.of(!readOnly)]),
    });
  }, [readOnly]);

  useEffect(() => {
    viewRef.current?.dispatch({ effects: attributesSlot.current.reconfigure(EditorView.contentAttributes.of(attributes())) });
    // attributes() reads exactly these props.
  }, [label, invalid, describedBy]);

  return (
    <div
      ref={host}
      className="overflow-hidden rounded-md text-[13px] ring-1 ring-inset ring-slate-300 dark:ring-slate-700"
      style={{ height }}
      data-testid="code-editor"
      data-language="javascript"
    />
  );
}
