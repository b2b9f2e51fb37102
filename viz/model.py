"""Figures of a model race: decision boundaries, training curves, and the loss plane as a
surface for the race figure.

The loss plane is one more landscape: :func:`plane_surface` makes a ``Surface`` whose f
interpolates the plane's loss grid, and :func:`plane_runs` each racer's projected path as a
``Trajectory``, so the surface mode's race figure animates them unchanged.
"""

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from landscapes.models import Dataset, LossPlane
from landscapes.surfaces import Surface
from optim_core.models import ModelRace
from optim_core.trajectory import DIVERGED, MAX_STEPS, Trajectory

from . import palette
from .race_parts import animation_controls

# Class colours of the decision panels: light tints for regions, full colours for points.
CLASS_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
PANELS_PER_ROW = 3


def plane_surface(plane: LossPlane) -> Surface:
    """The loss on the plane, bilinear between its grid points, as a Surface to race on."""
    alphas, betas, grid = plane.alphas, plane.betas, plane.loss

    def f(x, y, a=()):
        x, y = np.broadcast_arrays(np.asarray(x, np.float64), np.asarray(y, np.float64))
        i = np.interp(x, alphas, np.arange(len(alphas)))  # fractional grid index, clamped
        j = np.interp(y, betas, np.arange(len(betas)))
        i0 = np.minimum(i.astype(int), len(alphas) - 2)
        j0 = np.minimum(j.astype(int), len(betas) - 2)
        u, v = i - i0, j - j0
        return (
            grid[j0, i0] * (1 - u) * (1 - v) + grid[j0, i0 + 1] * u * (1 - v)
            + grid[j0 + 1, i0] * (1 - u) * v + grid[j0 + 1, i0 + 1] * u * v
        )  # fmt: skip

    how = (
        "the plane through the common start that best holds every path (top two PCA "
        "directions of all racers' weight changes)"
        if plane.kind == "pca"
        else "filter-normalised random directions around racer 1's final weights (Li et al., 2018)"
    )
    return Surface(
        name="loss_plane", title="Loss plane", f=f, grad=None,
        domain=((float(alphas[0]), float(alphas[-1])), (float(betas[0]), float(betas[-1]))),
        minima=(), f_min=math.nan, starts=((0.0, 0.0),),
        lesson=f"Training loss on {how}; each path is its racer's weights projected onto it.",
    )  # fmt: skip


def plane_runs(race: ModelRace, plane: LossPlane) -> list[tuple[str, Trajectory]]:
    """Each racer's projected path as a Trajectory with one position per step.

    Weights are recorded at ``snapshot_steps`` only; positions in between are interpolated
    along the projected path (the plane shows the path's shape, not every step's jitter).
    Loss, lr and momentum are the recorded per-step values.
    """
    steps = race.train_loss.shape[1]
    t = np.arange(steps + 1)
    runs = []
    for r, racer in enumerate(race.racers):
        xy = plane.paths[r]
        ok = np.isfinite(xy).all(axis=1)
        at = race.snapshot_steps[ok]
        positions = np.column_stack(
            [np.interp(t, at, xy[ok, 0]), np.interp(t, at, xy[ok, 1])]
        ).astype(np.float64)
        stop = int(race.stop_step[r])
        status = DIVERGED if race.status[r] == DIVERGED else MAX_STEPS
        loss = np.append(race.train_loss[r], np.nan)
        if status == DIVERGED:
            positions[stop:] = np.nan
        else:  # an early stop holds the weights where they stopped, to the end
            positions[stop + 1 :] = positions[stop]
            stop = steps
        traj = Trajectory(
            positions, loss, race.lr[r], race.momentum[r], np.full((steps, 2), np.nan),
            status, stop, None,
        )  # fmt: skip
        runs.append((racer.label, traj))
    return runs


def decision_figure(race: ModelRace, data: Dataset, height: int = 360) -> go.Figure:
    """One panel per racer: the predicted class over the input plane, animated over training,
    with the training points on top."""
    frames = race.frames
    n = len(race.racers)
    cols = min(n, PANELS_PER_ROW)
    rows = math.ceil(n / cols)
    fig = make_subplots(
        rows=rows, cols=cols, horizontal_spacing=0.03, vertical_spacing=0.12,
        subplot_titles=[f"{r.label} · {race.message(i)}" for i, r in enumerate(race.racers)],
    )  # fmt: skip
    binary = data.n_classes == 2
    for r in range(n):
        row, col = r // cols + 1, r % cols + 1
        fig.add_trace(_region(frames, r, -1, binary, data.n_classes), row=row, col=col)
    for r in range(n):
        row, col = r // cols + 1, r % cols + 1
        for k in range(data.n_classes):
            mine = data.y_train == k
            fig.add_trace(
                go.Scattergl(
                    x=data.x_train[mine, 0], y=data.x_train[mine, 1], mode="markers",
                    marker={"size": 5, "color": CLASS_COLOURS[k % len(CLASS_COLOURS)],
                            "line": {"width": 0.6, "color": "white"}},
                    name=data.class_names[k], legendgroup=f"class{k}", showlegend=r == 0,
                    hoverinfo="skip",
                ),
                row=row, col=col,
            )  # fmt: skip
    for axis in range(1, rows * cols + 1):
        suffix = "" if axis == 1 else str(axis)
        bare = {"showticklabels": False, "showgrid": False, "zeroline": False}
        fig.layout[f"xaxis{suffix}"].update(range=_span(frames.xs), **bare)
        fig.layout[f"yaxis{suffix}"].update(
            range=_span(frames.ys), scaleanchor=f"x{suffix}", **bare
        )
    steps = frames.steps
    fig.frames = [
        go.Frame(
            name=str(int(s)),
            data=[_region(frames, r, f, binary, data.n_classes) for r in range(n)],
            traces=list(range(n)),
        )
        for f, s in enumerate(steps)
    ]
    controls = animation_controls(steps, 120)
    for frame_args in controls["updatemenus"][0]["buttons"][0]["args"][1]["frame"]:
        frame_args["redraw"] = True  # heatmaps vanish in redraw: False animations
    fig.update_layout(
        # The class legend sits above the panel titles, clear of the last panel's title.
        height=height * rows, margin={"l": 10, "r": 10, "t": 70, "b": 70},
        legend={"orientation": "h", "y": 1.0, "yanchor": "top", "x": 0, "xanchor": "left",
                "yref": "container"},
        plot_bgcolor="white", **controls,
    )  # fmt: skip
    return fig


