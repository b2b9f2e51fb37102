// The race chart: draws a new race once (Plotly.react) and animates it in the page.
//
// Python sends the race at its final state with empty paths, and each run's positions once
// (viz/race_payload.py). Frame k shows every run's whole path up to step steps[k] and its
// marker there, following Run.index and _marker_state in viz/race.py: a run is held at its
// stop once it converged, at its last finite point once it diverged, and then marked ✕.
// A click on the surface sends its coordinates back as the trigger value "click".
//
// A Plotly update costs 70-80 ms here (2 busy cores): too slow for 30 ms frames. So while
// playing (or dragging the slider) Plotly shows everything but the moving traces, and a
// canvas over it draws paths, markers and step cursors, ~1 ms a frame. A pause or the end
// hands the frame back to Plotly (hover, zoom and clicks as usual).

const PLOTLY_URL = "./app/static/plotly.min.js"; // served by Streamlit's static serving

function loadPlotly() {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (!window.__raceChartPlotly) {
    window.__raceChartPlotly = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = PLOTLY_URL;
      script.onload = () => resolve(window.Plotly);
      script.onerror = () => reject(new Error("plotly.js did not load from " + PLOTLY_URL));
      document.head.appendChild(script);
    });
  }
  return window.__raceChartPlotly;
}

function decodeRun(run) {
  const bytes = Uint8Array.from(atob(run.xy), (c) => c.charCodeAt(0));
  const xy = new Float32Array(bytes.buffer);
  const n = xy.length / 2;
  const x = new Float32Array(n);
  const y = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    x[i] = xy[2 * i];
    y[i] = xy[2 * i + 1];
  }
  return { ...run, x, y };
}

// A Plotly marker symbol of diameter ``size`` at (x, y), filled, outlined in black; the
// diverged ✕ in the run's colour. Only the symbols viz/palette.py uses.
function marker(ctx, x, y, symbol, size, colour) {
  const r = size / 2;
  ctx.beginPath();
  if (symbol === "x") {
    ctx.moveTo(x - r, y - r);
    ctx.lineTo(x + r, y + r);
    ctx.moveTo(x + r, y - r);
    ctx.lineTo(x - r, y + r);
    ctx.strokeStyle = colour;
    ctx.lineWidth = 4;
    ctx.stroke();
    return;
  }
  if (symbol === "circle") ctx.arc(x, y, r, 0, 2 * Math.PI);
  else if (symbol === "square") ctx.rect(x - r, y - r, 2 * r, 2 * r);
  else {
    const corners = { diamond: 4, "triangle-up": 3, pentagon: 5, hexagon: 6, "star-square": 4 };
    const k = corners[symbol] || 4;
    const star = symbol === "star-square";
    const R = symbol === "diamond" || star ? r * 1.3 : r * 1.15;
    const points = star ? 2 * k : k; // a star alternates outer and inner corners
    const turn = symbol === "hexagon" ? Math.PI / 6 : star ? Math.PI / 4 : 0;
    for (let i = 0; i < points; i++) {
      const a = -Math.PI / 2 + turn + (2 * Math.PI * i) / points;
      const rr = star && i % 2 ? R * 0.45 : R;
      ctx.lineTo(x + rr * Math.cos(a), y + rr * Math.sin(a));
    }
    ctx.closePath();
  }
  ctx.fillStyle = colour;
  ctx.fill();
  ctx.strokeStyle = "#000000";
  ctx.lineWidth = 1;
  ctx.stroke();
}

class Race {
  constructor(root) {
    this.root = root;
    root.classList.add("race-chart");
    this.gd = document.createElement("div");
    this.gd.style.position = "relative";
    this.canvas = document.createElement("canvas");
    this.canvas.className = "race-overlay";
    this.bar = document.createElement("div");
    this.bar.className = "race-controls";
    this.button = document.createElement("button");
    this.button.type = "button";
    this.slider = document.createElement("input");
    this.slider.type = "range";
    this.slider.min = "0";
    this.slider.setAttribute("aria-label", "step");
    this.label = document.createElement("span");
    this.label.className = "race-step";
    this.bar.append(this.button, this.slider, this.label);
    root.append(this.gd, this.bar);
    // Plotly follows the window's size; the sidebar opening or closing changes only ours.
    // Only while it is shown: a chart being removed (the 3D view, the other mode) is not.
    new ResizeObserver(() => {
      const shown = this.gd.isConnected && this.gd.offsetParent !== null;
      if (this.Plotly && this.gd._fullLayout && shown) {
        this.Plotly.Plots.resize(this.gd).catch(() => {}); // removed meanwhile: nothing to do
      }
    }).observe(root);
    this.overlay = false; // true while the canvas draws the moving traces
    this.cursorLines = [];
    this.playing = false;
    this.shown = []; // [time, step] of every frame drawn while playing (read by benchmarks)
    this.button.addEventListener("click", () => (this.playing ? this.pause() : this.play()));
    this.slider.addEventListener("input", () => {
      this.pause(false);
      this.show(Number(this.slider.value), false);
    });
    this.slider.addEventListener("change", () => this.show(Number(this.slider.value), true));
    this.setButton();
  }

