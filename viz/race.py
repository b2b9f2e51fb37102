"""The race figure: runs moving over the surface, beside their learning rate and loss.

One Plotly figure. Left: the surface as an image under the axes (see ``surface_image``), an
invisible heatmap that gives hover values, the minima, the start, and per run a path and a
marker. Right: learning rate (top), momentum (middle, only when a schedule cycles it) and
loss (bottom) against step, each with a step cursor. ``race_scene`` is that figure at the
final state; the app's race chart animates it in the page (``race_payload``), and
``race_figure`` adds Plotly frames for a standalone file (HTML export, the CLI): they animate
only paths, markers and cursors, with ``redraw: False``, and the last frame redraws (see
``animation_controls``).

Trace order: ``surface`` (an invisible heatmap of its values for hover, named
``SURFACE_TRACE``), one path per run, ``global minimum``, ``local minima``, ``start``, one
marker per run, one LR line per run, one loss line per run, [one momentum line per run,]
the LR cursor, the loss cursor[, the momentum cursor].
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from plotly.graph_objs import Frame

from landscapes.surfaces import Surface
from optim_core.trajectory import Trajectory

from . import palette
from .race_parts import (
    Run,
    animation_controls,
    curve_xy,
    layout,
    log_range,
    loss_curves,
    lr_axis,
    minima_traces,
    momentum_axis,
    path_stride,
    typed_array,
)
from .surface_image import surface_image

SURFACE_TRACE = "surface"
FRAME_MS = 30
# Most path points per run in one animation frame. A path is resent whole in every frame, so
# the payload grows with frames × points; 200 keeps 3 runs × 2000 steps near 1.3 MB in all.
PATH_POINTS = 200
# Buckets of the lr, loss and momentum curves of a long race (a min-max stroke each): the
# curves are ~300 px wide, so 600 strokes lose nothing to the eye and a 5,000-step race sends
# 1,200 points a curve instead of 5,000.
CURVE_BUCKETS = 600


def race_figure(
    surface: Surface,
    args: tuple = (),
    runs: Sequence[tuple[str, Trajectory]] = (),
    *,
    start: tuple[float, float] | None = None,
    max_frames: int = 200,
    height: int = 600,
    show_3d: bool = False,
    domain=None,
) -> go.Figure:
    """The animated race of ``runs`` (``(label, trajectory)`` pairs) on ``surface``.

    The figure opens on the final state, full-resolution paths included; Play replays the
    race in at most ``max_frames`` frames. ``show_3d`` returns the static 3D view instead.
    """
    if show_3d:
        from .surface3d import surface_3d_figure

        return surface_3d_figure(surface, args, runs, domain=domain)
    end = max((int(t.stop_step) for _, t in runs), default=0)
    scene = race_scene(
        surface, args, runs, start=start, height=height, domain=domain,
        stride=path_stride(end, PATH_POINTS),
    )  # fmt: skip
    frames = []
    if scene.runs:
        steps = play_steps(scene.end, max_frames)
        frames = [_frame(scene.runs, int(s), scene.animated, s == steps[-1]) for s in steps]
        scene.layout.update(animation_controls(steps, FRAME_MS))
    return _figure(scene.data, scene.layout, frames)


@dataclass(frozen=True)
class Scene:
    """The race's traces and layout at its final state, and what animates them.

    ``animated`` lists the trace indices that change per frame: paths, markers, cursors
    (see the module docstring for the trace order).
    """

    data: list[dict]
    layout: dict
    runs: list[Run]
    end: int
    animated: list[int]

    @property
    def paths(self) -> list[int]:
        return self.animated[: len(self.runs)]

    @property
    def markers(self) -> list[int]:
        return self.animated[len(self.runs) : 2 * len(self.runs)]

    @property
    def cursors(self) -> list[int]:
        return self.animated[2 * len(self.runs) :]


def race_scene(
    surface: Surface, args: tuple, runs, *, start, height: int, domain=None, stride: int = 1
) -> Scene:
    """Every trace of the race at its final state (full paths), and its layout without
    animation controls; ``stride`` is the path decimation of the frames built from it."""
    image = surface_image(surface, args, domain)
    end = max((int(t.stop_step) for _, t in runs), default=0)
    prepared = [Run.of(i, label, t, stride) for i, (label, t) in enumerate(runs)]
    trajs = [r.traj for r in prepared]
    losses, loss_axis = loss_curves(surface, trajs)
    loss_axis["range"] = _loss_range(losses, loss_axis)
    axes = {"y2": lr_axis(trajs), "y3": loss_axis, "y4": momentum_axis(trajs)}
    lr_lines, loss_lines = _curves(prepared, losses)
    momentum_lines = _momentum_curves(prepared) if axes["y4"] else []
    cursors = _cursors(end, axes)
    n = len(prepared)
    data = [
        _grid_trace(image),
        *(_path_trace(r) for r in prepared),
        *minima_traces(surface),
        _start_trace(_starts(start, prepared)),
        *(_marker_trace(r) for r in prepared),
        *lr_lines,
        *loss_lines,
        *momentum_lines,
        *cursors,
    ]
    animated = [*range(1, 1 + n), *range(n + 4, 2 * n + 4)] if n else []
    animated += range(len(data) - len(cursors), len(data)) if n else []
    return Scene(data, layout(image, height, axes), prepared, end, animated)


class _StoredFrame(Frame):
    """A frame kept as the plain dict it was built from (see ``_figure``)."""

    @property
    def data(self):
        # plotly.py cannot rebuild the traces of an unvalidated frame on access (it looks for
        # a ``data_class`` its data validator lacks), so reading them validates a copy.
        return Frame(self.to_plotly_json()).data


def _figure(data: list[dict], fig_layout: dict, frames: list[dict]) -> go.Figure:
    """The figure without plotly.py's validation, which here costs 0.2-0.4 s per rerun.

    ``go.Figure`` validates every trace of every frame (~1,600 for 3 runs) even when told
    ``_validate=False``, so the frames are attached directly. The dicts above use known keys
    only; the tests validate whole figures once.
    """
    fig = go.Figure({"data": data, "layout": fig_layout}, _validate=False)
    fig._frame_objs = tuple(_StoredFrame(f, _validate=False) for f in frames)
    fig._validate = True  # later edits by the app are checked as usual
    return fig


def _starts(start, runs: list[Run]) -> np.ndarray:
    if start is not None:
        return np.asarray([start], dtype=np.float64)
    firsts = [tuple(r.traj.positions[0]) for r in runs if r.last >= 0]
    return np.asarray(list(dict.fromkeys(firsts)), dtype=np.float64).reshape(-1, 2)


def play_steps(end: int, max_frames: int) -> np.ndarray:
    """At most ``max_frames`` steps from 0 to ``end``, evenly spread, both ends included."""
    count = max(2, min(int(max_frames), end + 1))
    return np.unique(np.round(np.linspace(0, end, count)).astype(np.int64))


def _frame(runs: list[Run], step: int, traces: list[int], final: bool) -> dict:
    """Only what changes: frames merge into the traces, keeping their names and styles."""
    paths = [_path_xy(r, step, full=final) for r in runs]
    markers = [_marker_state(r, step) for r in runs]
    cursors = [{"x": [step, step]}] * (len(traces) - 2 * len(runs))
    return {"name": str(step), "data": [*paths, *markers, *cursors], "traces": traces}


def _path_xy(r: Run, step: int, *, full: bool) -> dict:
    """The path up to ``step``: every point if ``full``, else every ``r.stride``-th point and
    the current one (so the line always reaches the marker). Never a NaN: a diverged run's
    path ends at its last finite point."""
    last = r.index(step)
    if full or last < 0:
        xy = r.xy[: last + 1]
    else:
        idx = np.arange(0, last + 1, r.stride)
        xy = r.xy[idx if idx[-1] == last else np.append(idx, last)]
    return {"x": typed_array(xy[:, 0]), "y": typed_array(xy[:, 1])}


def _marker_state(r: Run, step: int) -> dict:
    """Where the run is at ``step``: its last finite point, as an ✕ once it has diverged."""
    i = r.index(step)
    blown = r.traj.diverged and step >= r.traj.stop_step
    x, y = ([float(f"{v:.6g}")] for v in r.traj.positions[i]) if i >= 0 else ([], [])
    symbol = palette.DIVERGED_SYMBOL if blown else r.symbol
    marker = {"symbol": symbol, "size": 15 if blown else 12}
    return {"x": x, "y": y, "text": [f"step {max(i, 0)}"], "marker": marker}


def _path_trace(r: Run) -> dict:
    return {"type": "scatter", "mode": "lines", "name": r.legend_name, "legendgroup": r.group,
            "line": {"color": r.colour, "width": 2}, "hoverinfo": "skip",
            **_path_xy(r, r.end, full=True)}  # fmt: skip


def _marker_trace(r: Run) -> dict:
    state = _marker_state(r, r.end)
    state["marker"] |= {"color": r.colour, "line": {"color": "#000000", "width": 1}}
    hover = f"{r.label}<br>%{{text}}<br>x = %{{x:.4g}}<br>y = %{{y:.4g}}<extra></extra>"
    return {"type": "scatter", "mode": "markers", "name": r.label, "legendgroup": r.group,
            "showlegend": False, "hovertemplate": hover, **state}  # fmt: skip


def _grid_trace(image) -> dict:
    """The surface's values for hover: an invisible heatmap over the image.

    One image element rather than 1,600 invisible markers, which cost plotly.js ~70 ms of each
    redraw here; clicks come from the mouse position (the race chart), not from a point.
    """
    return {
        "type": "heatmap",
        "name": SURFACE_TRACE,
        "x": typed_array(image.grid_x),
        "y": typed_array(image.grid_y),
        "z": typed_array(image.grid_z),
        "opacity": 0,
        "showscale": False,
        "showlegend": False,
        "hoverongaps": False,
        "hovertemplate": "x = %{x:.3g}<br>y = %{y:.3g}<br>f = %{z:.4g}<extra></extra>",
    }


def _start_trace(starts: np.ndarray) -> dict:
    return {
        "type": "scatter",
        "name": "start",
        "x": starts[:, 0].tolist(),
        "y": starts[:, 1].tolist(),
        "mode": "markers",
        "marker": {
            "symbol": "circle-dot",
            "size": 13,
            "color": palette.START_COLOUR,
            "line": {"color": "#000000", "width": 1.5},
        },
        "hovertemplate": "start (%{x:.4g}, %{y:.4g})<extra></extra>",
        "showlegend": bool(len(starts)),
    }


def _curves(runs: list[Run], losses: list[np.ndarray]) -> tuple[list[dict], list[dict]]:
    lr, loss = [], []
    for r, values in zip(runs, losses, strict=True):
        common = {"type": "scatter", "mode": "lines", "showlegend": False, "name": r.label,
                  "legendgroup": r.group, "line": {"color": r.colour, "width": 1.5}}  # fmt: skip
        lr.append(common | curve_xy(r.traj.lr, CURVE_BUCKETS) | {"xaxis": "x2", "yaxis": "y2"})
        loss.append(common | curve_xy(values, CURVE_BUCKETS) | {"xaxis": "x3", "yaxis": "y3"})
    return lr, loss


def _momentum_curves(runs: list[Run]) -> list[dict]:
    return [
        {"type": "scatter", "mode": "lines", "showlegend": False, "legendgroup": r.group,
         "line": {"color": r.colour, "width": 1.5}, "name": r.label, "xaxis": "x4",
         "yaxis": "y4", **curve_xy(r.traj.momentum, CURVE_BUCKETS)}
        for r in runs
    ]  # fmt: skip


def _loss_range(losses: list[np.ndarray], loss_axis: dict) -> list[float]:
    """Fixed y range of the loss plot: a ``redraw: False`` animation never re-autoranges,
    and the cursors span exactly this."""
    values = np.concatenate(losses) if losses else np.zeros(0)
    values = values[np.isfinite(values)].astype(np.float64)
    if loss_axis["type"] == "log":
        return log_range(values)
    lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
    pad = 0.05 * (hi - lo) if hi > lo else 0.5
    return [lo - pad, hi + pad]


def _cursors(step: int, axes: dict) -> list[dict]:
    """Vertical step cursors spanning each plot's fixed range (in data units on log axes)."""
    cursors = []
    for yaxis, axis in axes.items():
        if not axis:
            continue
        lo, hi = axis["range"]
        if axis["type"] == "log":
            lo, hi = 10.0**lo, 10.0**hi
        cursors.append(
            {"type": "scatter", "name": "step", "x": [step, step], "y": [lo, hi],
             "xaxis": f"x{yaxis[1:]}", "yaxis": yaxis, "mode": "lines",
             "line": {"color": "#555555", "width": 1, "dash": "dot"}, "showlegend": False,
             "hoverinfo": "skip"}
        )  # fmt: skip
    return cursors