def _region(frames, r: int, f: int, binary: bool, classes: int) -> go.Heatmap:
    label = frames.label[r, f].astype(np.float32)
    if binary:  # probability of class 1: the boundary is where it crosses 0.5
        conf = frames.confidence[r, f]
        z = np.where(label == 1, conf, 1 - conf)
        scale = [[0, _tint(CLASS_COLOURS[0])], [0.5, "#FFFFFF"], [1, _tint(CLASS_COLOURS[1])]]
        bounds = {"zmin": 0.0, "zmax": 1.0}
    else:
        z = label
        scale = _discrete(classes)
        bounds = {"zmin": -0.5, "zmax": classes - 0.5}
    z = np.where(label < 0, np.nan, z)  # weights gone (diverged): no prediction
    return go.Heatmap(
        x=frames.xs, y=frames.ys, z=z, colorscale=scale, showscale=False, hoverinfo="skip",
        zsmooth="best", **bounds,
    )  # fmt: skip


def _discrete(classes: int) -> list:
    scale = []
    for k in range(classes):
        tint = _tint(CLASS_COLOURS[k % len(CLASS_COLOURS)])
        scale += [[k / classes, tint], [(k + 1) / classes, tint]]
    return scale


def _tint(hex_colour: str, amount: float = 0.55) -> str:
    """The colour mixed with white: regions stay light so points and boundaries read."""
    rgb = [int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)]
    mixed = [round(c + (255 - c) * amount) for c in rgb]
    return "#" + "".join(f"{c:02X}" for c in mixed)


def _span(values: np.ndarray) -> list[float]:
    return [float(values[0]), float(values[-1])]


def curves_figure(race: ModelRace, height: int = 300) -> go.Figure:
    """Loss (train per step, validation every evaluation), accuracy, and lr / momentum.

    Solid lines are training, dashed validation, dotted momentum (on its own right axis)."""
    fig = make_subplots(
        rows=1, cols=3, horizontal_spacing=0.07,
        subplot_titles=("loss", "accuracy", "learning rate"),
        specs=[[{}, {}, {"secondary_y": True}]],
    )  # fmt: skip
    steps = np.arange(1, race.train_loss.shape[1] + 1)
    cycled = False
    for r, racer in enumerate(race.racers):
        colour, group = palette.colour(r), f"racer{r}"
        common = {"legendgroup": group, "line": {"color": colour}}
        fig.add_trace(go.Scatter(x=steps, y=race.train_loss[r], name=racer.label,
                                 mode="lines", **common), row=1, col=1)  # fmt: skip
        for col, values in ((1, race.val_loss[r]), (2, race.val_accuracy[r])):
            fig.add_trace(go.Scatter(x=race.eval_steps, y=values, mode="lines", showlegend=False,
                                     legendgroup=group, line={"color": colour, "dash": "dash"}),
                          row=1, col=col)  # fmt: skip
        fig.add_trace(go.Scatter(x=race.eval_steps, y=race.eval_train_accuracy[r], mode="lines",
                                 showlegend=False, **common), row=1, col=2)  # fmt: skip
        fig.add_trace(go.Scatter(x=steps, y=race.lr[r], mode="lines", showlegend=False, **common),
                      row=1, col=3)  # fmt: skip
        momentum = race.momentum[r]
        finite = momentum[np.isfinite(momentum)]
        if finite.size and np.ptp(finite) > 0:
            cycled = True
            fig.add_trace(go.Scatter(x=steps, y=momentum, mode="lines", showlegend=False,
                                     legendgroup=group, line={"color": colour, "dash": "dot"}),
                          row=1, col=3, secondary_y=True)  # fmt: skip
    lrs = race.lr[np.isfinite(race.lr) & (race.lr > 0)]
    log_lr = lrs.size and lrs.max() / lrs.min() > 10
    fig.update_yaxes(type="log", row=1, col=1)
    fig.update_yaxes(range=[0, 1.02], row=1, col=2)
    fig.update_yaxes(type="log" if log_lr else "linear", row=1, col=3, secondary_y=False)
    fig.update_yaxes(visible=cycled, row=1, col=3, secondary_y=True, title_text="momentum")
    fig.update_xaxes(title_text="step")
    fig.update_layout(
        height=height, margin={"l": 10, "r": 10, "t": 40, "b": 10},
        legend={"orientation": "h", "y": -0.25}, plot_bgcolor="white",
    )  # fmt: skip
    fig.update_xaxes(gridcolor="#EEEEEE")
    fig.update_yaxes(gridcolor="#EEEEEE")
    return fig
