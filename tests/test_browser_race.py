"""The race chart in a real browser: it plays every frame from the trajectories alone, the
path drawn mid-animation is the whole path so far, its frames are race_figure's, and a new
setting redraws it (issue 12)."""

import json
import urllib.parse

import numpy as np
import pytest
from test_browser import finish, open_page, race_plot, shot, wait_for_last_frame

from optim_core.config import LabConfig, Racer
from optim_core.engines import numba_engine
from optim_core.share import to_query
from optim_core.spec import freeze
from ui.surface_page import RACE_FRAMES, RACE_HEIGHT
from viz import race_figure

pytestmark = pytest.mark.browser

# A run that converges early, one that diverges mid-race, and one that runs all its steps.
RACE = LabConfig(
    surface="himmelblau",
    steps=600,
    racers=(
        Racer("SGD", freeze({"lr": 0.01})),
        Racer("SGD", freeze({"lr": 0.05})),
        Racer("SGD", freeze({"lr": 0.03})),
    ),
)
RACE_STATE = "document.querySelector('.race-chart').__race"
# Points of each run's path as Plotly holds it (after a pause or the end of ▶ Play).
PLOTLY_PATH_LENGTHS = (
    f"() => {RACE_STATE}.play_.paths.map(t => {RACE_STATE}.gd._fullData[t].x.length)"
)
# Where frame k puts each run, as the page computes it: path length and end, marker, symbol.
PAGE_FRAMES = f"""() => {{
  const race = {RACE_STATE};
  const n = race.runs.length;
  return race.steps.map((step, k) => {{
    const traces = race.frame(k);
    return traces.slice(0, n).map((path, j) => {{
      const m = traces[n + j];
      return [path.x.length, path.x.length ? [path.x[path.x.length - 1], path.y[path.y.length - 1]]
              : null, m.x.length ? [m.x[0], m.y[0]] : null, m.marker.symbol];
    }});
  }});
}}"""


def _link(url: str, config: LabConfig) -> str:
    return f"{url}/?{urllib.parse.urlencode(to_query(config), doseq=True)}"


def _python_race(config: LabConfig):
    specs = config.specs()
    runs = [(s.label, numba_engine.run(s)) for s in specs]
    fig = race_figure(specs[0].surface_def, (), runs, start=specs[0].start,
                      max_frames=RACE_FRAMES, height=RACE_HEIGHT)  # fmt: skip
    return runs, [f.to_plotly_json() for f in fig.frames]


def test_the_page_frames_are_the_race_figures_frames(server, browser):
    url, _ = server
    runs, frames = _python_race(RACE)
    statuses = {t.message.split()[0] for _, t in runs}
    assert {"converged", "diverged", "ran"} <= statuses, statuses  # every kind of run
    page, errors = open_page(browser, _link(url, RACE))
    page_frames = page.evaluate(PAGE_FRAMES)
    assert [int(f["name"]) for f in frames] == page.evaluate(f"{RACE_STATE}.steps")
    n = len(runs)
    for frame, mine in zip(frames, page_frames, strict=True):
        step = int(frame["name"])
        for (_, traj), marker, (length, end, at, symbol) in zip(
            runs, frame["data"][n : 2 * n], mine, strict=True
        ):
            index = min(step, int(traj.stop_step), int(traj.last_finite))
            assert length == index + 1, "the page draws the whole path up to the step"
            assert end == pytest.approx(traj.positions[index], rel=1e-6, abs=1e-6)
            assert at == pytest.approx([marker["x"][0], marker["y"][0]], rel=1e-5, abs=1e-6)
            assert symbol == marker["marker"]["symbol"]
    finish(page, errors)


