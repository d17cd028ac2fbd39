// Small helpers for the admin pages: copy buttons, Tab in the YAML editor, jump to an error line.
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    const copy = event.target.closest("[data-copy]");
    if (copy) {
      const field = document.querySelector(copy.dataset.copy);
      field.select();
      const done = () => { copy.textContent = "Copied"; setTimeout(() => (copy.textContent = "Copy"), 1500); };
      if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(field.value).then(done, () => document.execCommand("copy") && done());
      else if (document.execCommand("copy")) done();
      return;
    }
    const goto = event.target.closest("[data-goto-line]");
    if (goto) {
      const editor = document.getElementById("id_source");
      const line = parseInt(goto.dataset.gotoLine, 10);
      const lines = editor.value.split("\n");
      const start = lines.slice(0, line - 1).reduce((n, text) => n + text.length + 1, 0);
      const end = start + (lines[line - 1] || "").length;
      editor.focus();
      editor.setSelectionRange(start, end);
      const lineHeight = parseFloat(getComputedStyle(editor).lineHeight) || 20;
      editor.scrollTop = Math.max(0, (line - 5) * lineHeight);
    }
  });
  // A "not activated" message is about the draft as it was saved; editing makes it stale.
  document.addEventListener("input", function (event) {
    if (event.target.id !== "id_source") return;
    document.querySelectorAll(".save-error").forEach((node) => node.remove());
  });
  // YAML is indented with spaces; make Tab insert two instead of leaving the field.
  // Escape then Tab still moves focus on, so the editor never traps the keyboard.
  let escaped = false;
  document.addEventListener("keydown", function (event) {
    const editor = event.target;
    if (editor.id !== "id_source") return;
    if (event.key === "Escape") { escaped = true; return; }
    if (event.key !== "Tab" || event.shiftKey || escaped) { escaped = false; return; }
    event.preventDefault();
    const { selectionStart: s, selectionEnd: e, value } = editor;
    editor.value = value.slice(0, s) + "  " + value.slice(e);
    editor.selectionStart = editor.selectionEnd = s + 2;
    editor.dispatchEvent(new KeyboardEvent("keyup", { bubbles: true }));
  });
})();
