// The envelope editor page: CodeMirror over the YAML textarea (vendored bundle), the
// preview gate, and rule-template forms that carry the current draft with them.
(function () {
  "use strict";
  function source() { return document.getElementById("id_source"); }

  function start() {
    const textarea = source();
    if (!textarea || !window.AirlockEditor) return;
    window.AirlockEditor.mount(textarea);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();

  // Any edit makes an earlier preview stale: Activate waits for a new one. (The server
  // checks the preview receipt against the exact text anyway.)
  document.addEventListener("input", function (event) {
    if (event.target.id !== "id_source") return;
    const preview = document.getElementById("id_preview");
    if (preview && preview.value) {
      preview.value = "";
      const button = document.querySelector("[data-testid=activate]");
      if (button) button.disabled = true;
      const hint = document.getElementById("gate-hint");
      if (hint) hint.textContent = "The draft changed: run the replay preview again to activate it.";
    }
  });

  // A template form sends the draft as it is now, not as the page was loaded.
  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (!form.classList || !form.classList.contains("template-form")) return;
    const textarea = source();
    if (textarea) form.querySelector("input[name=source]").value = textarea.value;
  });

  // "Go to line": move the code editor's cursor there (capture phase, before admin.js).
  document.addEventListener("click", function (event) {
    const goto = event.target.closest("[data-goto-line]");
    const textarea = source();
    if (!goto || !textarea || !window.AirlockEditor) return;
    if (window.AirlockEditor.gotoLine(textarea, parseInt(goto.dataset.gotoLine, 10), parseInt(goto.dataset.gotoColumn || "1", 10))) {
      event.stopImmediatePropagation();
    }
  }, true);
})();
