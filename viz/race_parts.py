"""Pieces of the race figure that do not change per frame: runs, loss scale, layout, controls."""

import base64
import math
from dataclasses import dataclass

import numpy as np

from landscapes.surfaces import Surface
from optim_core.trajectory import Trajectory

from . import palette
from .surface_image import SurfaceImage

LEFT_WIDTH = 0.58  # share of the width for the surface; the curves get the rest after a gap
# Plots end below this share of the height: the legend lies above them inside the plot area,
# where it wraps within the plot's width and so never runs under the toolbar in the margin.
PLOTS_TOP = 0.88
# A click on a chart drawn by st.plotly_chart selects a point, and plotly.js then fades the
# points of every other trace; markers that must stay as they are keep their opacity.
KEEP_OPAQUE = {"marker": {"opacity": 1}}
LOG_LR_SPAN = 10.0  # peak lrs further apart than this get a log lr axis
# A loss within this relative distance of the minimum is rounding noise: a log axis reaching
# down to an exact 0 (or 1e-300) would squeeze every other value into its top few pixels.
LOSS_FLOOR = 1e-16


@dataclass(frozen=True, eq=False)
class Run:
    """One racer, with what every frame needs precomputed."""

    label: str
    traj: Trajectory
    colour: str
    symbol: str
    group: str
    xy: np.ndarray  # float32 positions: half the payload of float64, ample for a plot
    last: int  # index of the last finite position (-1 if even the start was bad)
    end: int  # the step where its race ends: stop_step, or all steps
    stride: int  # path decimation in animation frames

    @classmethod
    def of(cls, i: int, label: str, traj: Trajectory, stride: int) -> "Run":
        end = int(traj.stop_step)
        last = int(traj.last_finite)
        # A run that diverged at once has no finite point at all, not even its start.
        while last >= 0 and not np.isfinite(traj.positions[last]).all():
            last -= 1
        xy = traj.positions.astype(np.float32)
        return cls(label, traj, palette.colour(i), palette.symbol(i), f"run{i}", xy, last, end,
                   stride)  # fmt: skip

    def index(self, step: int) -> int:
        """Where the run is at ``step``: held at its stop after converging, at its last finite
        point after diverging (-1 if it has none)."""
        return min(step, self.end, self.last)

    @property
    def legend_name(self) -> str:
        return f"{self.label} · {self.traj.message}"


def path_stride(end: int, path_points: int) -> int:
    """Decimation of paths in animation frames: at most ``path_points`` points per path.

    One stride for all runs (from the longest race) keeps their paths equally detailed. An
    odd stride alternates sides of a step-to-step zig-zag, so a frame still shows the
    zig-zag instead of a smooth line along one of its sides.
    """
    stride = max(1, math.ceil(end / path_points))
    return stride + (stride > 1 and stride % 2 == 0)


def loss_curves(surface: Surface, trajs: list[Trajectory]) -> tuple[list[np.ndarray], dict]:
    """What the loss plot shows, and its y axis.

    With a known finite minimum: ``loss - f*`` on a log axis, floored at ``LOSS_FLOOR``
    (relative to ``|f*|``, at least 1). Unbounded below (a saddle): the raw loss on a linear
    axis, since it goes negative without end. Unknown minimum: the raw loss, log if positive.
    """
    f_min = surface.f_min
    if math.isfinite(f_min):
        floor = LOSS_FLOOR * max(1.0, abs(f_min))
        curves = [np.maximum(t.loss - f_min, floor) for t in trajs]
        title = "loss (log)" if f_min == 0 else "loss − min f (log)"
        return [_f32(c) for c in curves], {"type": "log", "title": title}
    curves = [_f32(t.loss) for t in trajs]
    finite = [c[np.isfinite(c)] for c in curves]
    positive = f_min != -math.inf and all((c > 0).all() for c in finite)
    return curves, {"type": "log" if positive else "linear",
                    "title": "loss (log)" if positive else "loss"}  # fmt: skip


def lr_axis(trajs: list[Trajectory]) -> dict:
    """The lr plot's y axis: log when the racers' peak lrs are more than a decade apart (SGD
    at 1e-3 beside Adam at 0.05 would sit on the zero line of a linear axis), else linear
    from 0."""
    lrs = [t.lr[np.isfinite(t.lr) & (t.lr > 0)] for t in trajs]
    peaks = [float(lr.max()) for lr in lrs if lr.size]
    if peaks and max(peaks) > LOG_LR_SPAN * min(peaks):
        values = np.concatenate(lrs)
        # decades only: "2" and "5" between them read as lrs of their own
        return {"type": "log", "range": log_range(values[values >= max(peaks) * 1e-6]), "dtick": 1}
    return {"type": "linear", "range": [0.0, 1.05 * max(peaks, default=1.0 / 1.05)]}


