// Compare charts built from results.json: accuracy and ECE per method (mean ± spread
// over seeds, ICL pinned as a line), reliability diagrams, per-layer similarity,
// a table of all numbers, and a per-example view from examples.json.
(function () {
  const taskSel = document.getElementById("cmp-task");
  const nSel = document.getElementById("cmp-n");
  const seedSel = document.getElementById("ex-seed");
  const disagree = document.getElementById("ex-disagree");
  let data = null, timer = null;
  const cfg = { displaylogo: false, responsive: true };
  const fmt = (v, d = 3) => (v === null || v === undefined ? "—" : Number(v).toFixed(d));

  function options(sel, values, keep) {
    const cur = sel.value;
    sel.innerHTML = values.map((v) => '<option value="' + v + '">' + v + "</option>").join("");
    if (keep && values.map(String).includes(cur)) sel.value = cur;
  }

  function barChart(el, metric, title, rows, baseline) {
    const x = rows.map((r) => r.method_label);
    const y = rows.map((r) => (r[metric] ? r[metric].mean : null));
    const err = rows.map((r) => (r[metric] ? r[metric].std : 0));
    const traces = [{ type: "bar", x, y, error_y: { type: "data", array: err, visible: true }, name: title,
      text: rows.map((r) => (r[metric] ? "seeds: " + r[metric].values.map((v) => fmt(v)).join(", ") : "")),
      hovertemplate: "%{x}: %{y:.3f}<br>%{text}<extra></extra>" }];
    rows.forEach((r) => { if (r[metric]) traces.push({ type: "scatter", mode: "markers", x: r[metric].values.map(() => r.method_label),
      y: r[metric].values, marker: { color: "#222", size: 6 }, showlegend: false, hoverinfo: "y" }); });
    const shapes = [], annotations = [];
    if (baseline && baseline[metric]) {
      shapes.push({ type: "line", xref: "paper", x0: 0, x1: 1, y0: baseline[metric].mean, y1: baseline[metric].mean,
        line: { dash: "dash", color: "#c0392b" } });
      annotations.push({ xref: "paper", x: 1, y: baseline[metric].mean, text: "ICL " + fmt(baseline[metric].mean),
        showarrow: false, xanchor: "right", yanchor: "bottom", font: { color: "#c0392b" } });
    }
    Plotly.react(el, traces, { title: { text: title }, shapes, annotations, showlegend: false, height: 320,
      margin: { t: 40, r: 10, b: 40, l: 50 } }, cfg);
  }

  function render() {
    if (!data || !window.Plotly) return;
    const task = taskSel.value, n = Number(nSel.value);
    const rows = data.summary.filter((r) => r.eval_task === task && r.n === n);
    document.getElementById("cmp-empty").hidden = rows.length > 0;
    const base = data.icl_baseline[task + "|" + n];
    barChart(document.getElementById("acc-chart"), "accuracy", "Accuracy (" + data.spread + ")", rows, base);
    barChart(document.getElementById("ece-chart"), "ece", "ECE, 15 equal-width bins", rows, base);
    const rel = data.reliability.filter((r) => r.eval_task === task && r.n === n && r.bins.length);
    Plotly.react(document.getElementById("rel-chart"),
      [{ x: [0, 1], y: [0, 1], mode: "lines", line: { dash: "dot", color: "#999" }, name: "perfect" }].concat(
        rel.map((r) => ({ x: r.bins.filter((b) => b.count).map((b) => b.confidence),
          y: r.bins.filter((b) => b.count).map((b) => b.accuracy), mode: "lines+markers",
          name: data.method_labels[r.method] || r.method,
          text: r.bins.filter((b) => b.count).map((b) => "n=" + b.count) }))),
      { title: { text: "Reliability diagram" }, xaxis: { title: "confidence", range: [0, 1] },
        yaxis: { title: "accuracy", range: [0, 1] }, height: 320, margin: { t: 40, r: 10, b: 40, l: 50 } }, cfg);
    const layers = data.layers.filter((r) => r.eval_task === task && r.n === n);
    Plotly.react(document.getElementById("layer-chart"),
      layers.map((r) => ({ x: r.layer, y: r.cosine, mode: "lines+markers", name: data.method_labels[r.method] || r.method })),
      { title: { text: "Per-layer cosine similarity to ICL activations" }, xaxis: { title: "layer", dtick: 1 },
        yaxis: { title: "cosine" }, height: 320, margin: { t: 40, r: 10, b: 40, l: 50 } }, cfg);
    document.getElementById("cmp-caption").textContent = "Each cell: " + data.spread + ".";
    document.querySelector("#cmp-table tbody").innerHTML = data.summary
      .filter((r) => r.eval_task === task)
      .map((r) => "<tr><td>" + r.method_label + '</td><td class="num">' + r.n + '</td><td class="num">' + r.seeds +
        "</td>" + ["accuracy", "ece", "ece_equal_mass", "brier", "nll", "mean_similarity"].map((m) =>
          '<td class="num">' + (r[m] ? fmt(r[m].mean) + (r[m].values.length > 1 ? " ± " + fmt(r[m].std) : "") : "—") + "</td>").join("") +
        "</tr>").join("");
    loadExamples();
  }

  function esc(s) { const d = document.createElement("div"); d.textContent = s == null ? "" : String(s); return d.innerHTML; }

  function loadExamples() {
    const task = taskSel.value, n = nSel.value, seed = seedSel.value;
    if (!task || !n) return;
    fetch("examples.json?" + new URLSearchParams({ eval_task: task, n, seed: seed || 0 }), { credentials: "same-origin" })
      .then((r) => r.json()).then((ex) => {
        const head = "<tr><th>#</th><th>Input</th><th>Gold</th>" + ex.methods.map((m) => "<th>" + esc(ex.method_labels[m] || m) + "</th>").join("") + "</tr>";
        document.querySelector("#ex-table thead").innerHTML = head;
        const rows = ex.examples.filter((e) => {
          if (!disagree.checked) return true;
          const c = Object.values(e.by_method).map((p) => p.correct);
          return c.some(Boolean) && !c.every(Boolean);
        });
        document.querySelector("#ex-table tbody").innerHTML = rows.slice(0, 500).map((e) => "<tr><td class=\"num\">" + e.index +
          '</td><td class="mono">' + esc(e.input).slice(0, 200) + '</td><td class="mono">' + esc(e.gold) + "</td>" +
          ex.methods.map((m) => { const p = e.by_method[m]; if (!p) return "<td>—</td>";
            return '<td class="' + (p.correct ? "ok" : "bad") + '" title="' + esc(JSON.stringify(p.label_probs || {})) + '">' +
              (p.correct ? "✓ " : "✗ ") + esc(p.predicted) + ' <span class="muted small">' + fmt(p.confidence, 2) + "</span></td>"; }).join("") +
          "</tr>").join("");
      });
  }

  function refresh() {
    fetch("results.json", { credentials: "same-origin" }).then((r) => r.json()).then((d) => {
      data = d;
      options(taskSel, d.eval_tasks, true); options(nSel, d.n_values, true); options(seedSel, d.seeds, true);
      render();
    });
  }
  window.labCompareRefresh = function () { clearTimeout(timer); timer = setTimeout(refresh, 800); };
  [taskSel, nSel].forEach((s) => s.addEventListener("change", render));
  [seedSel, disagree].forEach((s) => s.addEventListener("change", loadExamples));
  document.getElementById("cmp-refresh").addEventListener("click", refresh);
  refresh();
})();
