"""The app as a user meets it: a real headless Chromium (Playwright) driving a real server.

* Setting change: from the Enter keypress (a new lr for racer 1, or a new x₀) to the race
  chart holding the new run, both instants taken in the page (``performance.now()``): a key
  listener stamps the keypress; a MutationObserver and an animation-frame loop stamp the
  first moment the race chart's racer-1 path ends somewhere else (its last point in
  ``_fullData``). For the default race (3 racers x 500 steps) and for 6 racers x 5000 steps
  (a share link), with the bytes the websocket brought per rerun and the size of the race
  figure's JSON as the app builds it.
* ▶ Play: frames plotly.js emitted (``plotly_animatingframe``), the distinct steps among
  them, and frames painted (animation frames in which the race panel's drawn lines changed),
  against the nominal 120 frames at 30 ms.
* First plot, on a fresh install as a user has it: a new ``NUMBA_CACHE_DIR``, the install's
  ``python -m optim_core.engines.warm`` run into it (timed on its own), then a server started
  on it, from its first answer on /_stcore/health to the race's image visible in a freshly
  opened page; then the same with a second server on that directory (warm start).
* Load: six pages open at once, each changing a setting as fast as Playwright can type into
  one after another; exceptions shown and the latency each page saw.

Skipped, with a note, where Debian's Chromium or Playwright is missing. The machine is shared
(2 cores, the server and Chromium included): read the numbers as this moment's.
"""

import contextlib
import itertools
import json
import os
import pathlib
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

from optim_core.config import DEFAULT_RACERS, LabConfig, Racer
from optim_core.share import to_query
from optim_core.spec import freeze

ROOT = pathlib.Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--no-sandbox", "--disable-background-networking", "--no-first-run"]
NOMINAL_FRAMES, FRAME_MS = 120, 30  # as ui/surface_page.RACE_FRAMES and viz/race.FRAME_MS
BIG_RACE = LabConfig(
    steps=5000,
    racers=(
        *DEFAULT_RACERS,
        Racer("Adam", freeze({"lr": 0.01}), "CosineAnnealingLR", freeze({"T_max": 5000})),
        Racer("SGD", freeze({"lr": 5e-4, "momentum": 0.9})),
        Racer("RMSprop", freeze({"lr": 0.003})),
    ),
)

# Installed once per page (a Streamlit page never reloads between reruns).
_WATCH = """() => {
  const race = () => [...document.querySelectorAll('.js-plotly-plot')].find(
    g => g.layout && (g.layout.images || []).length && g._fullData && g._fullData.length > 1);
  const signature = () => {
    const g = race(); if (!g) return null;
    const t = g._fullData[1], n = t.x.length;
    return n + ':' + t.x[n - 1] + ':' + t.y[n - 1];
  };
  const b = window.__bench = {race, signature, t0: null, t1: null, before: null};
  const check = () => {
    if (b.t0 === null || b.t1 !== null) return;
    const s = signature();
    if (s !== null && s !== b.before) b.t1 = performance.now();
  };
  new MutationObserver(check).observe(document.body, {subtree: true, childList: true,
                                                      attributes: true});
  const frame = () => {
    check();
    if (b.t1 === null && b.t0 !== null) requestAnimationFrame(frame);
  };
  document.addEventListener('keydown', e => {
    if (e.key !== 'Enter') return;
    b.before = signature(); b.t1 = null; b.t0 = performance.now();
    requestAnimationFrame(frame);
  }, true);
}"""

_NOT_RUNNING = """() => document.querySelector('[data-testid="stApp"]')
  ?.getAttribute('data-test-script-state') === 'notRunning'"""

# What a rerun sends for the race, measured in a subprocess that loads its kernels from the
# benchmark's warm cache (this process may have none cached): the race chart's data as the
# app sends it, and the animated Plotly figure the app sent before (still the HTML export).
_FIGURE_JSON = """
import json, sys
from optim_core.engines import numba_engine
from optim_core.share import from_query
from ui.surface_page import RACE_FRAMES, RACE_HEIGHT
from viz import race_figure
from viz.race_payload import race_payload
for query in json.loads(sys.argv[1]):
    specs = from_query(query).specs()
    runs = [(s.label, numba_engine.run(s)) for s in specs]
    surface, start = specs[0].surface_def, specs[0].start
    payload = race_payload(surface, (), runs, start=start, frames=RACE_FRAMES, height=RACE_HEIGHT)
    figure = race_figure(surface, (), runs, start=start, max_frames=RACE_FRAMES,
                         height=RACE_HEIGHT)
    print(len(json.dumps(payload)), len(figure.to_json()))
"""