def momentum_axis(trajs: list[Trajectory]) -> dict | None:
    """The momentum (or Adam's beta1) plot's y axis, or None when no run's momentum moves:
    only a schedule that cycles it (OneCycleLR, CyclicLR) earns the panel."""
    values = [t.momentum[np.isfinite(t.momentum)] for t in trajs]
    if not any(v.size and v.max() > v.min() for v in values):
        return None
    all_values = np.concatenate(values)
    lo, hi = float(all_values.min()), float(all_values.max())
    pad = 0.08 * (hi - lo)
    return {"type": "linear", "range": [lo - pad, hi + pad]}


def log_range(values: np.ndarray) -> list[float]:
    """A log axis's range (in decades) around the positive ``values``, 5% padded."""
    logs = np.log10(values[np.isfinite(values) & (values > 0)])
    lo, hi = (float(logs.min()), float(logs.max())) if logs.size else (0.0, 1.0)
    pad = 0.05 * (hi - lo) if hi > lo else 0.5
    return [lo - pad, hi + pad]


def _f32(values: np.ndarray) -> np.ndarray:
    """float32 for the payload, with values beyond its range clipped rather than made inf."""
    big = float(np.finfo(np.float32).max)
    with np.errstate(invalid="ignore"):
        return np.clip(values, -big, big).astype(np.float32)


def envelope(values: np.ndarray, buckets: int) -> tuple[np.ndarray | None, np.ndarray]:
    """A long curve as the min and max of each of ``buckets`` buckets, a vertical stroke per
    bucket at its first step (NaN ignored), so spikes and short cycles keep their full swing
    instead of aliasing; ``(None, values)`` when it is short enough to draw whole."""
    if len(values) <= 2 * buckets:
        return None, values
    starts = np.linspace(0, len(values), buckets, endpoint=False).astype(np.int64)
    with np.errstate(invalid="ignore"):
        lo, hi = np.fmin.reduceat(values, starts), np.fmax.reduceat(values, starts)
    return np.repeat(starts, 2), np.column_stack([lo, hi]).ravel()


def curve_xy(values: np.ndarray, buckets: int) -> dict:
    """A curve against step as trace data: ``y`` with ``x0``/``dx`` when drawn whole, else its
    ``envelope`` with explicit steps."""
    x, y = envelope(values, buckets)
    if x is None:
        return {"x0": 0, "dx": 1, "y": typed_array(y)}
    return {"x": typed_array(x), "y": typed_array(y)}


def typed_array(values: np.ndarray) -> dict:
    """``values`` as float32 in Plotly's base64 typed-array form, which plotly.js reads as is.

    Plotly would encode a numpy array the same way when serialising, but at ~0.5 ms per
    array (it inspects each one through narwhals); a figure has over a thousand of them.
    float32 halves the payload and is ample for a plot.
    """
    a = np.ascontiguousarray(values, dtype="<f4")
    spec = {"dtype": "f4", "bdata": base64.b64encode(a.tobytes()).decode("ascii")}
    if a.ndim == 2:  # rows first, as plotly.py writes it ("ny, nx")
        spec["shape"] = f"{a.shape[0]}, {a.shape[1]}"
    return spec


def minima_traces(surface: Surface) -> list[dict]:
    """Global minima as filled stars, local minima as hollow ones (traces kept when empty so
    the trace order never depends on the surface)."""
    traces = []
    for name, points, symbol in (
        ("global minimum", surface.minima, "star"),
        ("local minima", surface.local_minima, "star-open"),
    ):
        xy = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        traces.append(
            {
                "type": "scatter",
                "name": name,
                "x": xy[:, 0].tolist(),
                "y": xy[:, 1].tolist(),
                "mode": "markers",
                "marker": {
                    "symbol": symbol,
                    "size": 16 if symbol == "star" else 13,
                    "color": palette.MINIMUM_COLOUR if symbol == "star" else "#000000",
                    "line": {"color": "#000000", "width": 1},
                },
                "showlegend": bool(len(xy)),
                "hovertemplate": f"{name}<br>(%{{x:.4g}}, %{{y:.4g}})<extra></extra>",
            }
        )
    return traces


