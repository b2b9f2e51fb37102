"""The figure layer: surface image, race figure (frames, payload, clicks), 3D view, preview.

Trajectories come from a small heavy-ball descent written here with the engine's conventions
(NaN from the step that leaves the bounds on, held still after convergence), so these tests
need no kernel compilation and control each run's fate exactly.
"""

import base64
import io
import math
import re

import numpy as np
import plotly.graph_objects as go
import pytest
from PIL import Image

from landscapes import get_surface, surface_args
from landscapes.surfaces import Surface
from optim_core.trajectory import CONVERGED, DIVERGED, MAX_STEPS, Trajectory
from viz import (
    SURFACE_TRACE,
    race_figure,
    schedule_preview,
    surface_3d_figure,
    surface_image,
)
from viz.schedule_preview import MAX_POINTS
from viz.surface_image import GRID_POINTS


def descend(surface, args, start, lr, steps, beta=0.0, tol=1e-6) -> Trajectory:
    a = np.asarray(args, dtype=np.float64)
    pos, loss = np.full((steps + 1, 2), np.nan), np.full(steps + 1, np.nan)
    lrs = np.full(steps, float(lr))
    (x0, x1), (y0, y1) = surface.domain
    bound, cx, cy = 3 * max(x1 - x0, y1 - y0), (x0 + x1) / 2, (y0 + y1) / 2
    (x, y), (vx, vy) = start, (0.0, 0.0)
    status, stop = MAX_STEPS, steps
    if abs(x - cx) > bound or abs(y - cy) > bound:  # the engine checks the start too
        return Trajectory(pos, loss, lrs * np.nan, lrs * np.nan, np.full((steps, 2), np.nan),
                          DIVERGED, 0)  # fmt: skip
    pos[0], loss[0] = (x, y), surface.f(x, y, a)
    with np.errstate(all="ignore"):
        for t in range(steps):
            gx, gy = surface.grad(x, y, a)
            vx, vy = beta * vx + gx, beta * vy + gy
            nx, ny = x - lr * vx, y - lr * vy
            value = surface.f(nx, ny, a)
            pos[t + 1], loss[t + 1] = (nx, ny), value
            if not (abs(nx - cx) <= bound and abs(ny - cy) <= bound and abs(value) < np.inf):
                pos[t + 1 :], loss[t + 1 :], lrs[t + 1 :] = np.nan, np.nan, np.nan
                status, stop = DIVERGED, t + 1
                break
            moved, (x, y) = max(abs(nx - x), abs(ny - y)), (nx, ny)
            if max(abs(gx), abs(gy)) <= tol and moved <= tol:
                pos[t + 2 :], loss[t + 2 :], lrs[t + 1 :] = pos[t + 1], loss[t + 1], np.nan
                status, stop = CONVERGED, t + 1
                break
    momentum = np.where(np.isnan(lrs), np.nan, beta)
    return Trajectory(pos, loss, lrs, momentum, np.full((steps, 2), np.nan), status, stop)


# surface, parameters, runs as (label, start, lr, beta), and the fate each run must meet.
CASES = {
    "rosenbrock": ({}, [("GD", (-1.2, 1.0), 1e-3, 0.0), ("Momentum", (-1.2, 1.0), 2e-3, 0.95),
                        ("GD big lr", (-1.2, 1.0), 8e-3, 0.0)], (MAX_STEPS, CONVERGED, DIVERGED)),
    "bowl": ({"kappa": 1e4}, [("GD", (-1.8, 1.0), 1.9e-4, 0.0), ("GD", (-1.8, 1.0), 2.1e-4, 0.0)],
             (MAX_STEPS, DIVERGED)),
    "rastrigin": ({}, [("GD", (3.3, -2.2), 1e-3, 0.0), ("HB", (3.3, -2.2), 0.02, 0.9)],
                  (CONVERGED, DIVERGED)),
    "saddle": ({}, [("GD", (-1.8, 0.01), 0.01, 0.0), ("HB", (-1.8, 0.01), 0.01, 0.9)],
               (DIVERGED, DIVERGED)),
    "goldstein_price": ({}, [("HB", (1.5, 1.5), 1e-5, 0.9), ("GD", (1.5, 1.5), 1e-2, 0.0)],
                        (CONVERGED, DIVERGED)),
    "six_hump_camel": ({}, [("GD", (-1.5, -0.8), 0.01, 0.0)], (CONVERGED,)),
}  # fmt: skip
STEPS = 2000