# The race chart records each frame it draws while playing ([time, step], in the page); an
# animation-frame loop counts the display frames in which a new one appeared.
_PLAY_HOOK = """() => {
  const race = document.querySelector('.race-chart').__race;
  race.shown = [];
  const rec = window.__play = {frames: null, presented: 0, done: null};
  let seen = 0;
  const sample = (now) => {
    const n = race.shown.length;
    if (n > seen) { rec.presented += 1; seen = n; }
    if (race.playing || n === 0) { requestAnimationFrame(sample); return; }
    rec.done = now; rec.frames = race.shown.slice();
  };
  requestAnimationFrame(sample);
}"""

_PLAY_RESULT = """() => { const r = window.__play;
  return {frames: r.frames, presented: r.presented, done: r.done}; }"""


def _missing() -> str | None:
    if not os.path.exists(CHROMIUM):
        return f"{CHROMIUM} is missing (apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _server(cache_dir: str):
    """(url, seconds to the first healthy answer, the perf_counter instant of that answer)."""
    port = _free_port()
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless",
        "true", "--server.port", str(port), "--server.address", "127.0.0.1",
    ]  # fmt: skip
    env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir}
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile("w+") as log:  # a file, not a pipe nobody reads
        began = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            while True:
                if proc.poll() is not None:
                    log.seek(0)
                    raise RuntimeError("streamlit exited: " + log.read()[-2000:])
                try:
                    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                        if answer.status == 200:
                            break
                except OSError:
                    time.sleep(0.02)
            healthy = time.perf_counter()
            yield url, healthy - began, healthy, proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=20)


class _Page:
    """A page on the app with the latency watcher installed and its websocket bytes counted."""

    def __init__(self, browser, url: str):
        self.page = browser.new_page(viewport={"width": 1500, "height": 1050})
        self.received = 0
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("websocket", self._count)
        self.page.goto(url)
        self.page.wait_for_selector(".race-chart image", state="visible", timeout=300_000)
        self.settle()
        self.page.evaluate(_WATCH)

    def _count(self, ws):
        ws.on("framereceived", self._add)

    def _add(self, payload):
        self.received += len(payload)

    def settle(self, ms: int = 100):
        """Until the script run a change started has finished (Streamlit's own run state)."""
        self.page.wait_for_function(_NOT_RUNNING, timeout=120_000)
        self.page.wait_for_timeout(ms)

    def type_change(self, i: int):
        """Change i: a new lr for racer 1 (even i) or a new x₀ (odd i), ending with Enter."""
        page = self.page
        if i % 2 == 0:
            field = page.locator('[data-testid="stSidebar"]').get_by_label("lr", exact=True).first
            value = f"{1e-3 * (1 + 0.03 * (i // 2 + 1)):.6g}"
        else:
            field = page.get_by_label("x₀")
            value = f"{-1.2 + 0.02 * (i // 2 + 1):.6g}"
        field.fill(value)
        field.press("Enter")

    def latency_ms(self, timeout_ms: int = 120_000) -> tuple[float, float]:
        """(keypress -> changed race, the part of it after the race chart got its data)."""
        self.page.wait_for_function("window.__bench.t1 !== null", timeout=timeout_ms)
        return self.page.evaluate(
            """() => { const b = window.__bench;
              const race = document.querySelector('.race-chart').__race;
              return [b.t1 - b.t0, b.t1 - race.received]; }"""
        )

    def exceptions(self) -> int:
        return self.page.locator('[data-testid="stException"]').count()


def _stats(values):
    values = sorted(values)
    if len(values) < 2:
        return values[0], values[0], values[0]
    p90 = statistics.quantiles(values, n=10, method="inclusive")[8]
    return statistics.median(values), p90, values[-1]


