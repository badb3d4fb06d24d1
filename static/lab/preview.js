// Prompt preview: asks the server (tasks/<pk>/preview.json, the engine's own prompt builder)
// for the exact ICL prompt and SFT string; no prompt format is written here.
(function () {
  const controls = document.getElementById("pv-controls");
  if (!controls) return;
  const idx = document.getElementById("pv-index");
  const k = document.getElementById("pv-k");
  const tpl = document.getElementById("pv-template");
  const error = document.getElementById("pv-error");
  let pending = null;
  let timer = null;
  async function render() {
    if (pending) pending.abort();
    pending = new AbortController();
    const params = new URLSearchParams({ index: idx.value || "1", k: k.value || "0", template: tpl.value });
    try {
      const resp = await fetch(controls.dataset.url + "?" + params, { signal: pending.signal,
        headers: { Accept: "application/json" } });
      const body = await resp.json();
      error.hidden = resp.ok;
      if (!resp.ok) { error.textContent = body.field + ": " + body.error; return; }
      document.getElementById("pv-icl").textContent = body.icl;
      document.getElementById("pv-sft").textContent = body.sft;
    } catch (e) {
      if (e.name !== "AbortError") { error.hidden = false; error.textContent = "preview unavailable: " + e; }
    }
  }
  [idx, k, tpl].forEach((el) => el.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(render, 120); }));
  render();
})();