def layout(image: SurfaceImage, height: int, axes: dict) -> dict:
    """Axes and legend. ``axes``: the y axes of the lr ("y2"), loss ("y3") and momentum
    ("y4", None when not shown) plots, each a dict with "type" and a fixed "range" (a
    ``redraw: False`` animation never re-autoranges)."""
    (x0, x1), (y0, y1) = image.x_range, image.y_range
    right = [LEFT_WIDTH + 0.1, 1.0]
    plain = {"showgrid": False, "zeroline": False, "constrain": "domain"}
    curve = {"showgrid": True, "gridcolor": "#e5e5e5", "zeroline": False}
    momentum = axes.get("y4")
    top = PLOTS_TOP - 0.05  # room for the plot titles
    # lr, loss and momentum plots, top to bottom: lr, [momentum,] loss
    rows = ([top - 0.23, top], [0.0, 0.28], [0.36, top - 0.31]) if momentum else (
        [top - 0.31, top], [0.0, 0.41], None)  # fmt: skip
    fig_layout = {
        "height": height,
        "margin": {"l": 50, "r": 20, "t": 30, "b": 90},
        # A small template of our own: plotly's default one is 7 KB, deep-copied per figure.
        "template": {"layout": {"plot_bgcolor": "white", "paper_bgcolor": "white"}},
        "hovermode": "closest",
        "uirevision": f"{x0},{x1},{y0},{y1}",
        "legend": {"orientation": "h", "x": 0, "y": 1.0, "yanchor": "top"},
        "xaxis": {**plain, "domain": [0, LEFT_WIDTH], "range": [x0, x1], "title": "x"},
        "yaxis": {**plain, "domain": [0, PLOTS_TOP], "range": [y0, y1], "scaleanchor": "x",
                  "scaleratio": 1, "title": "y"},
        "xaxis2": {**curve, "domain": right, "anchor": "y2", "matches": "x3",
                   "showticklabels": False},
        "yaxis2": {**curve, "domain": rows[0], "anchor": "x2", **_y(axes["y2"])},
        "xaxis3": {**curve, "domain": right, "anchor": "y3", "title": "step"},
        "yaxis3": {**curve, "domain": rows[1], "anchor": "x3", **_y(axes["y3"])},
        # Titles above the curves rather than beside their y axes: between the two columns
        # a y title would overprint the tick labels once the app's font is wider than ours.
        "annotations": [_plot_title("learning rate", 2), _plot_title(axes["y3"]["title"], 3)],
        "images": [
            {
                "source": image.png_data_uri,
                "xref": "x", "yref": "y", "x": x0, "y": y1,
                "sizex": x1 - x0, "sizey": y1 - y0,
                "xanchor": "left", "yanchor": "top",
                "sizing": "stretch", "layer": "below",
            }
        ],
    }  # fmt: skip
    if momentum:
        fig_layout["xaxis4"] = {**curve, "domain": right, "anchor": "y4", "matches": "x3",
                                "showticklabels": False}  # fmt: skip
        fig_layout["yaxis4"] = {**curve, "domain": rows[2], "anchor": "x4", "nticks": 4,
                                **_y(momentum)}  # fmt: skip
        fig_layout["annotations"].append(_plot_title("momentum / β₁", 4))
    return fig_layout


def _y(axis: dict) -> dict:
    ticks = {"dtick": axis["dtick"]} if "dtick" in axis else {}
    return {"type": axis["type"], "range": axis["range"], "exponentformat": "power", **ticks}


def _plot_title(text: str, k: int) -> dict:
    return {"text": text, "xref": f"x{k} domain", "yref": f"y{k} domain", "x": 0, "y": 1.02,
            "xanchor": "left", "yanchor": "bottom", "showarrow": False}  # fmt: skip


def animation_controls(frame_steps: np.ndarray, frame_ms: int) -> dict:
    """Play and End buttons and a slider over the frames, starting on the last frame.

    A ``redraw: False`` frame recomputes every trace but redraws only the animated ones, and
    the others lose the SVG nodes that plotly.js's click-to-select styling needs: a click on
    the chart then throws inside plotly.js and no selection event fires (NOTES.md). So every
    way to stop the animation ends on a redrawn frame: Play always runs to the last frame,
    which redraws (hence it restarts from step 0 rather than resuming: with ``fromcurrent``
    the per-frame options would no longer line up with the frames), End jumps to the last
    frame, and the slider, which also serves as pause, redraws the frame it shows.
    """
    fast = {"duration": frame_ms, "redraw": False}
    play = {
        "frame": [fast] * (len(frame_steps) - 1) + [{**fast, "redraw": True}],
        "transition": {"duration": 0},
        "mode": "immediate",
    }
    show = {"frame": {"duration": 0, "redraw": True}, "transition": {"duration": 0},
            "mode": "immediate"}  # fmt: skip
    last = str(frame_steps[-1])
    buttons = [
        {"label": "▶ Play", "method": "animate", "args": [None, play]},
        {"label": "End", "method": "animate", "args": [[last], show]},
    ]
    steps = [
        {"label": str(s), "method": "animate", "args": [[str(s)], show]}
        for s in frame_steps.tolist()
    ]
    return {
        "updatemenus": [
            {"type": "buttons", "direction": "left", "showactive": False, "buttons": buttons,
             "x": 0, "y": -0.16, "xanchor": "left", "yanchor": "top", "pad": {"t": 0, "r": 10}}
        ],
        # Up to 200 tick labels would overprint each other: they are hidden, and the current
        # step is shown above the slider instead.
        "sliders": [
            {"active": len(steps) - 1, "steps": steps, "x": 0.16, "len": 0.84, "y": -0.12,
             "yanchor": "top", "pad": {"t": 0}, "ticklen": 0, "minorticklen": 0,
             "font": {"color": "rgba(0,0,0,0)"},
             "currentvalue": {"prefix": "step ", "font": {"color": "#444444"}},
             "transition": {"duration": 0}}
        ],
    }  # fmt: skip
