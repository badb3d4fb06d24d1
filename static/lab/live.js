// Live experiment page: history first (history.json), then a websocket that resumes from
// the last seen event/point ids and reconnects with backoff. Keeps the runs table, the
// whole-experiment progress bar and ETA, and the loss charts (one line per learning-rate
// trial, one panel per loss) up to date. The messages it reads (history, replay, event) are
// defined in webapp/lab/progress_messages.py: loss points come with their series' parts
// (stage, key, trial), a run's `training` is what the engine chose (shown as it is), and the
// panels are labelled from the engine's loss definitions (history.json `losses`).
(function () {
  const { el, clear, color, shade, caption, fmtDuration } = window.Lab;
  const expId = JSON.parse(document.getElementById("experiment-id").textContent);
  const statusEl = document.getElementById("ws-status");
  const runSel = document.getElementById("loss-run");
  const runs = {};            // id -> snapshot
  const series = {};          // runId -> {seriesName -> {stage, key, trial, x: [], y: []}}
  const seenPoints = new Set();
  let lastEvent = 0, lastPoint = 0, backoff = 1000, chartDirty = false, overallDirty = false, userChoseRun = false, lastShown = "";
  // a run's learning-rate trials: all in its method's colour (Lab.color), told apart by shade
  const TRIAL_SHADES = [0, -0.35, 0.45, -0.6, 0.7, -0.2, 0.25];
  const TRIAL_DASHES = ["solid", "dot", "dashdot", "longdash"];
  let losses = [];            // the engine's loss definitions: one panel each (key = its stage)
  const runName = (r) => (r ? r.method_label + " N=" + r.n + " seed " + r.seed : "run");

  // ---- runs table and overall progress -------------------------------------------------
  function trainingCell(cell, r) {
    clear(cell);
    (r.training || []).forEach((s) => cell.appendChild(el("div", {}, s.stage + ": lr " + String(Number(s.lr)) +
      " · " + s.epochs_run + " epoch" + (s.epochs_run === 1 ? "" : "s") + " · best " + s.best_epoch + (s.reused ? " · reused" : ""))));
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
    f("stage").textContent = r.final ? "" : r.stage || "";
    const pct = Math.round((r.progress || 0) * 100);  // a done run's snapshot says 1 (models.Run.progress)
    f("bar").style.width = pct + "%";
    f("bar").title = pct + "% of the whole run" + (r.total ? " (stage " + r.stage + ": step " + r.step + " / " + r.total + ")" : "");
    f("eta").textContent = r.state === "running" ? fmtDuration(r.eta_seconds) : "";
    f("message").textContent = (r.error || r.message || "").slice(0, 200);
    // what a run offers comes with its snapshot (models.Run: can_cancel, can_retry, has_adapter)
    f("cancel").hidden = !r.can_cancel;
    if (f("retry")) f("retry").hidden = !r.can_retry;
    if (f("attempts")) {
      // shown only from a second attempt on: "1 of 2" on a run that succeeded says nothing
      f("attempts").textContent = r.attempts > 1 ? r.attempts + " of " + document.getElementById("runs").dataset.maxAttempts : "";
    }
    if (f("adapter")) f("adapter").hidden = !r.has_adapter;
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
    const finished = all.filter((r) => r.final);
    const running = all.filter((r) => r.state === "running");
    const queued = all.filter((r) => r.state === "queued");
    const frac = all.reduce((s, r) => s + (r.final ? 1 : r.progress || 0), 0) / all.length;
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
    const pending = document.getElementById("model-identity-pending");  // "recorded by each run when it finishes"
    if (pending && allDone) {
      pending.textContent = all.some((r) => r.state === "done") ? "recorded by the finished runs: reload the page to see it"
        : "not recorded: no run finished with results";
    }
    document.getElementById("live-actions").hidden = allDone;  // nothing left to watch or cancel
    document.getElementById("overall").classList.toggle("finished", allDone);
  }
  setInterval(drawOverall, 500);

  // ---- loss charts ---------------------------------------------------------------------
  function addPoint(p) {
    if (seenPoints.has(p.id)) return;
    seenPoints.add(p.id);
    const byName = series[p.run_id] || (series[p.run_id] = {});
    const s = byName[p.series] || (byName[p.series] = { stage: p.stage, key: p.key, trial: p.trial, x: [], y: [] });
    s.x.push(p.step); s.y.push(p.value);
    if (p.id > lastPoint) lastPoint = p.id;
    chartDirty = true;
  }

  // the lines of one stage of a run: {trial -> {trial, train, dev}} (series named by the engine)
  function linesOf(runId, stage) {
    const out = {};
    Object.values(series[runId] || {}).filter((s) => s.stage === stage).forEach((s) => {
      const trial = s.trial === null ? 0 : s.trial;
      const line = out[trial] || (out[trial] = { trial });
      if (s.key === "dev_loss") line.dev = s; else line.train = s;
    });
    return Object.values(out);
  }

  function lrOf(trial, brief) {
    const grid = window.LAB_LR_GRID || [];
    if (brief) return "lr " + brief.lr;
    return grid[trial] !== undefined ? "lr " + grid[trial] : "trial " + (trial + 1);
  }

  function tracesForRun(runId, loss, single) {
    const traces = [], r = runs[runId], stage = loss.key;
    // what the engine chose for this stage (stored with the run's results; none while it runs)
    const chose = ((r && r.training) || []).find((s) => s.stage === stage) || null;
    linesOf(runId, stage).forEach((t) => {
      const chosen = chose !== null && chose.trial === t.trial;
      const brief = chose ? chose.trials.find((b) => b.trial === t.trial) : null;
      if (!single && chose !== null && !chosen) return;  // "all runs": the kept trial of each run
      const own = color(r ? r.method : "");
      const c = single && !chosen ? shade(own, TRIAL_SHADES[t.trial % TRIAL_SHADES.length]) : own;
      const faint = single && chose !== null && !chosen;
      const name = single ? stage + " · " + lrOf(t.trial, brief) + (chosen ? " (chosen)" : "") : runName(r) + " · " + stage;
      const group = runId + stage + t.trial;
      const opacity = faint ? 0.3 : 1;
      if (t.train) traces.push({ type: "scatter", mode: t.train.x.length < 3 ? "lines+markers" : "lines", x: t.train.x, y: t.train.y, name: name + " train",
        legendgroup: group, opacity, line: { color: c, width: chosen ? 2.5 : 1.3,
          dash: single && !chosen ? TRIAL_DASHES[t.trial % TRIAL_DASHES.length] : "solid" },
        hovertemplate: name + "<br>step %{x}: train loss %{y:.4g}<extra></extra>" });
      if (t.dev) traces.push({ type: "scatter", mode: "lines+markers", x: t.dev.x, y: t.dev.y, name: name + " dev",
        legendgroup: group, opacity, line: { color: c, width: chosen ? 2 : 1, dash: "dash" },
        marker: { color: "#fff", size: chosen ? 7 : 5, line: { color: c, width: 1.5 } },
        hovertemplate: name + "<br>step %{x}: dev loss %{y:.4g}<extra></extra>" });
      if (brief) traces.push({ type: "scatter", mode: "markers", x: [brief.best_step], y: [brief.best_dev_loss], legendgroup: group,
        showlegend: false, opacity, meta: "best", marker: { symbol: "star", size: chosen ? 15 : 10, color: c, line: { color: "#222", width: 1 } },
        hovertemplate: name + "<br>best epoch " + brief.best_epoch + " (step %{x}): dev loss %{y:.4g}<extra></extra>" });
    });
    return traces;
  }

  function panelOf(loss) {  // the chart of one loss, made on first use
    const id = "loss-" + loss.panel;
    return document.getElementById(id) ||
      document.getElementById("loss-panels").appendChild(el("div", { id, className: "chart", hidden: true }));
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
    losses.forEach((loss) => {
      const div = panelOf(loss);
      let traces = [];
      if (choice.startsWith("run:")) traces = tracesForRun(Number(choice.slice(4)), loss, true);
      else if (choice.startsWith("method:")) {
        const m = choice.slice(7);
        runsWithLoss().filter((id) => runs[id] && runs[id].method === m).forEach((id) => { traces = traces.concat(tracesForRun(id, loss, false)); });
      }
      div.hidden = !traces.length;
      if (!traces.length) return;
      drawn += traces.filter((t) => t.meta !== "best").reduce((n, t) => n + t.x.length, 0);
      const title = loss.label + (choice.startsWith("run:") ? " · " + runName(runs[Number(choice.slice(4))]) : "");
      const shownRun = choice.startsWith("run:") ? runs[Number(choice.slice(4))] : null;
      caption(div, document.body.dataset.chartModel, document.body.dataset.chartTask, shownRun ? shownRun.n : "");
      Plotly.react(div, traces, {
        title: { text: title + "<br><sub>" + loss.formula + "</sub>", font: { size: 14 } }, height: 400, margin: { t: 52, r: 10, b: 40, l: 64 },
        xaxis: { title: { text: "optimizer step (within a trial)", standoff: 4 }, rangemode: "tozero" },
        yaxis: { title: { text: loss.unit + " (log scale)" }, type: "log" },
        legend: { orientation: "h", x: 0, y: -0.2, yanchor: "top", font: { size: 11 } }, hovermode: "closest",
      }, window.Lab.plotConfig);
    });
    document.getElementById("loss").dataset.points = drawn;  // loss points the charts show (read by the browser tests)
    // a panel appearing or going re-flows the grid: plotly only follows window resizes by itself
    const shown = losses.map((loss) => !panelOf(loss).hidden).join();
    if (shown !== lastShown) {
      lastShown = shown;
      losses.forEach((loss) => {
        const div = panelOf(loss);
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
      losses = h.losses;
      h.runs.forEach(applyRun);
      Object.entries(h.series).forEach(([runId, byName]) => {
        series[runId] = series[runId] || {};
        Object.entries(byName).forEach(([name, s]) => {
          series[runId][name] = { stage: s.stage, key: s.key, trial: s.trial, x: s.steps.slice(), y: s.values.slice() };
        });
      });
      lastEvent = h.last_event; lastPoint = h.last_point; chartDirty = true;
      drawChart(); drawOverall();
      connect();
    })
    .catch(() => { statusEl.textContent = "could not load history"; connect(); });
})();
