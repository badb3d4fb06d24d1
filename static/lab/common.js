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

  // Every chart downloads as PNG or SVG through plotly's own export (Plotly.downloadImage),
  // named after the chart's element and the page (e.g. "experiment-12-acc-n-chart.svg").
  function download(format) {
    return {
      name: "Download plot as " + format.toUpperCase(),
      icon: window.Plotly && window.Plotly.Icons ? window.Plotly.Icons.camera : undefined,
      click: (gd) => window.Plotly.downloadImage(gd, { format, scale: format === "png" ? 2 : 1,
        filename: (document.body.dataset.chartPrefix || "chart") + "-" + (gd.id || "plot") }),
    };
  }

  window.Lab = { color, rgba, el, clear, fmt, fmtDuration,
    plotConfig: { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["lasso2d", "select2d", "toImage"],
      toImageButtonOptions: { format: "png", scale: 2 },
      modeBarButtonsToAdd: window.Plotly ? [download("png"), download("svg")] : [] } };
})();