def _changes(browser, url: str, count: int):
    """(latencies ms, websocket bytes received per rerun, exceptions, the page)."""
    p = _Page(browser, url)
    latencies, sent = [], []
    for i in range(count):
        before = p.received
        p.type_change(i)
        latencies.append(p.latency_ms())  # (whole, drawing)
        p.settle()
        sent.append(p.received - before)
    return latencies, sent, p.exceptions(), p


def _play(p: _Page) -> dict:
    p.page.evaluate(_PLAY_HOOK)
    p.page.get_by_text("▶ Play").first.click()
    p.page.wait_for_function("window.__play.done !== null", timeout=120_000)
    r = p.page.evaluate(_PLAY_RESULT)
    times = [t for t, _ in r["frames"]]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    return {
        "drawn": len(times),
        "steps": len({step for _, step in r["frames"]}),
        "presented": r["presented"],
        "seconds": (times[-1] - times[0]) / 1e3,
        "worst_gap": max(gaps, default=0.0),
    }


def _install_warm(cache_dir: str) -> float:
    """Seconds the install's warm command takes to fill a new Numba cache."""
    began = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "optim_core.engines.warm"], cwd=ROOT, check=True,
        env={**os.environ, "NUMBA_CACHE_DIR": cache_dir}, capture_output=True,
    )  # fmt: skip
    return time.perf_counter() - began


def _first_plot(browser, url: str, healthy: float) -> float:
    """Seconds from the server's first healthy answer to the race image visible."""
    page = browser.new_page(viewport={"width": 1500, "height": 1050})
    page.goto(url)
    page.wait_for_selector(".race-chart image", state="visible", timeout=300_000)
    shown = time.perf_counter() - healthy
    page.close()
    return shown


def _figure_json_chars(cache_dir: str, configs) -> list[tuple[int, int]]:
    queries = json.dumps([to_query(c) for c in configs])
    done = subprocess.run(
        [sys.executable, "-c", _FIGURE_JSON, queries], cwd=ROOT, capture_output=True, text=True,
        env={**os.environ, "NUMBA_CACHE_DIR": cache_dir}, check=True,
    )  # fmt: skip
    return [tuple(int(v) for v in line.split()) for line in done.stdout.splitlines()]


def _load(browser, url: str, pages: int, rounds: int):
    opened = [_Page(browser, url) for _ in range(pages)]
    latencies, exceptions = [], 0
    for r in range(rounds):
        for k, p in enumerate(opened):  # all six reruns overlap on the server
            p.type_change(2 * (r * pages + k) + r % 2)
        latencies += [p.latency_ms()[0] for p in opened]
        for p in opened:
            p.settle()
        exceptions += sum(p.exceptions() for p in opened)
    errors = sum(len(p.errors) for p in opened)
    visible = {p.page.evaluate("document.visibilityState") for p in opened}
    for p in opened:
        p.page.close()
    return latencies, exceptions, errors, visible


def _link(url: str, config: LabConfig) -> str:
    return f"{url}/?{urllib.parse.urlencode(to_query(config), doseq=True)}"


def main(quick: bool = False):
    missing = _missing()
    if missing:
        print(f"Browser benchmark skipped: {missing}.")
        return None
    from playwright.sync_api import sync_playwright

    changes, rounds = (4, 1) if quick else (10, 2)
    races = {"3 racers x 500 steps": LabConfig(), "6 racers x 5000 steps": BIG_RACE}
    phases = [("start", time.perf_counter())]
    out = {"phases": phases}
    with sync_playwright() as pw, tempfile.TemporaryDirectory() as cache:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        out["install"] = _install_warm(cache)
        phases.append(("install warm", time.perf_counter()))
        with _server(cache) as (url, to_health, healthy, _):
            out["fresh"] = (to_health, _first_plot(browser, url, healthy))
        phases.append(("fresh start", time.perf_counter()))
        with _server(cache) as (url, to_health, healthy, proc):
            out["warm"] = (to_health, _first_plot(browser, url, healthy))
            phases.append(("warm start", time.perf_counter()))
            for name, config in races.items():
                lat, sent, exc, p = _changes(browser, _link(url, config), changes)
                out[name] = {"latency": lat, "sent": sent, "exceptions": exc, "play": _play(p)}
                out[name]["errors"] = len(p.errors)
                p.page.close()
                phases.append((name.split(" x")[0], time.perf_counter()))
            out["load"] = _load(browser, url, 6, rounds)
            out["alive"] = proc.poll() is None
            phases.append(("load", time.perf_counter()))
        browser.close()
        sizes = _figure_json_chars(cache, races.values())
        phases.append(("figure sizes", time.perf_counter()))
    for name, (size, old) in zip(races, sizes, strict=True):
        out[name]["figure"], out[name]["old_figure"] = size, old
    _report(out, list(races), changes)
    return out