  load(data, setTriggerValue) {
    this.received = performance.now(); // with ``drawn``: where a rerun's time goes (benchmarks)
    this.setTrigger = setTriggerValue;
    this.pause(false);
    this.figure = JSON.parse(data.figure);
    this.figure.layout.images[0].source = data.image;
    this.config = data.config;
    this.clickable = data.clickable;
    this.play_ = data.play;
    this.runs = data.play.runs.map(decodeRun);
    this.steps = data.play.steps;
    this.animated = [...data.play.paths, ...data.play.markers, ...data.play.cursors];
    this.slider.max = String(this.steps.length - 1);
    this.ready = loadPlotly().then((Plotly) => {
      this.Plotly = Plotly;
      return this.show(this.steps.length - 1, true);
    }).then(() => {
      this.drawn = performance.now();
      this.bind();
    }).catch((error) => {
      window.__raceChartPlotly = null; // the next race tries to load it again
      this.gd.textContent = "The race could not be drawn: " + error.message;
    });
    return this.ready;
  }

  // Traces of frame k, in the order of this.animated.
  frame(k) {
    const step = this.steps[k];
    const p = this.play_;
    const paths = [];
    const markers = [];
    for (const run of this.runs) {
      const i = Math.min(step, run.end, run.last);
      const blown = run.blown_at >= 0 && step >= run.blown_at;
      // A run with no finite point keeps a gap (its legend entry says it diverged at once).
      paths.push(i < 0 ? { x: [null], y: [null] } : { x: run.x.subarray(0, i + 1), y: run.y.subarray(0, i + 1) });
      markers.push({
        x: i < 0 ? [] : [run.x[i]],
        y: i < 0 ? [] : [run.y[i]],
        text: ["step " + Math.max(i, 0)],
        marker: { symbol: blown ? p.diverged_symbol : run.symbol, size: blown ? 15 : 12 },
      });
    }
    const cursors = p.cursors.map(() => ({ x: [step, step] }));
    return [...paths, ...markers, ...cursors];
  }

  // Frame k: in full by Plotly (``redraw``), or its moving traces on the canvas.
  show(k, redraw) {
    this.k = k;
    this.slider.value = String(k);
    this.label.textContent = "step " + this.steps[k];
    if (!redraw) return this.enterOverlay().then(() => this.draw(this.k));
    this.overlay = false;
    this.clearCanvas();
    return this.react(this.frame(k));
  }

  // The figure with the moving traces (in this.animated's order) set to ``traces``.
  react(traces) {
    const data = this.figure.data.map((trace) => ({ ...trace }));
    this.animated.forEach((t, j) => {
      const update = traces[j];
      const base = data[t];
      data[t] = { ...base, ...update };
      if (update.marker) data[t].marker = { ...base.marker, ...update.marker };
    });
    // plotly.js edits the layout it is given (it drops a fixed height once it autosized).
    return this.Plotly.react(this.gd, data, structuredClone(this.figure.layout), this.config);
  }

  enterOverlay() {
    if (this.overlay) return Promise.resolve();
    this.overlay = true;
    // One gap each, not no point: plotly.js leaves traces without points out of the legend.
    const empty = this.animated.map(() => ({ x: [null], y: [null] }));
    return this.react(empty).then(() => this.fitCanvas());
  }

  // The canvas covers the surface's plot area only, and the step cursors are lines moved
  // by a transform: in software rendering, a frame's cost is the area repainted.
  fitCanvas() {
    const full = this.gd._fullLayout;
    const xa = full.xaxis;
    const ya = full.yaxis;
    const ratio = window.devicePixelRatio || 1;
    const w = Math.round(xa._length * ratio);
    const h = Math.round(ya._length * ratio);
    if (this.canvas.width !== w || this.canvas.height !== h) {
      this.canvas.width = w;
      this.canvas.height = h;
    }
    Object.assign(this.canvas.style, {
      left: xa._offset + "px", top: ya._offset + "px",
      width: xa._length + "px", height: ya._length + "px",
    });
    if (this.canvas.parentNode !== this.gd) this.gd.appendChild(this.canvas);
    this.ctx = this.canvas.getContext("2d");
    this.ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    this.cursors = this.play_.cursors.map((t, j) => {
      const trace = this.figure.data[t];
      const cx = full["xaxis" + trace.xaxis.slice(1)];
      const cy = full["yaxis" + trace.yaxis.slice(1)];
      const line = this.cursorLines[j] || document.createElement("div");
      line.className = "race-cursor";
      Object.assign(line.style, { left: cx._offset + "px", top: cy._offset + "px",
                                  height: cy._length + "px" });
      if (line.parentNode !== this.gd) this.gd.appendChild(line);
      this.cursorLines[j] = line;
      return { line, axis: cx };
    });
    this.cursorLines.slice(this.cursors.length).forEach((line) => line.remove());
    this.cursorLines.length = this.cursors.length;
  }

