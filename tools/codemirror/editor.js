// Airlock's envelope editor: CodeMirror 6 over the page's <textarea>, built into one file
// (static/vendor/codemirror/airlock-editor.min.js) by `npm run build`; see README.md here.
//
// The textarea stays in the form and is kept in sync, so the form posts and htmx's
// validate-as-you-type keep working; errors come from the server's own compiler through
// the JSON check endpoint named in the textarea's data-check-url.
import { EditorView, basicSetup } from "codemirror";
import { EditorState } from "@codemirror/state";
import { keymap } from "@codemirror/view";
import { indentWithTab } from "@codemirror/commands";
import { yaml } from "@codemirror/lang-yaml";
import { linter, lintGutter, forceLinting } from "@codemirror/lint";
import { indentUnit } from "@codemirror/language";

function positionOf(doc, line, column) {
  if (!line || line < 1) return 0;
  const target = doc.line(Math.min(line, doc.lines));
  const col = Math.max(1, column || 1);
  return Math.min(target.from + col - 1, target.to);
}

function serverLinter(url, csrf) {
  return linter(async (view) => {
    const body = new URLSearchParams({ source: view.state.doc.toString() });
    let answer;
    try {
      const response = await fetch(url, {
        method: "POST", body, credentials: "same-origin",
        headers: { "X-CSRFToken": csrf, Accept: "application/json" },
      });
      answer = await response.json();
    } catch (error) {
      return [{ from: 0, to: 0, severity: "warning", message: "Could not reach the server to check the draft." }];
    }
    if (answer.valid || !answer.errors) return [];
    return answer.errors.map((problem) => {
      const from = positionOf(view.state.doc, problem.line, problem.column);
      const line = view.state.doc.lineAt(from);
      const to = Math.max(from, line.to);
      const example = problem.example ? "\nFor example:\n" + problem.example : "";
      return { from, to, severity: "error", message: problem.message + example, source: problem.field || "envelope" };
    });
  }, { delay: 400 });
}

function mount(textarea) {
  const url = textarea.dataset.checkUrl;
  const csrf = textarea.dataset.csrf || "";
  let pending = null;
  const sync = EditorView.updateListener.of((update) => {
    if (!update.docChanged) return;
    textarea.value = update.state.doc.toString();
    // htmx listens for keyup on the textarea ("keyup changed delay:500ms").
    clearTimeout(pending);
    pending = setTimeout(() => textarea.dispatchEvent(new KeyboardEvent("keyup", { bubbles: true })), 50);
    textarea.dispatchEvent(new Event("input", { bubbles: true }));
  });
  const extensions = [
    basicSetup,
    keymap.of([indentWithTab]),
    indentUnit.of("  "),
    EditorState.tabSize.of(2),
    yaml(),
    lintGutter(),
    sync,
    EditorView.contentAttributes.of({ "aria-label": "Envelope YAML", "data-testid": "code-editor" }),
  ];
  if (url) extensions.push(serverLinter(url, csrf));
  const view = new EditorView({ doc: textarea.value, extensions });
  textarea.hidden = true;
  textarea.insertAdjacentElement("afterend", view.dom);
  view.dom.classList.add("cm-airlock");
  textarea.airlockEditor = view;
  return view;
}

const api = {
  mount,
  get(textarea) { return textarea.airlockEditor || null; },
  setValue(textarea, text) {
    const view = textarea.airlockEditor;
    if (!view) { textarea.value = text; return; }
    view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
  },
  gotoLine(textarea, line, column) {
    const view = textarea.airlockEditor;
    if (!view) return false;
    const pos = positionOf(view.state.doc, line, column);
    view.dispatch({ selection: { anchor: pos, head: view.state.doc.lineAt(pos).to }, scrollIntoView: true });
    view.focus();
    return true;
  },
  relint(textarea) { if (textarea.airlockEditor) forceLinting(textarea.airlockEditor); },
};
window.AirlockEditor = api;