def _case(name):
    params, specs, fates = CASES[name]
    surface = get_surface(name)
    args = surface_args(surface, **params)
    runs = [(label, descend(surface, args, st, lr, STEPS, beta)) for label, st, lr, beta in specs]
    assert tuple(t.status for _, t in runs) == fates, "the table's runs no longer meet their fate"
    return surface, args, runs


@pytest.fixture(scope="module", params=list(CASES))
def case(request):
    return _case(request.param)


@pytest.fixture(scope="module")
def race(case):
    surface, args, runs = case
    fig = race_figure(surface, args, runs)
    return fig, fig.to_plotly_json(), [f.to_plotly_json() for f in fig.frames], case


def arr(value) -> np.ndarray:
    """A trace array as numbers, whether a list or Plotly's base64 typed-array form."""
    if isinstance(value, dict):
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
    return np.asarray(value, dtype=np.float64)


def _indices(n_runs: int, n_traces: int):
    paths = list(range(1, 1 + n_runs))
    markers = list(range(n_runs + 4, 2 * n_runs + 4))
    return paths, markers, [n_traces - 2, n_traces - 1]


# --- surface image ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["rosenbrock", "bowl", "six_hump_camel", "saddle"])
@pytest.mark.parametrize("resolution", [120, 400])
def test_image_is_a_png_of_the_requested_resolution(name, resolution):
    surface = get_surface(name)
    image = surface_image(surface, surface_args(surface), resolution=resolution)
    header, payload = image.png_data_uri.split(",", 1)
    assert header == "data:image/png;base64"
    png = Image.open(io.BytesIO(base64.b64decode(payload)))
    (x0, x1), (y0, y1) = surface.domain
    assert png.format == "PNG" and max(png.size) == resolution
    assert png.size[1] / png.size[0] == pytest.approx((y1 - y0) / (x1 - x0), abs=2 / resolution)
    assert (image.x_range, image.y_range) == ((x0, x1), (y0, y1))
    assert image.grid_z.shape == (GRID_POINTS, GRID_POINTS)
    assert math.isfinite(image.z_min) and image.z_min < image.z_max
    assert surface_image(surface, surface_args(surface), resolution=resolution) is image


def test_image_survives_non_finite_values():
    def holey(x, y, a):
        return np.where(x > 0.5, np.nan, np.where(y > 0.5, np.inf, x**2 + y**2))

    surface = Surface(
        name="holey", title="Holey", f=holey, grad=None, domain=((-1.0, 1.0), (-1.0, 1.0)),
        minima=(), f_min=0.0, starts=(), lesson="",
    )  # fmt: skip
    image = surface_image(surface, (), resolution=64)
    assert image.png_data_uri.startswith("data:image/png;base64,")
    assert np.isnan(image.grid_z).any() and math.isfinite(image.z_max)


# --- race figure -----------------------------------------------------------------------------


def test_hover_grid_is_an_invisible_heatmap_over_the_domain(race):
    _, spec, _, (surface, args, _) = race
    grid = spec["data"][0]
    assert grid["name"] == SURFACE_TRACE and grid["type"] == "heatmap"
    assert grid["opacity"] == 0
    (x0, x1), (y0, y1) = surface.domain
    x, y = arr(grid["x"]), arr(grid["y"])
    assert grid["z"]["shape"] == f"{GRID_POINTS}, {GRID_POINTS}"  # one 2-D array for plotly.js
    z = arr(grid["z"]).reshape(GRID_POINTS, GRID_POINTS)
    assert len(x) == len(y) == GRID_POINTS and z.shape == (GRID_POINTS, GRID_POINTS)
    assert (x.min(), x.max(), y.min(), y.max()) == pytest.approx((x0, x1, y0, y1), rel=1e-6)
    value = surface.f(float(x[3]), float(y[5]), np.asarray(args, dtype=np.float64))
    assert z[5, 3] == pytest.approx(value, rel=1e-5) or not np.isfinite(value)


