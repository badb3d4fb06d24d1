// Live experiment page: history first (history.json), then a websocket that resumes from
// the last seen event/point ids and reconnects with backoff. Keeps the runs table, the
// whole-experiment progress bar and ETA, and the loss charts (one line per learning-rate
// trial, CE and MSE on separate panels) up to date.
(function () {
  const { el, clear, color, fmtDuration } = window.Lab;
  const expId = JSON.parse(document.getElementById("experiment-id").textContent);
  const statusEl = document.getElementById("ws-status");
  const runSel = document.getElementById("loss-run");
  const FINAL = ["done", "failed", "cancelled"];
  const runs = {};            // id -> snapshot
  const series = {};          // runId -> {seriesName -> {x: [], y: []}}
  const seenPoints = new Set();
  let lastEvent = 0, lastPoint = 0, backoff = 1000, chartDirty = false, overallDirty = false, userChoseRun = false, lastShown = "";
  const TRIAL_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"];
  const PANELS = {
    ce: { el: "loss-ce", title: "Cross-entropy stages (SFT, soft-SFT)", y: "cross-entropy (nats, log scale)" },
    mse: { el: "loss-mse", title: "IA2 stage: activation alignment", y: "MSE to ICL activations (log scale)" },
    joint: { el: "loss-joint", title: "IA2+SFT joint loss", y: "CE + weight × MSE (log scale)" },
  };
  const panelOf = (stage) => (stage === "ia2" ? "mse" : stage === "ia2+sft" ? "joint" : "ce");
  const runName = (r) => (r ? r.method_label + " N=" + r.n + " seed " + r.seed : "run");

  // ---- runs table and overall progress -------------------------------------------------
  function trainingCell(cell, r) {
    clear(cell);
    (r.training || []).forEach((s) => cell.appendChild(el("div", {}, s.stage + ": lr " + (s.lr === null ? "?" : String(Number(s.lr))) +
      " · " + s.epochs + " epoch" + (s.epochs === 1 ? "" : "s") + " · best " + s.best_epoch)));
    if (!(r.training || []).length && r.state === "done") cell.appendChild(el("span", { className: "muted" }, "no training"));
  }

  function applyRun(r) {
    const prev = runs[r.id];
    runs[r.id] = r;
    overallDirty = true;
    const row = document.querySelector('tr[data-run="' + r.id + '"]');
    if (!row) return;
    const f = (name) => row.querySelector('[data-f="' + name + '"]');
    f("state").textContent = r.state + (r.cancel_requested && r.state === "running" ? " (cancelling)" : "");
    f("state").className = "state " + r.state;
    f("stage").textContent = r.state === "running" ? r.stage || "" : FINAL.includes(r.state) ? "" : r.stage || "";
    const pct = r.state === "done" ? 100 : Math.round((r.progress || 0) * 100);
    f("bar").style.width = pct + "%";
    f("bar").title = pct + "% of the whole run" + (r.total ? " (stage " + r.stage + ": step " + r.step + " / " + r.total + ")" : "");
    f("eta").textContent = r.state === "running" ? fmtDuration(r.eta_seconds) : "";
    f("message").textContent = (r.error || r.message || "").slice(0, 200);
    f("cancel").hidden = FINAL.includes(r.state);
    if (f("retry")) f("retry").hidden = !["failed", "cancelled"].includes(r.state);
    if (f("attempts")) {
      f("attempts").textContent = r.attempts ? r.attempts + " of " + document.getElementById("runs").dataset.maxAttempts : "";
    }
    if (f("adapter")) f("adapter").hidden = r.state !== "done";
    trainingCell(f("training"), r);
    if (r.state === "done" && (!prev || prev.state !== "done") && window.labCompareRefresh) window.labCompareRefresh();
    if (prev && prev.state !== r.state) chartDirty = true;
  }

  function durationOf(r) {
    if (!r.started_at || !r.finished_at) return null;
    return (Date.parse(r.finished_at) - Date.parse(r.started_at)) / 1000;
  }

  function drawOverall() {
    if (!overallDirty) return;
    overallDirty = false;
    const all = Object.values(runs);
    if (!all.length) return;
    const finished = all.filter((r) => FINAL.includes(r.state));
    const running = all.filter((r) => r.state === "running");
    const queued = all.filter((r) => r.state === "queued");
    const frac = all.reduce((s, r) => s + (FINAL.includes(r.state) ? 1 : r.progress || 0), 0) / all.length;
    document.getElementById("overall-bar").style.width = Math.round(frac * 100) + "%";
    const counts = {};
    all.forEach((r) => { counts[r.state] = (counts[r.state] || 0) + 1; });
    const parts = ["done", "running", "queued", "failed", "cancelled"].filter((s) => counts[s]).map((s) => counts[s] + " " + s);
    const allDone = finished.length === all.length;
    let text = finished.length + " of " + all.length + " run" + (all.length === 1 ? "" : "s") + " finished (" + parts.join(", ") + ")";
    if (!allDone) {
      const done = all.filter((r) => r.state === "done" && durationOf(r) !== null);
      const mean = (rs) => (rs.length ? rs.reduce((s, r) => s + durationOf(r), 0) / rs.length : null);
      const now = Date.now();
      const projected = (r) => (r.started_at && r.progress > 0.02 ? (now - Date.parse(r.started_at)) / 1000 / r.progress : null);
      let work = 0, known = true;
      running.forEach((r) => { if (r.eta_seconds === null || r.eta_seconds === undefined) known = false; else work += r.eta_seconds; });
      queued.forEach((r) => {
        const same = mean(done.filter((d) => d.method === r.method));
        const any = same !== null ? same : mean(done);
        const guess = any !== null ? any : (running.map(projected).filter((v) => v !== null)[0] ?? null);
        if (guess === null) known = false; else work += guess;
      });
      const eta = work / Math.max(1, running.length);
      text += known && (running.length || queued.length) ? " · about " + fmtDuration(eta) + " left" : " · time left: estimated once a run has progressed";
    }
    document.getElementById("overall-text").textContent = text;
    document.getElementById("overall-note").hidden = allDone;
    document.getElementById("live-actions").hidden = allDone;  // nothing left to watch or cancel
    document.getElementById("overall").classList.toggle("finished", allDone);
  }
  setInterval(drawOverall, 500);

  // ---- loss charts ---------------------------------------------------------------------
  function addPoint(p) {
    if (seenPoints.has(p.id)) return;
    seenPoints.add(p.id);
    const byName = series[p.run_id] || (series[p.run_id] = {});
    const s = byName[p.series] || (byName[p.series] = { x: [], y: [] });
    s.x.push(p.step); s.y.push(p.value);
    if (p.id > lastPoint) lastPoint = p.id;
    chartDirty = true;
  }

  function parseName(name) {
    const m = /^(.*)\/([^/@]+)(?:@(\d+))?$/.exec(name);
    return m ? { stage: m[1], kind: m[2], trial: m[3] === undefined ? 0 : Number(m[3]) } : null;
  }

  // {stage -> {trial -> {train, dev, best: {x, y, epoch}}}} and the chosen trial per stage
  function trialsOf(runId) {
    const out = {};
    Object.entries(series[runId] || {}).forEach(([name, s]) => {
      const p = parseName(name);
      if (!p) return;
      const t = ((out[p.stage] = out[p.stage] || {})[p.trial] = out[p.stage][p.trial] || { trial: p.trial });
      if (p.kind === "dev_loss") t.dev = s; else t.train = s;
    });
    Object.values(out).forEach((trials) => {
      let chosen = null;
      Object.values(trials).forEach((t) => {
        if (!t.dev || !t.dev.y.length) return;
        let best = 0;
        t.dev.y.forEach((v, i) => { if (v < t.dev.y[best] - 1e-7) best = i; });
        const epoch = t.dev.x[0] === 0 ? best : best + 1;  // a step-0 point is the loss before training
        t.best = { x: t.dev.x[best], y: t.dev.y[best], epoch };
        if (!chosen || t.best.y < chosen.best.y) chosen = t;
      });
      trials.chosen = chosen ? chosen.trial : null;
    });
    return out;
  }

  function lrOf(trial) {
    const grid = window.LAB_LR_GRID || [];
    return grid[trial] !== undefined ? "lr " + grid[trial] : "trial " + (trial + 1);
  }

  function tracesForRun(runId, panel, single) {
    const traces = [], r = runs[runId];
    Object.entries(trialsOf(runId)).forEach(([stage, trials]) => {
      if (panelOf(stage) !== panel) return;
      Object.values(trials).filter((t) => typeof t === "object" && t).forEach((t) => {
        const chosen = trials.chosen === t.trial;
        if (!single && trials.chosen !== null && !chosen) return;  // "all runs": the kept trial of each run
        const c = single ? TRIAL_COLORS[t.trial % TRIAL_COLORS.length] : color(r ? r.method : "");
        const faint = single && trials.chosen !== null && !chosen;
        const name = single ? stage + " · " + lrOf(t.trial) + (chosen ? " (chosen)" : "") : runName(r) + " · " + stage;
        const group = runId + stage + t.trial;
        const opacity = faint ? 0.3 : 1;
        if (t.train) traces.push({ type: "scatter", mode: t.train.x.length < 3 ? "lines+markers" : "lines", x: t.train.x, y: t.train.y, name: name + " train",
          legendgroup: group, opacity, line: { color: c, width: chosen ? 2.5 : 1.3 },
          hovertemplate: name + "<br>step %{x}: train loss %{y:.4g}<extra></extra>" });
        if (t.dev) traces.push({ type: "scatter", mode: "lines+markers", x: t.dev.x, y: t.dev.y, name: name + " dev",
          legendgroup: group, opacity, line: { color: c, width: chosen ? 2 : 1, dash: "dash" },
          marker: { color: "#fff", size: chosen ? 7 : 5, line: { color: c, width: 1.5 } },
          hovertemplate: name + "<br>step %{x}: dev loss %{y:.4g}<extra></extra>" });
        if (t.best) traces.push({ type: "scatter", mode: "markers", x: [t.best.x], y: [t.best.y], legendgroup: group,
          showlegend: false, opacity, marker: { symbol: "star", size: chosen ? 15 : 10, color: c, line: { color: "#222", width: 1 } },
          hovertemplate: name + "<br>best epoch " + t.best.epoch + " (step %{x}): dev loss %{y:.4g}<extra></extra>" });
      });
    });
    return traces;
  }

  function runsWithLoss() {
    return Object.keys(series).filter((id) => Object.keys(series[id]).length).map(Number).sort((a, b) => a - b);
  }

  function refreshSelector() {
    const ids = runsWithLoss();
    const methods = [];
    ids.forEach((id) => { const r = runs[id]; if (r && !methods.includes(r.method)) methods.push(r.method); });
    const values = ids.map((id) => ["run:" + id, runName(runs[id]) + (runs[id] && runs[id].state === "running" ? " (running)" : "")]);
    methods.forEach((m) => {
      const n = ids.filter((id) => runs[id] && runs[id].method === m).length;
      if (n > 1) values.push(["method:" + m, "All " + n + " " + runs[ids.find((id) => runs[id] && runs[id].method === m)].method_label + " runs (chosen trials)"]);
    });
    const key = values.map((v) => v.join("=")).join("|");
    if (runSel.dataset.key !== key) {
      const cur = runSel.value;
      clear(runSel);
      values.forEach(([v, t]) => runSel.appendChild(el("option", { value: v, textContent: t })));
      runSel.dataset.key = key;
      if (values.some(([v]) => v === cur)) runSel.value = cur;
    }
    if (!userChoseRun) {  // follow the run that is training now
      const live = ids.find((id) => runs[id] && runs[id].state === "running");
      if (live !== undefined) runSel.value = "run:" + live;
    }
  }

  function drawChart() {
    if (!chartDirty || !window.Plotly) return;
    chartDirty = false;
    refreshSelector();
    const choice = runSel.value || "";
    const has = runsWithLoss().length > 0;
    let drawn = 0;
    document.getElementById("loss-empty").hidden = has;
    Object.entries(PANELS).forEach(([panel, spec]) => {
      const div = document.getElementById(spec.el);
      let traces = [];
      if (choice.startsWith("run:")) traces = tracesForRun(Number(choice.slice(4)), panel, true);
      else if (choice.startsWith("method:")) {
        const m = choice.slice(7);
        runsWithLoss().filter((id) => runs[id] && runs[id].method === m).forEach((id) => { traces = traces.concat(tracesForRun(id, panel, false)); });
      }
      div.hidden = !traces.length;
      if (!traces.length) return;
      drawn += traces.reduce((n, t) => n + t.x.length, 0);
      const title = choice.startsWith("run:") ? spec.title + " · " + runName(runs[Number(choice.slice(4))]) : spec.title;
      Plotly.react(div, traces, {
        title: { text: title, font: { size: 14 } }, height: 400, margin: { t: 36, r: 10, b: 40, l: 64 },
        xaxis: { title: { text: "optimizer step (within a trial)", standoff: 4 }, rangemode: "tozero" },
        yaxis: { title: { text: spec.y }, type: "log" },
        legend: { orientation: "h", x: 0, y: -0.2, yanchor: "top", font: { size: 11 } }, hovermode: "closest",
      }, window.Lab.plotConfig);
    });
    document.getElementById("loss").dataset.points = drawn;  // what the charts show (read by the browser test)
    // a panel appearing or going re-flows the grid: plotly only follows window resizes by itself
    const shown = Object.values(PANELS).map((p) => !document.getElementById(p.el).hidden).join();
    if (shown !== lastShown) {
      lastShown = shown;
      Object.values(PANELS).forEach((p) => {
        const div = document.getElementById(p.el);
        if (!div.hidden && div.data) Plotly.Plots.resize(div);
      });
    }
  }
  setInterval(drawChart, 500);
  runSel.addEventListener("change", () => { userChoseRun = true; chartDirty = true; drawChart(); });

  // ---- websocket -----------------------------------------------------------------------
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
    if (document.body.dataset.shared) { statusEl.textContent = "read-only link"; return; }  // no websocket
    const proto = location.protocol === "https:" ? "wss://" : "ws://";
    const ws = (new WebSocket(proto + location.host + "/ws/experiments/" + expId + "/"));
    ws.onopen = () => {
      backoff = 1000;
      statusEl.textContent = "live"; statusEl.className = "tag ok";
      ws.send(JSON.stringify({ type: "resume", last_event: lastEvent, last_point: lastPoint }));
    };
    ws.onmessage = (e) => onMessage(JSON.parse(e.data));
    ws.onclose = (e) => {
      if (e.code === 4403) {  // refused, or access ended while open (removed from the team, moved, deleted)
        statusEl.textContent = "no access: reload the page"; statusEl.className = "tag warn"; return;
      }
      statusEl.textContent = "reconnecting in " + Math.round(backoff / 1000) + " s"; statusEl.className = "tag warn";
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 30000);
    };
  }

  const gridEl = document.getElementById("lr-grid");
  window.LAB_LR_GRID = gridEl ? JSON.parse(gridEl.textContent) : [];
  document.querySelectorAll(".swatch[data-method]").forEach((s) => { s.style.background = color(s.dataset.method); });

  fetch("history.json", { credentials: "same-origin" })
    .then((r) => r.json())
    .then((h) => {
      h.runs.forEach(applyRun);
      Object.entries(h.series).forEach(([runId, byName]) => {
        series[runId] = series[runId] || {};
        Object.entries(byName).forEach(([name, s]) => { series[runId][name] = { x: s.steps.slice(), y: s.values.slice() }; });
      });
      lastEvent = h.last_event; lastPoint = h.last_point; chartDirty = true;
      drawChart(); drawOverall();
      connect();
    })
    .catch(() => { statusEl.textContent = "could not load history"; connect(); });
})();
