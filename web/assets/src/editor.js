// The script editor (issue 13, screen 5): CodeMirror 6 over the page's
// YAML textarea, as a progressive enhancement. Without JavaScript the
// textarea works alone (htmx checks it as it is typed); with it, this
// module hides the textarea behind an editor with line numbers and YAML
// highlighting, keeps the textarea's value in step (the forms and htmx
// post it), and shows `script check`'s diagnostics inline at their lines:
// a linter posts the text to /scripts/check asking for JSON.
//
// Build: see README.md in this folder (make editor-bundle).

import {EditorView, keymap, lineNumbers, highlightActiveLine, highlightActiveLineGutter,
  drawSelection, highlightSpecialChars} from "@codemirror/view";
import {EditorState} from "@codemirror/state";
import {defaultKeymap, history, historyKeymap, indentWithTab} from "@codemirror/commands";
import {syntaxHighlighting, defaultHighlightStyle, indentOnInput, bracketMatching, foldGutter, foldKeymap} from "@codemirror/language";
import {searchKeymap, highlightSelectionMatches} from "@codemirror/search";
import {linter, lintGutter, lintKeymap} from "@codemirror/lint";
import {yaml} from "@codemirror/lang-yaml";

// checkURL answers [{line, column, severity, message}] for Accept: application/json.
const checkURL = "/scripts/check";

// diagnosticsOf asks the server to check the text and places each
// diagnostic on its line (from its column to the line's end).
async function diagnosticsOf(view) {
  const text = view.state.doc.toString();
  if (text.trim() === "") return [];
  let res;
  try {
    res = await fetch(checkURL, {
      method: "POST",
      credentials: "same-origin",
      headers: {"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"},
      body: new URLSearchParams({yaml: text}),
    });
  } catch (e) {
    return []; // offline: the checks panel says nothing new either
  }
  if (!res.ok) { // 413: too large; the message says so
    return [{from: 0, to: 0, severity: "error", message: "The script could not be checked (" + res.status + "): " + (await res.text()).trim()}];
  }
  if (!(res.headers.get("Content-Type") || "").startsWith("application/json")) { // the login page: the session ended
    return [{from: 0, to: 0, severity: "warning", message: "The script could not be checked: your session may have ended (reload the page to log in again)."}];
  }
  const doc = view.state.doc;
  return (await res.json()).map(d => {
    const line = doc.line(Math.min(Math.max(d.line || 1, 1), doc.lines));
    const from = Math.min(line.from + Math.max((d.column || 1) - 1, 0), line.to);
    return {from, to: line.to, severity: d.severity === "warning" ? "warning" : "error", message: d.message};
  });
}

// enhance replaces the textarea with an editor; the textarea stays in the
// form, hidden, and always holds the editor's text.
function enhance(textarea) {
  const nonce = textarea.dataset.styleNonce || "";
  const label = document.querySelector('label[for="' + textarea.id + '"]');
  const view = new EditorView({
    parent: textarea.parentNode,
    state: EditorState.create({
      doc: textarea.value,
      extensions: [
        EditorView.cspNonce.of(nonce),
        lineNumbers(), highlightActiveLineGutter(), highlightSpecialChars(), history(), foldGutter(),
        drawSelection(), EditorState.tabSize.of(2), indentOnInput(), bracketMatching(),
        syntaxHighlighting(defaultHighlightStyle, {fallback: true}), highlightActiveLine(), highlightSelectionMatches(),
        keymap.of([...defaultKeymap, ...searchKeymap, ...historyKeymap, ...foldKeymap, ...lintKeymap, indentWithTab]),
        yaml(),
        lintGutter(),
        linter(diagnosticsOf, {delay: 400}),
        EditorView.editorAttributes.of({class: "yaml-editor"}), // not classList: the view resets its class
        EditorView.contentAttributes.of({"aria-label": label ? label.textContent.trim() : "Script (YAML)",
          "aria-describedby": textarea.getAttribute("aria-describedby") || ""}),
        EditorView.updateListener.of(u => {
          if (!u.docChanged) return;
          textarea.value = u.state.doc.toString();
          // htmx refreshes the checks and flow panel on the textarea's keyup.
          textarea.dispatchEvent(new Event("keyup", {bubbles: true}));
        }),
      ],
    }),
  });
  textarea.parentNode.insertBefore(view.dom, textarea);
  textarea.hidden = true;
  if (label) label.addEventListener("click", e => { e.preventDefault(); view.focus(); });
  textarea.editorView = view; // for tests and the console
}

function start() {
  document.querySelectorAll("textarea[data-editor=yaml]").forEach(enhance);
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
