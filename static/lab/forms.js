// Form behaviour for every page (no inline handlers: the Content-Security-Policy allows
// script only from static files):
// - forms with data-confirm ask before they submit;
// - a <select data-autosubmit> submits its form when changed (the team switcher);
// - an <input data-select-on-focus> selects its text when clicked (a share link to copy);
// - a submitted form's button is disabled and says it is working (no double submit while a
//   slow check runs, e.g. the experiment form checking a model), until the page is shown again.
(function () {
  document.addEventListener("submit", function (e) {
    const form = e.target.closest ? e.target.closest("form[data-confirm]") : null;
    if (form && !window.confirm(form.dataset.confirm)) e.preventDefault();
  }, true);

  document.addEventListener("submit", function (e) {
    // the attribute, not the property: a field named "method" (the compare form) shadows form.method
    const verb = e.target.getAttribute ? e.target.getAttribute("method") || "" : "";
    if (e.defaultPrevented || verb.toLowerCase() !== "post") return;
    const button = e.submitter || e.target.querySelector("button[type=submit], button:not([type])");
    if (!button) return;
    const checking = e.target.classList.contains("experiment-form");
    button.dataset.label = button.textContent;
    button.textContent = checking ? "Checking the model and tasks…" : "Working…";
    button.classList.add("busy");
    // the experiment form's status line says why it may take a moment (data-checking)
    const status = checking && e.target.querySelector("[data-checking]");
    if (status) status.hidden = false;
    // disabled after the browser has read the form, so a named button's value is still sent
    setTimeout(function () { button.disabled = true; }, 0);
  });

  document.addEventListener("change", function (e) {
    if (e.target.matches && e.target.matches("select[data-autosubmit]")) e.target.form.submit();
  });

  document.addEventListener("click", function (e) {
    if (e.target.matches && e.target.matches("input[data-select-on-focus]")) e.target.select();
  });

  window.addEventListener("pageshow", function () {  // back button: the page comes from the cache
    document.querySelectorAll("button.busy").forEach(function (b) {
      b.disabled = false; b.classList.remove("busy"); b.textContent = b.dataset.label;
    });
    document.querySelectorAll("[data-checking]").forEach(function (p) { p.hidden = true; });
  });

  // the task form's "Template for model": choosing a model puts its template in the template box
  // unless the user has written their own (the templates come from the server: data-templates)
  document.addEventListener("change", function (e) {
    const select = e.target;
    if (!select.dataset || !select.dataset.templates) return;
    const templates = JSON.parse(select.dataset.templates);
    const box = select.form && select.form.querySelector("textarea[name=input_template]");
    if (!box || !templates[select.value]) return;
    const known = Object.values(templates);
    if (!box.value.trim() || known.includes(box.value.replace(/\r\n/g, "\n"))) box.value = templates[select.value];
  });
})();
