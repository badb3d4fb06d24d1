// The cross-experiment comparison's charts (/compare/), from compare/data.json with the
// page's own filters: accuracy and ECE against N with 95% CI error bars (one line per
// method), reliability diagrams overlaid (one line per method), per-layer cosine similarity
// to ICL (one line per method). Data reaches the page only as text (Lab.el / textContent).
// Metric labels, units and ranges come from the engine's metric table (data.json's metric_table).
(function () {
  const box = document.getElementById("cmp-charts");
  if (!box || !window.Plotly) return;
  const { el, clear, color, style, dodge, caption } = window.Lab;
  const cfg = window.Lab.plotConfig;
  const modelSel = document.getElementById("xc-model");
  const taskSel = document.getElementById("xc-task");
  const nSel = document.getElementById("xc-n");
  const MARGIN = { t: 36, r: 12, b: 48, l: 56 };
  let data = null;

  function options(sel, values) {
    const cur = sel.value;
    clear(sel);
    values.forEach((v) => sel.appendChild(el("option", { value: String(v), textContent: String(v) })));
    if (values.map(String).includes(cur)) sel.value = cur;
  }

  const label = (m) => (data.method_labels && data.method_labels[m]) || m;
  const metricOf = (name) => data.metric_table[name];
  const here = (r) => r.model === modelSel.value && r.eval_task === taskSel.value;

  function againstN(id, metric) {
    const info = metricOf(metric);
    const rows = data.summary.filter((r) => here(r) && r[metric]);
    const methods = data.methods.filter((m) => rows.some((r) => r.method === m));
    const ns = [...new Set(rows.map((r) => r.n))].sort((a, b) => a - b);
    const log = ns.length > 1 && ns[0] > 0 && ns[ns.length - 1] / ns[0] >= 4;
    const step = ns.length > 1 ? Math.min(...ns.slice(1).map((n, i) => n - ns[i])) : 1;
    const traces = methods.map((m, k) => {
      const mine = rows.filter((r) => r.method === m).sort((x, y) => x.n - y.n);
      const s = mine.map((r) => r[metric]);
      // each method a little apart along N, so that equal values (a single N above all) stay visible
      const xs = mine.map((r) => dodge(r.n, k, methods.length, log, step));
      return { type: "scatter", mode: "lines+markers", name: label(m), x: xs, y: s.map((v) => v.mean),
        line: { color: color(m), width: 2 }, marker: { color: color(m), size: 8, symbol: style(m, data.methods.indexOf(m)).symbol },
        error_y: { type: "data", symmetric: false, visible: true, thickness: 1.2, width: 5,
          array: s.map((v) => (v.ci95 ? v.ci95[1] - v.mean : 0)), arrayminus: s.map((v) => (v.ci95 ? v.mean - v.ci95[0] : 0)) },
        customdata: s.map((v, i) => [v.values.length, v.ci95 ? v.ci95[0] : v.mean, v.ci95 ? v.ci95[1] : v.mean, mine[i].n]),
        hovertemplate: label(m) + " · N=%{customdata[3]}<br>mean %{y:.3f} over %{customdata[0]} run(s)<br>95% CI " +
          "[%{customdata[1]:.3f}, %{customdata[2]:.3f}]<extra></extra>" };
    });
    const div = document.getElementById(id);
    caption(div, modelSel.value, taskSel.value, ns.join(", "));
    Plotly.react(div, traces, {
      title: { text: info.title + " against N" }, height: 340, margin: MARGIN, legend: { orientation: "h", y: -0.25 },
      xaxis: { title: { text: "N" }, tickvals: ns, ticktext: ns.map(String), type: log ? "log" : "linear",
        range: window.Lab.singleRange(ns) },
      yaxis: { title: { text: info.label + " (" + info.unit + ")" }, rangemode: "tozero", range: info.axis },
    }, cfg);
  }

  function reliability() {
    const n = Number(nSel.value);
    const rows = data.reliability.filter((r) => here(r) && r.n === n && r.bins.some((b) => b.count));
    const traces = [{ type: "scatter", mode: "lines", x: [0, 1], y: [0, 1], name: "perfect calibration",
      line: { dash: "dot", color: "#888" }, hoverinfo: "skip" }];
    rows.forEach((r) => {
      const bins = r.bins.filter((b) => b.count), look = style(r.method, data.methods.indexOf(r.method));
      traces.push({ type: "scatter", mode: "lines+markers", name: label(r.method), x: bins.map((b) => b.confidence),
        y: bins.map((b) => b.accuracy), line: { color: color(r.method), dash: look.dash },
        marker: { color: color(r.method), symbol: look.symbol, size: 7 },
        customdata: bins.map((b) => b.count),
        hovertemplate: label(r.method) + "<br>confidence %{x:.2f}: accuracy %{y:.3f} (%{customdata} predictions)<extra></extra>" });
    });
    caption(document.getElementById("xc-rel"), modelSel.value, taskSel.value, n);
    Plotly.react(document.getElementById("xc-rel"), traces, {
      title: { text: "Reliability at N = " + n }, height: 340, margin: MARGIN, legend: { orientation: "h", y: -0.25 },
      xaxis: { title: { text: "confidence" }, range: [0, 1] },
      yaxis: { title: { text: metricOf("accuracy").label }, range: metricOf("accuracy").range },
    }, cfg);
  }

  function layers() {
    const n = Number(nSel.value);
    const rows = data.layers.filter((r) => here(r) && r.n === n);
    const div = document.getElementById("xc-layers");
    caption(div, modelSel.value, taskSel.value, n);
    Plotly.react(div, window.Lab.layerTraces(rows, data.methods, label), {
      title: { text: metricOf("cosine").label + " per layer (N = " + n + ")" }, height: 340, margin: MARGIN,
      legend: { orientation: "h", y: -0.25 }, xaxis: window.Lab.layerAxis(rows),
      yaxis: { title: { text: metricOf("cosine").unit } },
      annotations: rows.length ? [] : [{ text: "no similarity (ICL is the reference)", showarrow: false,
        xref: "paper", yref: "paper", x: 0.5, y: 0.5 }],
    }, cfg);
  }

  function render() {
    const rows = data.summary.filter((r) => r.model === modelSel.value);
    options(taskSel, [...new Set(rows.map((r) => r.eval_task))].sort());
    options(nSel, [...new Set(data.summary.filter(here).map((r) => r.n))].sort((a, b) => a - b));
    againstN("xc-acc", "accuracy");
    againstN("xc-ece", "ece");
    reliability();
    layers();
    box.dataset.rendered = "1";
  }

  fetch(box.dataset.url, { credentials: "same-origin" }).then((r) => r.json()).then((d) => {
    data = d;
    options(modelSel, d.models);
    render();
  });
  modelSel.addEventListener("change", render);
  taskSel.addEventListener("change", () => {
    options(nSel, [...new Set(data.summary.filter(here).map((r) => r.n))].sort((a, b) => a - b));
    againstN("xc-acc", "accuracy");
    againstN("xc-ece", "ece");
    reliability();
    layers();
  });
  nSel.addEventListener("change", () => { reliability(); layers(); });
})();
