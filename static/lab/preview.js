// Live preview of the exact ICL prompt and SFT string (mirrors webapp/lab/services/prompts.py).
(function () {
  const dataEl = document.getElementById("preview-data");
  if (!dataEl) return;
  const data = JSON.parse(dataEl.textContent);
  const idx = document.getElementById("pv-index");
  const k = document.getElementById("pv-k");
  const tpl = document.getElementById("pv-template");
  const fill = (t, x) => t.split("{x}").join(x);
  function render() {
    const pool = data.pool;
    const i = Math.min(Math.max(parseInt(idx.value || "1", 10) - 1, 0), pool.length - 1);
    const kk = Math.max(parseInt(k.value || "0", 10), 0);
    const template = tpl.value.replace(/\\n/g, "\n");
    const demos = pool.filter((_, j) => j !== i).slice(0, kk);
    const parts = demos.map((d) => fill(template, d.input) + d.output);
    parts.push(fill(template, pool[i].input));
    document.getElementById("pv-icl").textContent = parts.join("\n\n");
    document.getElementById("pv-sft").textContent = fill(template, pool[i].input) + pool[i].output;
  }
  [idx, k, tpl].forEach((el) => el.addEventListener("input", render));
  render();
})();