  clearCanvas() {
    if (this.ctx) this.ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    this.cursorLines.forEach((line) => (line.style.display = "none"));
  }

  // Frame k on the canvas: what frame(k) gives Plotly, drawn in the axes' current ranges.
  draw(k) {
    if (!this.overlay) return;
    this.fitCanvas();
    this.clearCanvas();
    const ctx = this.ctx;
    const xa = this.gd._fullLayout.xaxis;
    const ya = this.gd._fullLayout.yaxis;
    const traces = this.frame(k);
    const n = this.runs.length;
    const shown = this.gd._fullData;
    this.runs.forEach((run, j) => {
      if (shown[this.play_.paths[j]].visible !== true) return; // hidden from the legend
      const path = traces[j];
      const colour = this.figure.data[this.play_.paths[j]].line.color;
      if (path.x.length > 1 && path.x[0] !== null) {
        ctx.beginPath();
        ctx.moveTo(xa.l2p(path.x[0]), ya.l2p(path.y[0]));
        for (let i = 1; i < path.x.length; i++) ctx.lineTo(xa.l2p(path.x[i]), ya.l2p(path.y[i]));
        ctx.strokeStyle = colour;
        ctx.lineWidth = 2;
        ctx.lineJoin = "round";
        ctx.stroke();
      }
      const m = traces[n + j];
      if (m.x.length) marker(ctx, xa.l2p(m.x[0]), ya.l2p(m.y[0]), m.marker.symbol, m.marker.size, colour);
    });
    const step = this.steps[k];
    this.cursors.forEach(({ line, axis }) => {
      const x = axis.l2p(step);
      line.style.transform = "translateX(" + x + "px)";
      line.style.display = x >= 0 && x <= axis._length ? "block" : "none"; // zoomed past it
    });
  }

  play() {
    if (!this.Plotly) return;
    const from = this.k >= this.steps.length - 1 ? 0 : this.k;
    this.playing = true;
    this.shown = [];
    this.setButton();
    const last = this.steps.length - 1;
    const tick = (now) => {
      if (!this.playing) return;
      // A frame's timestamp may precede t0 (it marks the frame's start): never before ``from``.
      const elapsed = Math.max(0, now - this.t0);
      const k = Math.min(last, from + Math.floor(elapsed / this.play_.frame_ms));
      if (k === last) {
        this.shown.push([now, this.steps[last]]);
        this.pause(true, last);
        return;
      }
      if (k !== this.k || !this.shown.length) {
        this.k = k;
        this.slider.value = String(k);
        this.label.textContent = "step " + this.steps[k];
        this.draw(k);
        this.shown.push([now, this.steps[k]]);
      }
      requestAnimationFrame(tick);
    };
    this.k = from;
    this.enterOverlay().then(() => {
      this.t0 = performance.now();
      requestAnimationFrame(tick);
    });
  }

  // Stop playing; ``redraw`` draws frame k in full (so clicks and hover work again).
  pause(redraw = true, k = this.k) {
    const was = this.playing;
    this.playing = false;
    this.setButton();
    if (was && redraw) this.show(k, true);
  }

  // "▶" is in every font Debian ships; the pause sign is not, so it is drawn.
  setButton() {
    this.button.innerHTML = this.playing
      ? '<svg width="10" height="11" viewBox="0 0 10 11" aria-hidden="true"><rect width="3.5" height="11" fill="currentColor"/><rect x="6.5" width="3.5" height="11" fill="currentColor"/></svg> Pause'
      : "▶ Play";
  }

  // A click on the surface (not a drag that zoomed or panned, nor the second click of a
  // double-click) sends where it landed, at once. Plotly's double-click zoom reset is off
  // (CHART_CONFIG): the toolbar's reset button does that without moving the start.
  bind() {
    if (this.bound) return;
    this.bound = true;
    let down = null;
    this.gd.addEventListener("mousedown", (e) => (down = [e.clientX, e.clientY]));
    this.gd.addEventListener("click", (e) => {
      const moved = down && Math.hypot(e.clientX - down[0], e.clientY - down[1]) > 4;
      const at = this.where(e);
      if (e.detail > 1 || moved || !at || this.playing || !this.clickable) return;
      this.setTrigger("click", at);
    });
  }

  // The surface's coordinates under the mouse, or null outside its plot area.
  where(mouse) {
    const xa = this.gd._fullLayout.xaxis;
    const ya = this.gd._fullLayout.yaxis;
    const box = this.gd.getBoundingClientRect();
    const px = mouse.clientX - box.left - xa._offset;
    const py = mouse.clientY - box.top - ya._offset;
    if (px < 0 || py < 0 || px > xa._length || py > ya._length) return null;
    const x = xa.p2d(px);
    const y = ya.p2d(py);
    return Number.isFinite(x) && Number.isFinite(y) ? { x, y } : null;
  }
}

export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  if (!parentElement.__race) parentElement.__race = new Race(parentElement);
  parentElement.__race.load(data, setTriggerValue);
}
