"""A compact learning-rate (and momentum) curve for the sidebar, beside the schedule's knobs."""

import numpy as np
import plotly.graph_objects as go

from . import palette
from .race_parts import envelope

# What the app passes as ``config``: the preview is fixed, so no toolbar is needed.
PREVIEW_CONFIG = {"displayModeBar": False}
MAX_POINTS = 1000  # pairs of (min, max) per curve; see race_parts.envelope


def schedule_preview(
    lr: np.ndarray, momentum: np.ndarray | None = None, *, height: int = 140
) -> go.Figure:
    """LR against step, and momentum (or Adam's beta1) on a right-hand axis when given.

    Long schedules are reduced to the min and max of each of ``MAX_POINTS`` buckets, so a
    cyclic schedule with short cycles still shows its full swing instead of aliasing.
    """
    lr = np.asarray(lr, dtype=np.float64)
    x, y = _steps(envelope(lr, MAX_POINTS))
    traces = [
        go.Scatter(x=x, y=y, mode="lines", name="lr", line={"color": palette.colour(1), "width": 2},
                   hovertemplate="step %{x}<br>lr %{y:.3g}<extra></extra>")
    ]  # fmt: skip
    show_momentum = momentum is not None and np.isfinite(momentum).any()
    if show_momentum:
        mx, my = _steps(envelope(np.asarray(momentum, dtype=np.float64), MAX_POINTS))
        traces.append(
            go.Scatter(x=mx, y=my, mode="lines", name="momentum", yaxis="y2",
                       line={"color": palette.colour(0), "width": 1.5, "dash": "dot"},
                       hovertemplate="step %{x}<br>momentum %{y:.3g}<extra></extra>")
        )  # fmt: skip
    fig = go.Figure(traces)
    small = {"size": 10}
    axis = {"fixedrange": True, "showgrid": False, "zeroline": False, "tickfont": small}
    fig.update_layout(
        height=height,
        margin={"l": 45, "r": 45 if show_momentum else 8, "t": 6, "b": 22},
        showlegend=False,
        dragmode=False,
        hovermode="x",
        plot_bgcolor="white",
        paper_bgcolor="rgba(0,0,0,0)",
        xaxis={**axis, "nticks": 4},
        yaxis={**axis, "title": {"text": "lr", "font": small}, "rangemode": "tozero",
               "exponentformat": "power", "nticks": 4},
    )  # fmt: skip
    if show_momentum:
        fig.update_layout(
            yaxis2={**axis, "title": {"text": "momentum", "font": small}, "overlaying": "y",
                    "side": "right", "nticks": 4, "tickformat": ".3~g"}
        )  # fmt: skip
    return fig


def _steps(curve: tuple) -> tuple[np.ndarray, np.ndarray]:
    x, y = curve
    return (np.arange(len(y)) if x is None else x), y