def test_surface_image_lies_below_the_axes_at_the_domain(race):
    _, spec, _, (surface, _, _) = race
    (image,) = spec["layout"]["images"]
    (x0, x1), (y0, y1) = surface.domain
    assert image["layer"] == "below" and image["sizing"] == "stretch"
    assert (image["x"], image["y"], image["sizex"], image["sizey"]) == (x0, y1, x1 - x0, y1 - y0)
    assert spec["layout"]["xaxis"]["range"] == [x0, x1]
    assert spec["layout"]["yaxis"]["range"] == [y0, y1]
    assert spec["layout"]["yaxis"]["scaleanchor"] == "x"


def test_frames_are_few_end_on_the_last_step_and_touch_only_animated_traces(race):
    _, spec, frames, (_, _, runs) = race
    n, total = len(runs), len(spec["data"])
    paths, markers, cursors = _indices(n, total)
    steps = [int(f["name"]) for f in frames]
    assert 2 <= len(frames) <= 200 and steps == sorted(set(steps)) and steps[0] == 0
    assert steps[-1] == max(t.stop_step for _, t in runs)
    for f in frames:
        assert f["traces"] == paths + markers + cursors
        assert len(f["data"]) == len(f["traces"]) and "layout" not in f
    names = [t.get("name") for t in spec["data"]]
    assert names[0] == SURFACE_TRACE and names[n + 1 : n + 4] == [
        "global minimum",
        "local minima",
        "start",
    ]
    assert [names[i] for i in cursors] == ["step", "step"]


def test_frame_paths_and_markers_are_finite_and_consistent(race):
    _, _, frames, (_, _, runs) = race
    n = len(runs)
    for f in frames:
        step = int(f["name"])
        for (_, traj), path, marker in zip(runs, f["data"][:n], f["data"][n : 2 * n], strict=True):
            x, y = arr(path["x"]), arr(path["y"])
            assert len(x) == len(y) >= 1 and np.isfinite(x).all() and np.isfinite(y).all()
            i = min(step, traj.stop_step - traj.diverged)  # held still after converging
            assert len(marker["x"]) == len(marker["y"]) == 1
            assert (marker["x"][0], marker["y"][0]) == pytest.approx(traj.positions[i], rel=1e-5)
            assert (x[-1], y[-1]) == pytest.approx(traj.positions[i], rel=1e-5, abs=1e-6)
            blown = traj.diverged and step >= traj.stop_step
            assert (marker["marker"]["symbol"] == "x") == blown
        assert [d["x"] for d in f["data"][2 * n :]] == [[step, step]] * 2


def test_last_frame_and_figure_show_the_full_resolution_paths(race):
    _, spec, frames, (_, _, runs) = race
    for k, (_, traj) in enumerate(runs, start=1):
        full = traj.positions[: min(traj.stop_step, traj.last_finite) + 1, 0]
        assert arr(spec["data"][k]["x"]) == pytest.approx(full, rel=1e-6, abs=1e-6)
        assert arr(frames[-1]["data"][k - 1]["x"]) == pytest.approx(full, rel=1e-6, abs=1e-6)


def test_legend_names_carry_the_status(race):
    _, spec, _, (_, _, runs) = race
    for k, (label, traj) in enumerate(runs, start=1):
        assert spec["data"][k]["name"] == f"{label} · {traj.message}"
        assert spec["data"][k].get("showlegend", True)


def test_loss_axis_is_honest(race):
    _, spec, _, (surface, _, runs) = race
    axis = spec["layout"]["yaxis3"]
    title = spec["layout"]["annotations"][1]["text"]
    loss = [arr(t["y"]) for t in spec["data"] if t.get("yaxis") == "y3" and t["name"] != "step"]
    assert len(loss) == len(runs)
    if surface.f_min == -math.inf:
        assert axis["type"] == "linear" and title == "loss"
    else:
        values = np.concatenate(loss)
        assert axis["type"] == "log" and np.all(values[~np.isnan(values)] > 0)
        assert ("min f" in title) == (surface.f_min != 0)


def test_controls_end_every_animation_on_a_redrawn_frame(race):
    # A click after a redraw: False animation only selects if the last frame redrew.
    _, spec, frames, _ = race
    play, end = spec["layout"]["updatemenus"][0]["buttons"]
    options = play["args"][1]["frame"]
    assert len(options) == len(frames) and not play["args"][1].get("fromcurrent")
    assert [o["redraw"] for o in options] == [False] * (len(frames) - 1) + [True]
    assert end["args"][0] == [frames[-1]["name"]] and end["args"][1]["frame"]["redraw"]
    slider = spec["layout"]["sliders"][0]
    assert [s["args"][0][0] for s in slider["steps"]] == [f["name"] for f in frames]
    assert all(s["args"][1]["frame"]["redraw"] for s in slider["steps"])


