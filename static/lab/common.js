// Shared by the experiment page's scripts: one colour per method (the same on every
// chart), a DOM builder that only ever sets text (never HTML from data), formatting.
(function () {
  const METHOD_COLORS = {
    base: "#7f7f7f", icl: "#d62728", sft: "#1f77b4", ia2: "#2ca02c", "ia2-sft": "#9467bd",
    "ia2+sft": "#ff7f0e", "soft-sft": "#17becf", "sft-ia2": "#8c564b",
  };
  const EXTRA = ["#bcbd22", "#e377c2", "#393b79", "#637939"];

  function color(method) {
    if (METHOD_COLORS[method]) return METHOD_COLORS[method];
    let h = 0;
    for (const ch of String(method)) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
    return EXTRA[h % EXTRA.length];
  }

  // One method's lines and markers apart from another's where their values coincide: a
  // marker symbol and a dash per method (the colour stays the method's own).
  const SYMBOLS = ["circle", "diamond", "square", "triangle-up", "x", "star", "cross", "pentagon"];
  const DASHES = ["solid", "dash", "dot", "dashdot", "longdash", "longdashdot"];
  function style(method, k) {
    return { symbol: SYMBOLS[k % SYMBOLS.length], dash: DASHES[k % DASHES.length] };
  }

  // The k-th of `count` series moved a little along x (deterministically), so that points
  // with equal values stay visible side by side: multiplied on a log axis, added on a linear
  // one (`step`: the room between neighbouring x values; the offsets stay within a fifth of it).
  function dodge(x, k, count, log, step) {
    const at = k - (count - 1) / 2;
    if (count < 2) return x;
    return log ? x * Math.pow(1.04, at) : x + at * (0.2 * (step || 1)) / Math.max(1, count - 1);
  }

  // a single N's axis: one unit either side, so that the dodged points sit close together around it
  function singleRange(ns) { return ns.length === 1 ? [ns[0] - 1, ns[0] + 1] : undefined; }

  // a lighter (amount > 0) or darker (< 0) variant of a colour: a method's other trials
  function shade(hex, amount) {
    const n = parseInt(hex.slice(1), 16), to = amount > 0 ? 255 : 0, a = Math.abs(amount);
    const mix = (c) => Math.round(c + (to - c) * a).toString(16).padStart(2, "0");
    return "#" + mix((n >> 16) & 255) + mix((n >> 8) & 255) + mix(n & 255);
  }

  // Per-layer similarity, one line per method: each method its colour, marker and dash, and
  // a small offset along the layer axis, so that IA2's line stays visible under IA2→SFT's when
  // their values coincide (the hover names the true layer).
  function layerTraces(rows, methods, label) {
    const shown = methods.filter((m) => rows.some((r) => r.method === m));
    return rows.map((r) => {
      const k = shown.indexOf(r.method), look = style(r.method, methods.indexOf(r.method));
      return { type: "scatter", mode: "lines+markers", name: label(r.method), customdata: r.layer,
        x: r.layer.map((l) => dodge(l, k, shown.length, false, 1)), y: r.cosine,
        line: { color: color(r.method), dash: look.dash, width: 2 },
        marker: { color: color(r.method), symbol: look.symbol, size: 7 },
        hovertemplate: label(r.method) + " · layer %{customdata}: %{y:.3f}<extra></extra>" };
    });
  }

  // the per-layer axis: whole layers only (one tick per layer, or per few layers on a deep model)
  function layerAxis(rows) {
    const top = Math.max(1, ...rows.flatMap((r) => r.layer));
    return { title: { text: "layer" }, tickmode: "linear", tick0: 0, dtick: Math.max(1, Math.ceil(top / 16)),
      tickformat: "d", zeroline: false };
  }

  function rgba(hex, alpha) {
    const n = parseInt(hex.slice(1), 16);
    return "rgba(" + ((n >> 16) & 255) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + alpha + ")";
  }

  // el("td", {className: "num", title: "..."}, "text", otherNode): properties are set as
  // DOM properties (textContent semantics for strings), children as text nodes or nodes.
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    Object.entries(props || {}).forEach(([k, v]) => {
      if (v === undefined || v === null) return;
      if (k === "dataset") Object.assign(node.dataset, v);
      else node[k] = v;
    });
    children.flat().forEach((c) => {
      if (c === null || c === undefined || c === false) return;
      node.appendChild(typeof c === "object" ? c : document.createTextNode(String(c)));
    });
    return node;
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }

  function fmt(v, d = 3) { return v === null || v === undefined ? "—" : Number(v).toFixed(d); }

  function fmtDuration(s) {
    if (s === null || s === undefined || !isFinite(s)) return "";
    s = Math.max(0, Math.round(s));
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
    return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
  }

  // What a chart shows, for its downloaded image: the model, the task and N (set by the
  // page's script each time it draws the chart).
  function caption(div, model, task, n) {
    div.dataset.caption = [model ? "model " + model : "", task ? "task " + task : "",
      n !== undefined && n !== null && n !== "" ? "N = " + n : ""].filter(Boolean).join(" · ");
  }

  // the figure as downloaded: the chart's title with its caption under it (the chart on the page is unchanged)
  function captioned(gd) {
    const layout = Object.assign({}, gd.layout);
    const title = (layout.title && layout.title.text) || "";
    if (gd.dataset && gd.dataset.caption) {
      layout.title = Object.assign({}, layout.title, { text: title + "<br><sub>" + gd.dataset.caption + "</sub>" });
      layout.margin = Object.assign({}, layout.margin, { t: Math.max(72, (layout.margin && layout.margin.t) || 0) });
    }
    return { data: gd.data, layout, config: { displayModeBar: false } };
  }

  // Every chart downloads as PNG or SVG through plotly's own export (Plotly.downloadImage),
  // named after the chart's element and the page (e.g. "experiment-12-acc-n-chart.svg"),
  // titled with the model, the task and N (`caption`).
  function download(format) {
    return {
      name: "Download plot as " + format.toUpperCase(),
      icon: window.Plotly && window.Plotly.Icons ? window.Plotly.Icons.camera : undefined,
      click: (gd) => window.Plotly.downloadImage(captioned(gd), { format, scale: format === "png" ? 2 : 1,
        width: gd.offsetWidth || 700, height: gd.offsetHeight || 450,
        filename: (document.body.dataset.chartPrefix || "chart") + "-" + (gd.id || "plot") }),
    };
  }

  window.Lab = { color, style, dodge, singleRange, shade, caption, layerTraces, layerAxis, rgba, el, clear, fmt, fmtDuration,
    plotConfig: { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["lasso2d", "select2d", "toImage"],
      toImageButtonOptions: { format: "png", scale: 2 },
      modeBarButtonsToAdd: window.Plotly ? [download("png"), download("svg")] : [] } };
})();
