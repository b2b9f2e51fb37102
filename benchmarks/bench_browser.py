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
* First plot: from the server's first answer on /_stcore/health to the race's image visible
  in a freshly opened page, once with an empty Numba cache (a new ``NUMBA_CACHE_DIR``), then
  with that cache warm (a second server on the same directory).
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

# The race figure's JSON as the app builds it, measured in a subprocess that loads its
# kernels from the benchmark's warm cache (this process may have none cached).
_FIGURE_JSON = """
import json, sys
from optim_core.engines import numba_engine
from optim_core.share import from_query
from ui.surface_page import RACE_FRAMES, RACE_HEIGHT
from viz import race_figure
for query in json.loads(sys.argv[1]):
    specs = from_query(query).specs()
    runs = [(s.label, numba_engine.run(s)) for s in specs]
    surface = specs[0].surface_def
    figure = race_figure(surface, (), runs, start=specs[0].start, max_frames=RACE_FRAMES,
                         height=RACE_HEIGHT)
    print(len(figure.to_json()))
"""

_PLAY_HOOK = """() => {
  const g = window.__bench.race();
  const rec = window.__play = {frames: [], paints: 0, done: null};
  g.on('plotly_animatingframe', e => rec.frames.push([performance.now(), e.name]));
  g.on('plotly_animated', () => { rec.done = performance.now(); });
  // What is on screen: every drawn line of the race panel (plotly.js reorders the trace
  // groups while it animates, so no single group is followed).
  const drawn = () => [...window.__bench.race().querySelectorAll('.subplot.xy path.js-line')]
    .map(l => (l.getAttribute('d') || '').length).join(',');
  let last = drawn();
  const sample = () => {
    const now = drawn();
    if (now !== last && rec.frames.length) rec.paints += 1;
    last = now;
    if (rec.done === null) requestAnimationFrame(sample);
  };
  requestAnimationFrame(sample);
}"""

_PLAY_RESULT = """() => { const r = window.__play;
  return {frames: r.frames, paints: r.paints, done: r.done}; }"""


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
        self.page.wait_for_selector(".js-plotly-plot image", state="visible", timeout=300_000)
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

    def latency_ms(self, timeout_ms: int = 120_000) -> float:
        self.page.wait_for_function("window.__bench.t1 !== null", timeout=timeout_ms)
        return self.page.evaluate("window.__bench.t1 - window.__bench.t0")

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
        latencies.append(p.latency_ms())
        p.settle()
        sent.append(p.received - before)
    return latencies, sent, p.exceptions(), p


def _play(p: _Page) -> dict:
    p.page.evaluate(_PLAY_HOOK)
    p.page.get_by_text("▶ Play").first.click()
    p.page.wait_for_function("window.__play.done !== null", timeout=120_000)
    r = p.page.evaluate(_PLAY_RESULT)
    times = [t for t, _ in r["frames"]]
    seconds = (r["done"] - times[0]) / 1e3
    return {
        "emitted": len(times),
        "steps": len({name for _, name in r["frames"]}),
        "painted": r["paints"],
        "seconds": seconds,
    }


def _first_plot(browser, url: str, healthy: float) -> float:
    """Seconds from the server's first healthy answer to the race image visible."""
    page = browser.new_page(viewport={"width": 1500, "height": 1050})
    page.goto(url)
    page.wait_for_selector(".js-plotly-plot image", state="visible", timeout=300_000)
    shown = time.perf_counter() - healthy
    page.close()
    return shown


def _figure_json_chars(cache_dir: str, configs) -> list[int]:
    queries = json.dumps([to_query(c) for c in configs])
    done = subprocess.run(
        [sys.executable, "-c", _FIGURE_JSON, queries], cwd=ROOT, capture_output=True, text=True,
        env={**os.environ, "NUMBA_CACHE_DIR": cache_dir}, check=True,
    )  # fmt: skip
    return [int(line) for line in done.stdout.split()]


def _load(browser, url: str, pages: int, rounds: int):
    opened = [_Page(browser, url) for _ in range(pages)]
    latencies, exceptions = [], 0
    for r in range(rounds):
        for k, p in enumerate(opened):  # all six reruns overlap on the server
            p.type_change(2 * (r * pages + k) + r % 2)
        latencies += [p.latency_ms() for p in opened]
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
        with _server(cache) as (url, to_health, healthy, _):
            out["cold"] = (to_health, _first_plot(browser, url, healthy))
        phases.append(("cold start", time.perf_counter()))
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
    for name, size in zip(races, sizes, strict=True):
        out[name]["figure"] = size
    _report(out, list(races), changes)
    return out


def _report(out: dict, races: list[str], changes: int) -> None:
    print(f"Browser: headless Chromium and the streamlit server on {os.cpu_count()} shared cores")
    print(f"Setting change, Enter -> new race in the page, {changes} changes (lr, x₀ alternating):")
    print(f"{'race':<24}{'median':>8}{'p90':>8}{'max':>8}{'lr':>8}{'x₀':>8}"
          f"{'ws/rerun':>11}{'figure':>10}{'exc':>5}{'err':>5}")  # fmt: skip
    for name in races:
        r = out[name]
        median, p90, worst = _stats(r["latency"])
        lr, x0 = (statistics.median(r["latency"][k::2]) for k in (0, 1))
        print(
            f"{name:<24}{median:>6.0f}ms{p90:>6.0f}ms{worst:>6.0f}ms{lr:>6.0f}ms{x0:>6.0f}ms"
            f"{statistics.median(r['sent']) / 1e6:>9.2f}MB{r['figure'] / 1e6:>8.2f}MB"
            f"{r['exceptions']:>5}{r['errors']:>5}"
        )
    print("  (lr, x₀: median of each kind; ws/rerun: websocket bytes received per rerun, median;")
    print("   figure: the race figure's JSON as the app builds it; exc: st.exception elements")
    print("   on the page after the changes; err: uncaught page errors)")
    nominal = NOMINAL_FRAMES * FRAME_MS / 1e3
    print(f"▶ Play, nominal {NOMINAL_FRAMES} frames at {FRAME_MS} ms = {nominal:.1f} s "
          f"({1e3 / FRAME_MS:.1f} frames/s):")  # fmt: skip
    print(f"{'race':<24}{'seconds':>9}{'emitted':>9}{'steps':>7}{'painted':>9}{'painted/s':>11}")
    for name in races:
        play = out[name]["play"]
        print(
            f"{name:<24}{play['seconds']:>9.2f}{play['emitted']:>9}{play['steps']:>7}"
            f"{play['painted']:>9}{play['painted'] / play['seconds']:>11.1f}"
        )
    print("  (emitted: plotly_animatingframe events; steps: distinct frames among them;")
    print("   painted: animation frames in which the drawn paths changed; first frame to end)")
    print("First usable plot, server healthy -> race image visible in a new page:")
    for name, label in (("cold", "empty Numba cache"), ("warm", "warm Numba cache")):
        to_health, shown = out[name]
        print(f"  {label:<18} {shown:6.2f} s   (server start -> healthy {to_health:.2f} s)")
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
