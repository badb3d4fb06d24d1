// Prompt preview: asks the server (tasks/<pk>/preview.json, the engine's own prompt builder)
// for the exact ICL prompt and SFT string; no prompt format is written here.
(function () {
  const controls = document.getElementById("pv-controls");
  if (!controls) return;
  const idx = document.getElementById("pv-index");
  const k = document.getElementById("pv-k");
  const tpl = document.getElementById("pv-template");
  const model = document.getElementById("pv-model");
  const readable = document.getElementById("pv-readability");
  const error = document.getElementById("pv-error");
  let pending = null;
  let timer = null;
  async function render() {
    if (pending) pending.abort();
    pending = new AbortController();
    const params = new URLSearchParams({ index: idx.value || "1", k: k.value || "0", template: tpl.value,
      model: model ? model.value : "" });
    try {
      const resp = await fetch(controls.dataset.url + "?" + params, { signal: pending.signal,
        headers: { Accept: "application/json" } });
      const body = await resp.json();
      error.hidden = resp.ok;
      if (!resp.ok) { error.textContent = body.field + ": " + body.error; return; }
      showText(document.getElementById("pv-icl"), body.icl);
      showText(document.getElementById("pv-sft"), body.sft);
      showReadability(body.readability);
    } catch (e) {
      if (e.name !== "AbortError") { error.hidden = false; error.textContent = "preview unavailable: " + e; }
    }
  }
  // the prompt as text, with each line's trailing spaces marked (a template's trailing space
  // changes the prompt but is invisible otherwise); the marks are spans, the text stays exact
  function showText(node, text) {
    while (node.firstChild) node.removeChild(node.firstChild);
    String(text).split("\n").forEach((line, i) => {
      if (i) node.appendChild(document.createTextNode("\n"));
      const m = /^([\s\S]*?)( +)$/.exec(line);
      node.appendChild(document.createTextNode(m ? m[1] : line));
      if (m) {
        const ws = document.createElement("span");
        ws.className = "ws"; ws.title = "trailing space"; ws.textContent = m[2];
        node.appendChild(ws);
      }
    });
  }
  // the unreadable-text guard (services/readability.py): the sentence comes from the server
  function showReadability(r) {
    if (!readable) return;
    readable.hidden = !r;
    if (!r) return;
    readable.className = "notice " + (r.error || r.unreadable ? "warning" : "success");
    readable.textContent = r.error ? "Readability not checked: " + r.error
      : r.unreadable ? r.warning
      : r.unknown + " of " + r.words + " input words (" + r.unknown_percent + "%) become the unknown token for \"" +
        r.model + "\": this model can read the task.";
  }
  [idx, k, tpl, model].filter(Boolean).forEach((el) => el.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(render, 120); }));
  render();
})();