def test_figure_passes_plotly_validation(race):
    fig, spec, frames, _ = race
    go.Figure({**spec, "frames": frames})  # raises on any unknown key or bad value
    assert fig.frames[-1].data[0].type == "scatter"


def test_payload_of_three_runs_of_2000_steps_stays_under_2_mb():
    surface, args, runs = _case("rosenbrock")
    steps = [t.steps for _, t in runs]
    assert steps == [STEPS] * 3
    fig = race_figure(surface, args, runs)
    assert len(fig.to_json()) < 2_000_000


def test_max_frames_and_runs_that_never_start():
    surface, args, runs = _case("rosenbrock")
    fig = race_figure(surface, args, runs, max_frames=25)
    assert len(fig.frames) <= 25 and fig.frames[-1].name == str(STEPS)
    start = (100.0, 100.0)  # far outside the bounds: diverged at step 0, nothing finite
    dead = descend(surface, args, start, 1e-3, 50)
    assert dead.diverged and dead.stop_step == 0
    fig = race_figure(surface, args, [("dead", dead)], start=start)
    assert fig.to_plotly_json()["data"][5]["x"] == []


def test_no_runs_gives_the_bare_surface():
    surface = get_surface("himmelblau")
    fig = race_figure(surface, (), [])
    assert not fig.frames and fig.data[0].name == SURFACE_TRACE
    assert "updatemenus" not in fig.to_plotly_json()["layout"]


# --- 3D view and schedule preview ------------------------------------------------------------


def test_3d_figure_draws_surface_paths_and_minima(case):
    surface, args, runs = case
    fig = surface_3d_figure(surface, args, runs)
    assert fig.data[0].type == "surface"
    paths = [t for t in fig.data if t.type == "scatter3d" and t.mode == "lines"]
    assert len(paths) == len(runs)
    (x0, x1), (y0, y1) = surface.domain
    for p in paths:
        x, y = np.asarray(p.x, dtype=float), np.asarray(p.y, dtype=float)
        inside = ~np.isnan(x)
        assert np.all((x[inside] >= x0) & (x[inside] <= x1) & (y[inside] >= y0) & (y[inside] <= y1))
    assert any(t.name == "global minimum" for t in fig.data) == bool(surface.minima)
    assert race_figure(surface, args, runs, show_3d=True).data[0].type == "surface"


def test_schedule_preview_with_and_without_momentum():
    lr = 0.1 * (1 + np.cos(np.linspace(0, np.pi, 500))) / 2
    alone = schedule_preview(lr)
    assert len(alone.data) == 1 and alone.layout.height == 140
    both = schedule_preview(lr, np.full(500, 0.9), height=120)
    assert [t.yaxis or "y" for t in both.data] == ["y", "y2"]
    assert both.layout.yaxis2.overlaying == "y"
    assert len(schedule_preview(lr, np.full(500, np.nan)).data) == 1


def test_long_schedule_preview_keeps_its_swing():
    steps = np.arange(100_000)
    cyclic = 0.01 + 0.09 * np.abs((steps / 20) % 2 - 1)  # 2,500 triangles
    (trace,) = schedule_preview(cyclic).data
    y = np.asarray(trace.y)
    assert len(y) <= 2 * MAX_POINTS
    assert y.min() == pytest.approx(0.01) and y.max() == pytest.approx(0.1)


# --- issue 12: what a new user hit ------------------------------------------------------------


def _sensitivity_map(nx=8, ny=6):
    from optim_core.maps import SensitivityMap

    xs, ys = np.logspace(-4, -1.5, nx), np.linspace(0.0, 0.99, ny)
    loss = np.outer(ys + 1, xs)
    loss[0, -1] = np.nan  # one diverged cell
    shape = loss.shape
    return SensitivityMap("lr", "momentum", xs, ys, loss, np.zeros(shape), np.zeros(shape), ())


