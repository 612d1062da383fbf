/** The look shared by the dashboard's CodeMirror editors (JSON and JavaScript), light and dark. */
import { defaultHighlightStyle, HighlightStyle, syntaxHighlighting } from "@codemirror/language";
import { EditorView } from "@codemirror/view";
import { tags } from "@lezer/highlight";

const darkHighlight = HighlightStyle.define([
  { tag: tags.propertyName, color: "#7dd3fc" },
  { tag: [tags.string, tags.special(tags.string), tags.regexp], color: "#86efac" },
  { tag: tags.number, color: "#fcd34d" },
  { tag: [tags.bool, tags.null, tags.atom], color: "#f9a8d4" },
  { tag: [tags.keyword, tags.operatorKeyword, tags.controlKeyword, tags.definitionKeyword, tags.moduleKeyword], color: "#c4b5fd" },
  { tag: [tags.function(tags.variableName), tags.function(tags.propertyName)], color: "#93c5fd" },
  { tag: [tags.definition(tags.variableName), tags.local(tags.variableName)], color: "#fde68a" },
  { tag: tags.comment, color: "#64748b", fontStyle: "italic" },
  { tag: tags.punctuation, color: "#94a3b8" },
]);

export function themeExtensions(dark: boolean) {
  return [
    EditorView.theme(
      {
        "&": { height: "100%", backgroundColor: dark ? "#0f172a" : "#ffffff", color: dark ? "#e2e8f0" : "#0f172a" },
        ".cm-scroller": { overflow: "auto", fontFamily: "JetBrains Mono, ui-monospace, SFMono-Regular, Menlo, monospace" },
        ".cm-gutters": {
          backgroundColor: dark ? "#0b1222" : "#f8fafc",
          color: dark ? "#64748b" : "#94a3b8",
          borderRight: `1px solid ${dark ? "#1e293b" : "#e2e8f0"}`,
        },
        ".cm-activeLine": { backgroundColor: dark ? "#1e293b66" : "#f1f5f980" },
        ".cm-activeLineGutter": { backgroundColor: dark ? "#1e293b" : "#e2e8f0" },
        "&.cm-focused .cm-cursor": { borderLeftColor: dark ? "#e2e8f0" : "#0f172a" },
        "&.cm-focused .cm-selectionBackground, .cm-selectionBackground": { backgroundColor: dark ? "#334155" : "#bae6fd" },
        ".cm-tooltip": { backgroundColor: dark ? "#1e293b" : "#ffffff", color: "inherit" },
      },
      { dark },
    ),
    syntaxHighlighting(dark ? darkHighlight : defaultHighlightStyle, { fallback: true }),
  ];
}