def _report(out: dict, races: list[str], changes: int) -> None:
    print(f"Browser: headless Chromium and the streamlit server on {os.cpu_count()} shared cores")
    print(f"Setting change, Enter -> new race in the page, {changes} changes (lr, x₀ alternating):")
    print(f"{'race':<24}{'median':>8}{'p90':>8}{'max':>8}{'lr':>8}{'x₀':>8}{'draw':>8}"
          f"{'ws/rerun':>11}{'chart':>9}{'was':>9}{'exc':>5}{'err':>5}")  # fmt: skip
    for name in races:
        r = out[name]
        whole = [w for w, _ in r["latency"]]
        median, p90, worst = _stats(whole)
        lr, x0 = (statistics.median(whole[k::2]) for k in (0, 1))
        draw = statistics.median(d for _, d in r["latency"])
        print(
            f"{name:<24}{median:>6.0f}ms{p90:>6.0f}ms{worst:>6.0f}ms{lr:>6.0f}ms{x0:>6.0f}ms"
            f"{draw:>6.0f}ms"
            f"{statistics.median(r['sent']) / 1e6:>9.2f}MB{r['figure'] / 1e6:>7.2f}MB"
            f"{r['old_figure'] / 1e6:>7.2f}MB"
            f"{r['exceptions']:>5}{r['errors']:>5}"
        )
    print("  (lr, x₀: median of each kind; draw: the part after the race chart got its data,")
    print("   median; ws/rerun: websocket bytes received per rerun, median;")
    print("   chart: the race chart's data as the app builds it; was: the animated Plotly figure")
    print("   the app sent before (120 frames); exc: st.exception elements on the page after")
    print("   the changes; err: uncaught page errors)")
    nominal = NOMINAL_FRAMES * FRAME_MS / 1e3
    print(f"▶ Play, nominal {NOMINAL_FRAMES} frames at {FRAME_MS} ms = {nominal:.1f} s "
          f"({1e3 / FRAME_MS:.1f} frames/s):")  # fmt: skip
    print(f"{'race':<24}{'seconds':>9}{'drawn':>7}{'steps':>7}{'shown':>7}{'frames/s':>10}"
          f"{'worst gap':>11}")  # fmt: skip
    for name in races:
        play = out[name]["play"]
        print(
            f"{name:<24}{play['seconds']:>9.2f}{play['drawn']:>7}{play['steps']:>7}"
            f"{play['presented']:>7}{play['drawn'] / play['seconds']:>10.1f}"
            f"{play['worst_gap']:>9.0f}ms"
        )
    print("  (drawn: frames the race chart drew, first to last; steps: distinct steps among")
    print("   them; shown: display frames in which a new one appeared; worst gap: the longest")
    print("   time between two drawn frames)")
    print("First usable plot on a fresh install, server healthy -> race image in a new page:")
    print(f"  install's warm command {out['install']:6.1f} s   (compiles into a new Numba cache)")
    for name, label in (("fresh", "first server"), ("warm", "second server")):
        to_health, shown = out[name]
        print(f"  {label:<18} {shown:6.2f} s   target <= 10 s   (healthy after {to_health:.2f} s)")
    lat, exc, errors, visible = out["load"]
    median, _, worst = _stats(lat)
    print(
        f"Load, 6 pages changing a setting at once ({len(lat)} changes): median {median:.0f} ms,"
        f" max {worst:.0f} ms; {exc} exceptions, {errors} page errors,"
        f" server {'alive' if out['alive'] else 'DEAD'}, pages {'/'.join(sorted(visible))}"
    )
    phases = out["phases"]
    parts = ", ".join(f"{n} {t - s:.0f}" for (_, s), (n, t) in itertools.pairwise(phases))
    print(f"(browser benchmark: {phases[-1][1] - phases[0][1]:.0f} s: {parts})")


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