def test_sensitivity_cells_are_clickable_through_an_invisible_marker_grid():
    from viz.maps import sensitivity_figure

    sm = _sensitivity_map()
    spec = sensitivity_figure(sm).to_plotly_json()
    grids = [t for t in spec["data"] if t["type"] == "scatter" and t.get("customdata") is not None]
    assert len(grids) == 1, "one clickable grid over the heatmap"
    grid = grids[0]
    assert grid["marker"]["opacity"] == 0 and grid["marker"]["size"] >= 8
    cells = arr(grid["customdata"]).astype(int)
    assert sorted(cells.tolist()) == list(range(sm.xs.size * sm.ys.size))
    x, y = arr(grid["x"]), arr(grid["y"])
    np.testing.assert_allclose(x, sm.xs[cells % sm.xs.size], rtol=1e-6)
    np.testing.assert_allclose(y, sm.ys[cells // sm.xs.size], rtol=1e-6, atol=1e-7)
    assert spec["layout"]["hoverdistance"] == -1
    assert spec["layout"]["clickmode"].startswith("event")


def test_sensitivity_log_axis_labels_use_one_format():
    from viz.maps import sensitivity_figure

    spec = sensitivity_figure(_sensitivity_map(), log_x=True).to_plotly_json()["layout"]["xaxis"]
    assert spec["type"] == "log"
    labels = spec["ticktext"]
    assert len(labels) >= 2 and all(re.fullmatch(r"1e-?\d+", s) for s in labels), labels
    np.testing.assert_allclose(spec["tickvals"], [float(s) for s in labels])


def _lr_runs(*lrs, momentum=None):
    surface = get_surface("rosenbrock")
    runs = [(f"lr {lr}", descend(surface, (), (-1.2, 1.0), lr, 300)) for lr in lrs]
    if momentum is not None:
        label, t = runs[0]
        runs[0] = (label, Trajectory(t.positions, t.loss, t.lr, momentum, t.effective_lr,
                                     t.status, t.stop_step))  # fmt: skip
    return surface, runs


def test_lr_axis_is_log_when_the_racers_lrs_span_more_than_a_decade():
    surface, runs = _lr_runs(1e-3, 2e-3)
    axis = race_figure(surface, (), runs).to_plotly_json()["layout"]["yaxis2"]
    assert axis.get("type", "linear") == "linear"
    surface, runs = _lr_runs(1e-3, 5e-2)
    fig = race_figure(surface, (), runs)
    spec = fig.to_plotly_json()
    axis = spec["layout"]["yaxis2"]
    assert axis["type"] == "log"
    lo, hi = axis["range"]  # log10 units: both lrs well inside, not on a zero line
    assert lo < math.log10(1e-3) and hi > math.log10(5e-2) and hi - lo < 3
    cursor = [t for t in spec["data"] if t.get("yaxis") == "y2" and t["name"] == "step"]
    assert cursor and min(cursor[0]["y"]) > 0


def test_momentum_is_plotted_against_step_when_a_schedule_cycles_it():
    surface, runs = _lr_runs(1e-3, 2e-3)
    plain = race_figure(surface, (), runs).to_plotly_json()
    assert not [t for t in plain["data"] if t["name"].startswith("momentum")]
    steps = runs[0][1].lr.size
    cycled = 0.85 + 0.1 * np.abs(np.linspace(-1, 1, steps))
    surface, runs = _lr_runs(1e-3, 2e-3, momentum=cycled)
    fig = race_figure(surface, (), runs)
    spec = fig.to_plotly_json()
    axes = {t.get("yaxis") for t in spec["data"]}
    lines = [t for t in spec["data"] if t.get("yaxis") == "y4" and t["name"] != "step"]
    assert "y4" in axes and len(lines) == len(runs)
    np.testing.assert_allclose(arr(lines[0]["y"]), cycled, rtol=1e-6)
    assert any("momentum" in a["text"] for a in spec["layout"]["annotations"])
    # the panel gets a step cursor that the animation moves like the others
    cursors = [i for i, t in enumerate(spec["data"]) if t["name"] == "step"]
    assert len(cursors) == 3 and set(cursors) <= set(fig.frames[0].to_plotly_json()["traces"])
    go.Figure({**spec, "frames": [f.to_plotly_json() for f in fig.frames]})


def test_3d_figure_marks_the_start():
    surface, args, runs = _case("rosenbrock")
    fig = surface_3d_figure(surface, args, runs)
    (start,) = [t for t in fig.data if t.name == "start"]
    assert (start.x[0], start.y[0]) == pytest.approx(runs[0][1].positions[0])
    assert start.mode == "markers"