def test_play_draws_whole_paths_on_the_canvas_and_ends_on_the_race(server, browser):
    url, _ = server
    page, errors = open_page(browser, _link(url, RACE))
    plot = race_plot(page)
    plot.get_by_text("▶ Play").click()
    page.wait_for_function(f"{RACE_STATE}.shown.length > 20", timeout=60_000)
    shot(page, "20-race-chart-mid-play")
    assert plot.locator("canvas.race-overlay").is_visible()
    plot.get_by_role("button", name="Pause").click()
    page.wait_for_function(f"!{RACE_STATE}.playing")
    page.wait_for_timeout(800)
    step = int(plot.locator(".race-step").inner_text().split()[-1])
    assert 0 < step < RACE.steps
    # Paused: Plotly holds the frame again, with every point of each path so far.
    lengths = page.evaluate(PLOTLY_PATH_LENGTHS)
    runs, _ = _python_race(RACE)
    expected = [min(step, int(t.stop_step), int(t.last_finite)) + 1 for _, t in runs]
    assert lengths == expected
    shown = page.evaluate(f"{RACE_STATE}.shown")
    steps = [s for _, s in shown]
    assert steps == sorted(steps) and len(set(steps)) > 20
    plot.get_by_text("▶ Play").click()  # resumes from the paused step to the end
    wait_for_last_frame(page, RACE.steps)
    lengths = page.evaluate(PLOTLY_PATH_LENGTHS)
    assert lengths == [min(int(t.stop_step), int(t.last_finite)) + 1 for _, t in runs]
    assert page.evaluate(f"{RACE_STATE}.shown")[0][1] >= step
    finish(page, errors)


def test_the_slider_shows_a_step_and_a_new_start_redraws_the_race(server, browser):
    url, _ = server
    page, errors = open_page(browser, url)
    plot = race_plot(page)
    slider = plot.get_by_role("slider", name="step")
    slider.fill("60")
    page.wait_for_timeout(800)
    steps = page.evaluate(f"{RACE_STATE}.steps")
    assert plot.locator(".race-step").inner_text() == f"step {steps[60]}"
    first = f"() => {RACE_STATE}.gd._fullData[1].x[0]"
    before = page.evaluate(first)
    x_input = page.get_by_label("x₀")
    x_input.fill("-1.5")
    x_input.press("Enter")
    page.wait_for_function(f"() => Math.abs(({first})() + 1.5) < 1e-6", timeout=60_000)
    assert before == pytest.approx(-1.2)
    # A new race opens on its last step, whatever step the slider showed before.
    assert plot.locator(".race-step").inner_text() == "step 500"
    payload = page.evaluate(f"JSON.stringify({RACE_STATE}.play_)")
    assert len(json.loads(payload)["runs"]) == 3
    assert np.isfinite(page.evaluate(first))
    finish(page, errors)


def test_hovering_the_surface_shows_its_value_and_a_hidden_run_stays_hidden(server, browser):
    url, _ = server
    page, errors = open_page(browser, url)
    plot = race_plot(page)
    box = plot.locator("image").first.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.7)
    hover = plot.locator(".hoverlayer .hovertext").filter(has_text="f =")
    hover.first.wait_for(timeout=20_000)  # the invisible heatmap gives x, y and f
    assert "x =" in hover.first.text_content()  # (an SVG element: no inner_text)
    plot.locator(".legend .traces").first.click()  # hide run 1
    page.wait_for_timeout(800)
    shown = f"() => {RACE_STATE}.gd._fullData[{RACE_STATE}.play_.paths[0]].visible"
    assert page.evaluate(shown) == "legendonly"
    plot.get_by_role("slider", name="step").fill("40")  # drawn on the canvas
    page.wait_for_timeout(500)
    # the canvas leaves the hidden run out: no pixel of its colour (#D55E00) on it
    orange = page.evaluate(
        """() => { const c = document.querySelector('.race-chart canvas.race-overlay');
          const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
          let n = 0;
          for (let i = 0; i < d.length; i += 4) {
            const orange = Math.abs(d[i] - 213) < 8 && Math.abs(d[i + 1] - 94) < 8;
            if (orange && d[i + 2] < 10 && d[i + 3] > 200) n++;
          }
          return n; }"""
    )
    assert orange == 0
    finish(page, errors)
