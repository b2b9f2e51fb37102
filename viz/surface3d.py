"""A static 3D view: the surface with each run's path lying on it. No animation."""

import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from landscapes.surfaces import Surface
from optim_core.trajectory import Trajectory

from . import palette
from .surface_image import CMAP, Domain, colour_values, evaluate

PATH_POINTS_3D = 2000  # WebGL lines stay smooth to rotate up to a few thousand points
_LIFT = 0.01  # paths float this share of the z range above the surface, so it cannot hide them


def surface_3d_figure(
    surface: Surface,
    args: tuple = (),
    runs: Sequence[tuple[str, Trajectory]] = (),
    *,
    domain: Domain | None = None,
    resolution: int = 80,
    height: int = 600,
) -> go.Figure:
    """The surface in 3D, coloured like the race figure's image, with every path and minimum.

    Heights are f itself; colours follow the same log scale as the 2D image so valleys show.
    Paths are drawn at z = loss, lifted slightly, and end at the edge of the domain.
    """
    (x0, x1), (y0, y1) = surface.domain if domain is None else domain
    xs, ys = np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution)
    z = evaluate(surface, args, xs, ys)
    finite = z[np.isfinite(z)]
    z_lo, z_hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    lift = _LIFT * (z_hi - z_lo or 1.0)
    colour = colour_values(z, unbounded_below=surface.f_min == -math.inf)
    traces = [
        go.Surface(
            x=xs, y=ys, z=z, surfacecolor=colour, colorscale=CMAP.capitalize(),
            showscale=False, opacity=0.95, name="surface",
            hovertemplate="x = %{x:.3g}<br>y = %{y:.3g}<br>f = %{z:.4g}<extra></extra>",
        )
    ]  # fmt: skip
    bounds = ((x0, x1), (y0, y1))
    for i, (label, traj) in enumerate(runs):
        traces += _run_traces(i, label, traj, bounds, lift)
    traces += _minima_traces(surface, args, lift)
    traces += _start_traces(runs, lift)
    fig = go.Figure(traces)
    ratio = (y1 - y0) / (x1 - x0)
    fig.update_layout(
        height=height,
        margin={"l": 0, "r": 0, "t": 30, "b": 0},
        # Below the scene: above it, the legend would run under the toolbar.
        legend={"orientation": "h", "x": 0, "y": 0, "yanchor": "top"},
        scene={
            "xaxis": {"title": "x", "range": [x0, x1]},
            "yaxis": {"title": "y", "range": [y0, y1]},
            "zaxis": {"title": "f", "range": [z_lo, z_hi + 2 * lift]},
            "aspectmode": "manual",
            "aspectratio": {"x": 1.0, "y": ratio, "z": 0.6},
            "camera": {"eye": {"x": -1.4, "y": -1.6, "z": 1.1}},
        },
    )
    return fig


def _run_traces(
    i: int, label: str, traj: Trajectory, bounds: Domain, lift: float
) -> list[go.Scatter3d]:
    last = traj.last_finite
    if last < 0:
        return []
    stride = max(1, math.ceil((last + 1) / PATH_POINTS_3D))
    idx = np.unique(np.append(np.arange(0, last + 1, stride), last))
    x, y = traj.positions[idx, 0].copy(), traj.positions[idx, 1].copy()
    z = traj.loss[idx] + lift
    (x0, x1), (y0, y1) = bounds
    outside = (x < x0) | (x > x1) | (y < y0) | (y > y1)
    # Beyond the domain there is no surface to lie on: the line stops at its edge.
    for a in (x, y, z):
        a[outside] = np.nan
    colour, end = palette.colour(i), int(idx[-1])
    symbol = palette.DIVERGED_SYMBOL if traj.diverged else "circle"
    path = go.Scatter3d(
        x=x, y=y, z=z, mode="lines", name=f"{label} · {traj.message}", legendgroup=f"run{i}",
        line={"color": colour, "width": 5}, hoverinfo="skip",
    )  # fmt: skip
    if outside[-1]:
        return [path]
    marker = go.Scatter3d(
        x=[traj.positions[end, 0]], y=[traj.positions[end, 1]], z=[traj.loss[end] + lift],
        mode="markers", name=label, legendgroup=f"run{i}", showlegend=False,
        marker={"color": colour, "size": 6, "symbol": symbol, "line": {"color": "#000000"}},
        hovertemplate=f"{label}<br>step {end}<br>f = %{{z:.4g}}<extra></extra>",
    )  # fmt: skip
    return [path, marker]


def _minima_traces(surface: Surface, args: tuple, lift: float) -> list[go.Scatter3d]:
    traces = []
    for name, points, colour in (
        ("global minimum", surface.minima, palette.MINIMUM_COLOUR),
        ("local minima", surface.local_minima, "#000000"),
    ):
        if not points:
            continue
        xy = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        f = np.asarray(surface.f(xy[:, 0], xy[:, 1], np.asarray(args, dtype=np.float64)))
        traces.append(
            go.Scatter3d(
                x=xy[:, 0], y=xy[:, 1], z=np.broadcast_to(f, xy[:, 0].shape) + lift,
                mode="markers", name=name,
                marker={"symbol": "diamond", "size": 6, "color": colour,
                        "line": {"color": "#000000", "width": 1}},
                hovertemplate=f"{name}<br>f = %{{z:.4g}}<extra></extra>",
            )
        )  # fmt: skip
    return traces


def _start_traces(runs, lift: float) -> list[go.Scatter3d]:
    """Where the runs start (one marker per distinct start), styled like the race's start."""
    starts = {}
    for _, traj in runs:
        if np.isfinite(traj.positions[0]).all() and np.isfinite(traj.loss[0]):
            starts.setdefault(tuple(traj.positions[0]), float(traj.loss[0]))
    if not starts:
        return []
    xy = np.asarray(list(starts), dtype=np.float64)
    return [
        go.Scatter3d(
            x=xy[:, 0], y=xy[:, 1], z=np.asarray(list(starts.values())) + lift,
            mode="markers", name="start",
            marker={"symbol": "circle", "size": 7, "color": palette.START_COLOUR,
                    "line": {"color": "#000000", "width": 2}},
            hovertemplate="start (%{x:.4g}, %{y:.4g})<extra></extra>",
        )
    ]  # fmt: skip
