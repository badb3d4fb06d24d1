// Live experiment page: history first (history.json), then a websocket that
// resumes from the last seen event/point ids and reconnects with backoff.
(function () {
  const expId = JSON.parse(document.getElementById("experiment-id").textContent);
  const statusEl = document.getElementById("ws-status");
  const runs = {};            // id -> snapshot
  const series = {};          // "runId|series" -> {x: [], y: []}
  const seenPoints = new Set();
  let lastEvent = 0, lastPoint = 0, backoff = 1000, chartDirty = false;

  function fmtEta(s) {
    if (s === null || s === undefined) return "";
    s = Math.round(s);
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
    return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
  }

  function applyRun(r) {
    const prev = runs[r.id];
    runs[r.id] = r;
    const row = document.querySelector('tr[data-run="' + r.id + '"]');
    if (!row) return;
    const f = (name) => row.querySelector('[data-f="' + name + '"]');
    f("state").textContent = r.state + (r.cancel_requested && r.state === "running" ? " (cancelling)" : "");
    f("state").className = "state " + r.state;
    f("stage").textContent = r.stage || "";
    const pct = r.state === "done" ? 100 : Math.round((r.progress || 0) * 100);
    f("bar").style.width = pct + "%";
    f("bar").title = r.total ? r.step + " / " + r.total : "";
    f("eta").textContent = r.state === "running" ? fmtEta(r.eta_seconds) : "";
    f("message").textContent = (r.error || r.message || "").slice(0, 200);
    f("cancel").hidden = ["done", "failed", "cancelled"].includes(r.state);
    if (f("retry")) f("retry").hidden = !["failed", "cancelled"].includes(r.state);
    if (f("attempts")) {
      f("attempts").textContent = r.attempts ? r.attempts + " of " + document.getElementById("runs").dataset.maxAttempts : "";
    }
    if (f("adapter")) f("adapter").hidden = r.state !== "done";
    if (r.state === "done" && (!prev || prev.state !== "done") && window.labCompareRefresh) {
      window.labCompareRefresh();
    }
  }

  function addPoint(p) {
    if (seenPoints.has(p.id)) return;
    seenPoints.add(p.id);
    const key = p.run_id + "|" + p.series;
    const s = series[key] || (series[key] = { x: [], y: [] });
    s.x.push(p.step); s.y.push(p.value);
    if (p.id > lastPoint) lastPoint = p.id;
    chartDirty = true;
  }

  function traceName(key) {
    const [runId, name] = key.split("|");
    const r = runs[runId];
    return r ? r.method_label + " N=" + r.n + " s" + r.seed + " · " + name : key;
  }

  function drawChart() {
    if (!chartDirty || !window.Plotly) return;
    chartDirty = false;
    const traces = Object.keys(series).sort().map((key) => ({
      x: series[key].x, y: series[key].y, mode: "lines", name: traceName(key), type: "scattergl",
    }));
    const el = document.getElementById("loss-chart");
    if (!traces.length) { el.innerHTML = '<p class="muted">No training loss yet (ICL and base runs do not train).</p>'; return; }
    if (el.querySelector("p")) el.innerHTML = "";
    Plotly.react(el, traces, {
      margin: { t: 10, r: 10, b: 40, l: 50 }, xaxis: { title: "step" }, yaxis: { title: "loss", type: "log" },
      legend: { orientation: "h" }, height: 340,
    }, { displaylogo: false, responsive: true });
  }
  setInterval(drawChart, 500);

  function applyEvent(ev) { if (ev && ev.id > lastEvent) lastEvent = ev.id; }

  function onMessage(msg) {
    if (msg.type === "replay") {
      msg.runs.forEach(applyRun);
      msg.events.forEach(applyEvent);
      msg.points.forEach(addPoint);
    } else if (msg.type === "event") {
      if (msg.run) applyRun(msg.run);
      applyEvent(msg.event);
      (msg.points || []).forEach(addPoint);
    }
  }

  function connect() {
    const proto = location.protocol === "https:" ? "wss://" : "ws://";
    const ws = new WebSocket(proto + location.host + "/ws/experiments/" + expId + "/");
    ws.onopen = () => {
      backoff = 1000;
      statusEl.textContent = "live"; statusEl.className = "tag ok";
      ws.send(JSON.stringify({ type: "resume", last_event: lastEvent, last_point: lastPoint }));
    };
    ws.onmessage = (e) => onMessage(JSON.parse(e.data));
    ws.onclose = (e) => {
      if (e.code === 4403) { statusEl.textContent = "not allowed"; return; }
      statusEl.textContent = "reconnecting in " + Math.round(backoff / 1000) + " s"; statusEl.className = "tag warn";
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 30000);
    };
  }

  fetch("history.json", { credentials: "same-origin" })
    .then((r) => r.json())
    .then((h) => {
      h.runs.forEach(applyRun);
      Object.entries(h.series).forEach(([runId, byName]) => {
        Object.entries(byName).forEach(([name, s]) => {
          series[runId + "|" + name] = { x: s.steps.slice(), y: s.values.slice() };
        });
      });
      lastEvent = h.last_event; lastPoint = h.last_point; chartDirty = true;
      drawChart();
      connect();
    })
    .catch(() => { statusEl.textContent = "could not load history"; connect(); });
})();
