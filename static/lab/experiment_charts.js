// Compare section, from results.json: accuracy and ECE against N (one line per method,
// a band for the 95% interval over seeds), the same at one N as bars with each seed as a
// dot, reliability diagrams with their bin counts, per-layer similarity, the LoRA subspace
// overlap between methods (a heatmap), every number in a table, and the per-example view from examples.json. Every piece of data reaches the
// page as text (Lab.el / textContent), never as HTML. Metric labels, units, ranges and bins come from the
// engine's metric table, served in results.json as metric_table.
(function () {
  const { el, clear, fmt, color, rgba, style, dodge, caption } = window.Lab;
  const MODEL = document.body.dataset.chartModel || "";
  const taskSel = document.getElementById("cmp-task");
  const nSel = document.getElementById("cmp-n");
  const seedSel = document.getElementById("ex-seed");
  const disagree = document.getElementById("ex-disagree");
  let data = null, timer = null;
  const cfg = window.Lab.plotConfig;
  const MARGIN = { t: 36, r: 12, b: 48, l: 56 };
  const metricOf = (name) => data.metric_table[name];
  const runMetrics = () => Object.values(data.metric_table).filter((m) => m.scope === "run");

  function options(sel, values, keep) {
    const cur = sel.value;
    clear(sel);
    values.forEach((v) => sel.appendChild(el("option", { value: String(v), textContent: String(v) })));
    if (keep && values.map(String).includes(cur)) sel.value = cur;
  }

  const label = (m) => (data.method_labels && data.method_labels[m]) || m;
  const methodsIn = (rows) => data.methods.filter((m) => rows.some((r) => r.method === m));

  function ciBounds(stat) {
    const ci = stat && stat.ci95;
    return ci ? ci : [stat ? stat.mean : null, stat ? stat.mean : null];
  }

  function seedDots(method, xs, stats, name) {
    const x = [], y = [], seeds = [];
    stats.forEach((s, i) => (s ? s.points : []).forEach(([seed, v]) => {
      x.push(xs[i]); y.push(v); seeds.push(seed);
    }));
    return { type: "scatter", mode: "markers", x, y, customdata: seeds, legendgroup: method, showlegend: false,
      marker: { color: "#fff", size: 6, line: { color: color(method), width: 1.5 } },
      hovertemplate: label(method) + (name ? " · " + name : "") + "<br>seed %{customdata}: %{y:.3f}<extra></extra>" };
  }

  function axisForN(ns) {
    const log = ns.length > 1 && ns[0] > 0 && ns[ns.length - 1] / ns[0] >= 4;
    return { title: { text: "N (training examples / ICL demonstrations)" }, type: log ? "log" : "linear",
      tickvals: ns, ticktext: ns.map(String), zeroline: false, range: window.Lab.singleRange(ns) };
  }

  function metricAxis(metric) {
    const m = metricOf(metric);
    return { title: { text: m.label + " (" + m.unit + ")" }, range: m.axis, rangemode: "tozero", zeroline: false };
  }

  function againstN(elId, metric, task) {
    const rows = data.summary.filter((r) => r.eval_task === task && r[metric]);
    const ns = data.n_values.filter((n) => rows.some((r) => r.n === n));
    const traces = [], shown = methodsIn(rows);
    const log = axisForN(ns).type === "log";
    const step = ns.length > 1 ? Math.min(...ns.slice(1).map((n, i) => n - ns[i])) : 1;
    shown.forEach((m, k) => {
      const mine = ns.map((n) => rows.find((r) => r.method === m && r.n === n)).filter(Boolean);
      // each method a little apart along N, so that equal values (a single N above all) stay visible
      const xs = mine.map((r) => dodge(r.n, k, shown.length, log, step)), stats = mine.map((r) => r[metric]);
      const look = style(m, data.methods.indexOf(m));
      const lo = stats.map((s) => ciBounds(s)[0]), hi = stats.map((s) => ciBounds(s)[1]);
      if (stats.some((s) => s.ci95)) {
        traces.push({ type: "scatter", x: xs.concat(xs.slice().reverse()), y: hi.concat(lo.slice().reverse()),
          fill: "toself", fillcolor: rgba(color(m), 0.1), line: { width: 1, color: rgba(color(m), 0.35), dash: "dot" }, hoverinfo: "skip",
          legendgroup: m, showlegend: false });
      }
      traces.push({ type: "scatter", mode: "lines+markers", x: xs, y: stats.map((s) => s.mean), name: label(m),
        legendgroup: m, line: { color: color(m), width: 2.5 }, marker: { color: color(m), size: 8, symbol: look.symbol },
        customdata: stats.map((s, i) => [s.values.length, lo[i], hi[i], mine[i].n]),
        hovertemplate: label(m) + " · N=%{customdata[3]}<br>mean %{y:.3f} over %{customdata[0]} seed(s)" +
          "<br>95% CI [%{customdata[1]:.3f}, %{customdata[2]:.3f}]<extra></extra>" });
      traces.push(seedDots(m, xs, stats, ""));
    });
    const div = document.getElementById(elId);
    caption(div, MODEL, task, ns.join(", "));
    Plotly.react(div, traces, {
      title: { text: metricOf(metric).title + " against N" }, xaxis: axisForN(ns), yaxis: metricAxis(metric),
      height: 340, margin: MARGIN, legend: { orientation: "h", y: -0.25 }, hovermode: "closest",
    }, cfg);
  }

  function barsAtN(elId, metric, rows, baseline) {
    const ms = rows.filter((r) => r[metric]);
    const x = ms.map((r) => r.method_label);
    const stats = ms.map((r) => r[metric]);
    const traces = [{ type: "bar", x, y: stats.map((s) => s.mean), marker: { color: ms.map((r) => color(r.method)) },
      error_y: { type: "data", symmetric: false, visible: true, color: "#333", thickness: 1.5, width: 6,
        array: stats.map((s) => (s.ci95 ? s.ci95[1] - s.mean : 0)),
        arrayminus: stats.map((s) => (s.ci95 ? s.mean - s.ci95[0] : 0)) },
      customdata: stats.map((s) => [s.values.length, ciBounds(s)[0], ciBounds(s)[1]]),
      hovertemplate: "%{x}: mean %{y:.3f} over %{customdata[0]} seed(s)<br>95% CI [%{customdata[1]:.3f}, " +
        "%{customdata[2]:.3f}]<extra></extra>", showlegend: false }];
    ms.forEach((r) => {
      const t = seedDots(r.method, [r.method_label], [r[metric]], "");
      t.marker.symbol = style(r.method, data.methods.indexOf(r.method)).symbol;
      t.hovertemplate = r.method_label + "<br>seed %{customdata}: %{y:.3f}<extra></extra>";
      traces.push(t);
    });
    const shapes = [], annotations = [];
    if (baseline && baseline[metric]) {
      const y = baseline[metric].mean;
      shapes.push({ type: "line", xref: "paper", x0: 0, x1: 1, y0: y, y1: y, line: { dash: "dash", color: color("icl") } });
      annotations.push({ xref: "paper", x: 1, y, text: "ICL " + fmt(y), showarrow: false, xanchor: "right",
        yanchor: "bottom", font: { color: color("icl") } });
    }
    const div = document.getElementById(elId);
    caption(div, MODEL, taskSel.value, nSel.value);
    Plotly.react(div, traces, {
      title: { text: metricOf(metric).title + " at N = " + nSel.value }, shapes, annotations, height: 340, margin: MARGIN,
      xaxis: { title: { text: "method" } }, yaxis: metricAxis(metric), hovermode: "closest",
    }, cfg);
  }

  function reliability(task, n) {
    const holder = clear(document.getElementById("rel-charts"));
    const rows = data.reliability.filter((r) => r.eval_task === task && r.n === n && r.bins.some((b) => b.count));
    if (!rows.length) { holder.appendChild(el("p", { className: "muted" }, "No calibration bins (generation tasks have none).")); return; }
    rows.forEach((r) => {
      const div = el("div", { className: "rel-panel" });
      holder.appendChild(div);
      caption(div, MODEL, task, n);
      const bins = r.bins;
      const centers = bins.map((b) => (b.bin_lower + b.bin_upper) / 2);
      const width = bins.map((b) => b.bin_upper - b.bin_lower);
      const summary = data.summary.find((s) => s.eval_task === task && s.n === n && s.method === r.method);
      const ece = summary && summary.ece ? " · " + metricOf("ece").label + " " + fmt(summary.ece.mean) : "";
      const c = color(r.method);
      Plotly.react(div, [
        { type: "scatter", mode: "lines", x: [0, 1], y: [0, 1], line: { dash: "dot", color: "#888" },
          name: "perfect calibration", hoverinfo: "skip", showlegend: false },
        { type: "bar", x: centers, width, y: bins.map((b) => (b.count ? b.accuracy : null)),
          marker: { color: rgba(c, 0.75), line: { color: c, width: 1 } }, showlegend: false,
          customdata: bins.map((b) => [b.bin_lower, b.bin_upper, b.count, b.confidence]),
          hovertemplate: "confidence %{customdata[0]:.2f}–%{customdata[1]:.2f} (mean %{customdata[3]:.2f})" +
            "<br>accuracy %{y:.3f} · %{customdata[2]} predictions<extra></extra>" },
        { type: "bar", x: centers, width, y: bins.map((b) => b.count), xaxis: "x", yaxis: "y2",
          marker: { color: "#9aa3b2" }, showlegend: false, hovertemplate: "%{y} predictions<extra></extra>" },
      ], {
        title: { text: label(r.method) + ece, font: { size: 13 } }, height: 330, margin: { t: 32, r: 10, b: 44, l: 56 },
        xaxis: { title: { text: "confidence (predicted probability)" }, range: [0, 1], anchor: "y2" },
        yaxis: { title: { text: metricOf("accuracy").label }, range: metricOf("accuracy").range, domain: [0.34, 1] },
        yaxis2: { title: { text: "count" }, domain: [0, 0.24], rangemode: "tozero" },
        bargap: 0,
      }, cfg);
    });
  }

  function layerChart(task, n) {
    const layers = data.layers.filter((r) => r.eval_task === task && r.n === n);
    const div = document.getElementById("layer-chart");
    div.hidden = !layers.length;
    if (!layers.length) return;
    caption(div, MODEL, task, n);
    Plotly.react(div, window.Lab.layerTraces(layers, data.methods, label),
      { title: { text: metricOf("cosine").label + " per layer (N = " + n + ")" },
        xaxis: window.Lab.layerAxis(layers), yaxis: { title: { text: metricOf("cosine").unit } },
        height: 340, margin: MARGIN, legend: { orientation: "h", y: -0.25 } }, cfg);
  }

  // LoRA subspace overlap between the adapters of two methods at the chosen N (computed by the
  // worker when a run finishes): a methods x methods heatmap, 0 to 1, the diagonal being a
  // method's adapter with itself (1 by definition).
  function overlapChart(n) {
    const all = data.adapter_overlap || [];
    const holder = document.getElementById("overlap");
    holder.hidden = !all.length;
    if (!all.length) return;
    const pairs = all.filter((o) => o.n === n);
    const div = document.getElementById("overlap-chart"), empty = document.getElementById("overlap-empty");
    div.hidden = !pairs.length;
    empty.hidden = pairs.length > 0;
    const chance = pairs.map((o) => o.random).filter((v) => v !== null && v !== undefined);
    document.getElementById("overlap-caption").textContent = data.overlap_caption +
      (chance.length ? " Here r / d ≈ " + fmt(chance.reduce((a, b) => a + b, 0) / chance.length) + "." : "");
    if (!pairs.length) {
      empty.textContent = "No two LoRA adapters to compare at N = " + n + " yet.";
      return;
    }
    const ms = data.methods.filter((m) => pairs.some((o) => o.a === m || o.b === m));
    const names = ms.map(label);
    const z = ms.map((_, i) => ms.map((__, j) => (i === j ? 1 : null)));
    const hover = ms.map((m, i) => ms.map((__, j) => (i === j ? label(m) + ": its own adapter (1 by definition)" : "")));
    pairs.forEach((o) => {
      const i = ms.indexOf(o.a), j = ms.indexOf(o.b);
      const seeds = o.points.map(([seed, v]) => "seed " + seed + ": " + fmt(v)).join(", ");
      const text = label(o.a) + " vs " + label(o.b) + " · N = " + n + "<br>overlap " + fmt(o.mean) + " (mean over " +
        o.seeds + " seed" + (o.seeds === 1 ? "" : "s") + ")<br>" + seeds;
      z[i][j] = z[j][i] = o.mean;
      hover[i][j] = hover[j][i] = text;
    });
    const overlap = metricOf("adapter_overlap"), [zmin, zmax] = overlap.range;
    caption(div, MODEL, taskSel.value, n);
    Plotly.react(div, [{ type: "heatmap", x: names, y: names, z, zmin, zmax, colorscale: "Blues", reversescale: true,
      text: hover, texttemplate: "%{z:.2f}", hovertemplate: "%{text}<extra></extra>", xgap: 2, ygap: 2,
      colorbar: { title: { text: "overlap" }, thickness: 12, tickvals: [zmin, (zmin + zmax) / 2, zmax] } }], {
      title: { text: overlap.label + " at N = " + n }, height: 300, margin: { t: 36, r: 12, b: 56, l: 96 },
      xaxis: { title: { text: "method" }, type: "category" },
      yaxis: { title: { text: "method" }, type: "category", autorange: "reversed" },
    }, cfg);
  }

  function smallEvalWarning(task) {
    const box = document.getElementById("cmp-warning");
    const rows = data.summary.filter((r) => r.eval_task === task && r.ece && r.n_examples);
    const bins = metricOf("ece").bins, need = bins * data.min_examples_per_bin;
    const fewest = rows.length ? Math.min(...rows.map((r) => r.n_examples)) : null;
    box.hidden = !(fewest !== null && fewest < need);
    if (!box.hidden) {
      box.textContent = "Only " + fewest + " evaluation examples per run on " + task + ": " + bins +
        "-bin ECE needs about " + need + " (" + data.min_examples_per_bin + " per bin on average) to mean " +
        "much; with fewer, most bins are empty or hold one or two predictions, and ECE mostly measures sampling " +
        "noise. Treat the ECE and the reliability diagrams as indicative, or raise the evaluation size.";
    }
  }

  // the caption's clauses that depend on the metrics: each one's range and the ECE bins
  function metricCaption() {
    const shown = ["accuracy", "ece"].map(metricOf);
    document.getElementById("cmp-ranges").textContent = " (" + shown.map((m) => m.label + " [" +
      m.range.map((v) => (v === null ? "∞" : v)).join(", ") + "]").join(", ") + ")";
    document.getElementById("cmp-bins").textContent = metricOf("ece").title + ".";
  }

  function numbersTable(task) {
    document.getElementById("cmp-caption").textContent =
      "Each cell: the mean over seeds [95% CI]; spread: " + data.spread + ".";
    const metrics = runMetrics();
    const head = clear(document.querySelector("#cmp-table thead"));
    head.appendChild(el("tr", {}, el("th", {}, "Method"), el("th", { className: "num" }, "N"),
      el("th", { className: "num" }, "Seeds"), metrics.map((m) => el("th", { className: "num", title: m.unit }, m.label))));
    const body = clear(document.querySelector("#cmp-table tbody"));
    data.summary.filter((r) => r.eval_task === task).forEach((r) => {
      const cells = metrics.map(({ name }) => {
        const s = r[name];
        if (!s) return el("td", { className: "num" }, "—");
        const ci = s.ci95 ? " [" + fmt(s.ci95[0]) + ", " + fmt(s.ci95[1]) + "]" : "";
        return el("td", { className: "num", title: "seeds: " + s.points.map(([seed, v]) => seed + ": " + fmt(v)).join(", ") },
          fmt(s.mean), el("span", { className: "muted small" }, ci));
      });
      const swatch = el("span", { className: "swatch" });
      swatch.style.background = color(r.method);
      body.appendChild(el("tr", {}, el("td", {}, swatch, r.method_label),
        el("td", { className: "num" }, r.n), el("td", { className: "num" }, r.seeds), cells));
    });
  }

  function render() {
    if (!data || !window.Plotly) return;
    const has = data.summary.length > 0;
    document.getElementById("cmp-empty").hidden = has;
    document.getElementById("cmp-body").hidden = !has;
    if (!has) return;
    const task = taskSel.value, n = Number(nSel.value);
    const rows = data.summary.filter((r) => r.eval_task === task && r.n === n);
    const base = data.icl_baseline[task + "|" + n];
    smallEvalWarning(task);
    metricCaption();
    againstN("acc-n-chart", "accuracy", task);
    againstN("ece-n-chart", "ece", task);
    barsAtN("acc-chart", "accuracy", rows, base);
    barsAtN("ece-chart", "ece", rows, base);
    reliability(task, n);
    layerChart(task, n);
    overlapChart(n);
    numbersTable(task);
    loadExamples();
  }

  function predictionCell(p) {
    if (!p) return el("td", {}, "—");
    return el("td", { className: p.correct ? "ok" : "bad", title: JSON.stringify(p.label_probs || {}) },
      (p.correct ? "✓ " : "✗ ") + p.predicted + " ", el("span", { className: "muted small" }, fmt(p.confidence, 2)));
  }

  function loadExamples() {
    const task = taskSel.value, n = nSel.value, seed = seedSel.value;
    if (!task || !n) return;
    fetch("examples.json?" + new URLSearchParams({ eval_task: task, n, seed: seed || 0 }), { credentials: "same-origin" })
      .then((r) => r.json()).then((ex) => {
        const head = clear(document.querySelector("#ex-table thead"));
        head.appendChild(el("tr", {}, el("th", {}, "#"), el("th", {}, "Input"), el("th", {}, "Gold"),
          ex.methods.map((m) => el("th", {}, (ex.method_labels && ex.method_labels[m]) || m))));
        const rows = ex.examples.filter((e) => {
          if (!disagree.checked) return true;
          const c = Object.values(e.by_method).map((p) => p.correct);
          return c.some(Boolean) && !c.every(Boolean);
        });
        const body = clear(document.querySelector("#ex-table tbody"));
        rows.slice(0, 500).forEach((e) => body.appendChild(el("tr", {},
          el("td", { className: "num" }, e.index),
          el("td", { className: "mono", title: e.input }, String(e.input).slice(0, 200)),
          el("td", { className: "mono" }, e.gold),
          ex.methods.map((m) => predictionCell(e.by_method[m])))));
        document.getElementById("ex-count").textContent = rows.length + " of " + ex.examples.length + " examples" +
          (rows.length > 500 ? " (first 500 shown)" : "");
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
