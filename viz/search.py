"""Figures of the Tune tab: an LR range test's curve, and a search's trials on the landscape.

Both are pure functions of core results (``LRFinderResult``; Optuna's frozen trials) and a
surface. The landscape is the race's surface image (``surface_image``), dimmed so that the
trials' markers, coloured by their final loss on a second colour scale, stand out on it.
"""

import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from optuna.trial import FrozenTrial, TrialState

from landscapes.surfaces import Surface
from optim_core.lr_finder import LRFinderResult
from optim_core.report import number

from . import palette
from .race_parts import KEEP_OPAQUE, LOSS_FLOOR, minima_traces
from .surface_image import surface_image

# Suggestion name -> (legend label, colour, marker symbol); the colours are Okabe & Ito's.
SUGGESTIONS = {
    "steepest": ("steepest descent", palette.OKABE_ITO[0], "triangle-down"),
    "valley": ("valley", palette.OKABE_ITO[2], "diamond"),
    "min_over_10": ("min ÷ 10", palette.OKABE_ITO[3], "square"),
}
SMOOTHED_COLOUR = palette.OKABE_ITO[1]
BLOWN_UP_FILL = "rgba(213, 94, 0, 0.10)"
# The surface under the trials: dimmed, or viridis' dark end swallows the dark markers.
IMAGE_OPACITY = 0.55
TRIALS_COLOURSCALE = "Plasma"
PRUNED_COLOUR = "#404040"
DIVERGED_COLOUR = palette.OKABE_ITO[0]
BEST_COLOUR = "#00D0FF"
PICKED_COLOUR = "#000000"
_MARGIN = {"l": 55, "r": 20, "t": 40, "b": 50}
_TEMPLATE = {"layout": {"plot_bgcolor": "white", "paper_bgcolor": "white"}}


def range_test_figure(
    found: LRFinderResult, *, current_lr: float | None = None, height: int = 440
) -> go.Figure:
    """Loss against lr (log axis): the raw loss faint, the smoothed loss bold, the sweep past
    the cut-off (where the loss blew up) shaded for a decade, and the three suggestions marked
    on the smoothed curve.
    ``current_lr``: the racer's lr now, drawn as a dotted line when inside the sweep."""
    lr, loss, smoothed = found.lr, found.loss, found.smoothed
    sweep_end = float(found.spec.lr_schedule.lr([found.spec.steps - 1])[0])
    log_y = bool((loss > 0).all() and (smoothed > 0).all())
    hover = "lr %{x:.3g}<br>loss %{y:.4g}<extra>%{fullData.name}</extra>"
    traces = [
        go.Scatter(x=lr, y=loss, mode="lines", name="loss", hovertemplate=hover,
                   line={"color": "#9a9a9a", "width": 1}, opacity=0.6),
        go.Scatter(x=lr, y=smoothed, mode="lines", name="smoothed loss", hovertemplate=hover,
                   line={"color": SMOOTHED_COLOUR, "width": 2.5}),
    ]  # fmt: skip
    annotations, shapes = [], []
    for i, (key, (label, colour, symbol)) in enumerate(SUGGESTIONS.items()):
        at = float(getattr(found, key))
        y = _on_curve(lr, smoothed, at)
        traces.append(
            go.Scatter(x=[at], y=[y], mode="markers", name=f"{label}: {number(at)}",
                       marker={"color": colour, "symbol": symbol, "size": 13,
                               "line": {"color": "#000000", "width": 1}},
                       hovertemplate=f"{label}<br>lr {number(at)}<extra></extra>")
        )  # fmt: skip
        # Staggered callouts: two suggestions are often a few pixels apart.
        annotations.append(
            {"x": math.log10(at), "y": math.log10(y) if log_y else y, "text": label,
             "showarrow": True, "arrowhead": 0, "arrowcolor": colour, "ax": 0,
             "ay": (-38, -64, -90)[i], "font": {"color": colour, "size": 12},
             "bgcolor": "rgba(255,255,255,0.85)"}
        )  # fmt: skip
    cut = float(lr[-1])
    # A decade past the cut-off at most: the rest of the sweep is one shade, not a plot.
    shown_end = min(sweep_end, cut * 10.0)
    if cut < sweep_end * (1 - 1e-9):
        shapes.append(
            {"type": "rect", "xref": "x", "yref": "paper", "x0": cut, "x1": shown_end, "y0": 0,
             "y1": 1, "fillcolor": BLOWN_UP_FILL, "line": {"width": 0}, "layer": "below"}
        )  # fmt: skip
        shapes.append(_vline(cut, DIVERGED_COLOUR, "dash"))
        annotations.append(_line_label(cut, "cut off: the loss blew up", DIVERGED_COLOUR))
    if current_lr is not None and lr[0] <= current_lr <= shown_end:
        shapes.append(_vline(current_lr, "#555555", "dot"))
        annotations.append(_line_label(current_lr, "racer's lr now", "#555555"))
    fig = go.Figure(traces)
    fig.update_layout(
        height=height, margin=_MARGIN, template=_TEMPLATE, hovermode="closest",
        shapes=shapes, annotations=annotations,
        legend={"orientation": "h", "x": 0, "y": -0.16, "yanchor": "top"},
        xaxis={"type": "log", "title": "learning rate", "exponentformat": "power",
               "range": [math.log10(lr[0]), math.log10(shown_end)], "showgrid": True,
               "gridcolor": "#e5e5e5"},
        yaxis={"type": "log" if log_y else "linear", "title": "loss", "showgrid": True,
               "gridcolor": "#e5e5e5", "exponentformat": "power",
               **({"dtick": "D2"} if log_y else {})},
    )  # fmt: skip
    return fig


def _on_curve(lr: np.ndarray, smoothed: np.ndarray, at: float) -> float:
    """The smoothed loss at lr ``at``, interpolated in log lr (min ÷ 10 lies between steps)."""
    return float(np.interp(math.log10(at), np.log10(lr), smoothed))


def _vline(x: float, colour: str, dash: str) -> dict:
    return {"type": "line", "xref": "x", "yref": "paper", "x0": x, "x1": x, "y0": 0, "y1": 1,
            "line": {"color": colour, "width": 1.5, "dash": dash}}  # fmt: skip


def _line_label(x: float, text: str, colour: str) -> dict:
    """Text up a vertical line, just left of it, from the bottom of the plot: clear of the
    suggestions' callouts, which stand above the curve."""
    return {"x": math.log10(x), "xref": "x", "yref": "paper", "y": 0.02, "yanchor": "bottom",
            "xanchor": "right", "textangle": -90, "text": text, "showarrow": False,
            "font": {"color": colour, "size": 12}, "bgcolor": "rgba(255,255,255,0.7)"}  # fmt: skip


def trials_figure(
    surface: Surface,
    args: tuple,
    trials: Sequence[FrozenTrial],
    *,
    start: tuple[float, float] | None = None,
    picked: int | None = None,
    height: int = 460,
) -> go.Figure:
    """Where each trial's run ended (user attributes ``x_end``/``y_end``), on the surface.

    Completed runs are dots coloured by their final loss (a log scale of the distance to the
    surface's minimum, when known), pruned ones hollow with the step where Hyperband stopped
    them in their hover text, diverged ones crosses; the best trial is ringed. Trials without
    an end point (a study from before those attributes, or a run that left no finite point)
    are left out. Each marker's ``customdata`` is its trial number, for click-to-pick; the
    trial numbered ``picked`` gets a black ring.
    """
    image = surface_image(surface, args)
    done, pruned, diverged = _split(trials)
    colour = _loss_colour(surface)
    data = [
        *minima_traces(surface),
        _start_trace(start),
        _done_trace(done, colour),
        _marker_trace(pruned, f"pruned ({len(pruned)})", "circle-open", PRUNED_COLOUR, 9,
                      _pruned_hover),
        _marker_trace(diverged, f"diverged ({len(diverged)})", palette.DIVERGED_SYMBOL,
                      DIVERGED_COLOUR, 11, _diverged_hover),
    ]  # fmt: skip
    best = min(done, key=lambda t: t.value, default=None)
    if best is not None:
        data.append(
            _marker_trace([best], f"best: trial {best.number}", "circle-open", BEST_COLOUR, 20,
                          _done_hover, width=3)
        )  # fmt: skip
    chosen = [t for t in (*done, *pruned, *diverged) if t.number == picked]
    if chosen:
        data.append(
            _marker_trace(chosen, f"picked: trial {picked}", "circle-open", PICKED_COLOUR, 26,
                          lambda t: f"picked: trial {t.number}", width=2.5)
        )  # fmt: skip
    (x0, x1), (y0, y1) = image.x_range, image.y_range
    # No 1:1 aspect lock (the race has one): the map sits in a column beside the trial picker,
    # and a locked square there left a third of the figure blank at 1024 px.
    plain = {"showgrid": False, "zeroline": False}
    fig = go.Figure(data)
    fig.update_layout(
        height=height, margin={**_MARGIN, "t": 34, "l": 40, "b": 30}, template=_TEMPLATE,
        hovermode="closest",
        legend={"orientation": "v", "x": 1.02, "xanchor": "left", "y": 0.4, "yanchor": "top",
                "font": {"size": 11}},
        xaxis={**plain, "range": [x0, x1]},
        yaxis={**plain, "range": [y0, y1]},
        uirevision=f"{surface.name},{x0},{x1},{y0},{y1}",
        images=[{"source": image.png_data_uri, "xref": "x", "yref": "y", "x": x0, "y": y1,
                 "sizex": x1 - x0, "sizey": y1 - y0, "xanchor": "left", "yanchor": "top",
                 "sizing": "stretch", "layer": "below", "opacity": IMAGE_OPACITY}],
    )  # fmt: skip
    return fig


def end_point(trial: FrozenTrial) -> tuple[float, float] | None:
    """Where the trial's run ended, or None when it is not recorded or not finite."""
    x, y = trial.user_attrs.get("x_end"), trial.user_attrs.get("y_end")
    ok = all(isinstance(v, int | float) and math.isfinite(v) for v in (x, y))
    return (float(x), float(y)) if ok else None


def _split(trials) -> tuple[list, list, list]:
    done, pruned, diverged = [], [], []
    for t in trials:
        if end_point(t) is None:
            continue
        if t.state == TrialState.PRUNED:
            pruned.append(t)
        elif t.state == TrialState.COMPLETE:
            (diverged if t.user_attrs.get("diverged") else done).append(t)
    return done, pruned, diverged


def _loss_colour(surface: Surface):
    """(loss -> colour value, colour bar title, log scale?): log10 of the distance to the
    minimum where it is known (as the race's loss plot), else the loss itself (a saddle goes
    below zero)."""
    f_min = surface.f_min
    if math.isfinite(f_min):
        floor = LOSS_FLOOR * max(1.0, abs(f_min))
        title = "final<br>loss" if f_min == 0 else "final loss<br>− min f"
        return (lambda v: math.log10(max(v - f_min, floor))), title, True
    return (lambda v: v), "final<br>loss", False


def _done_trace(done: list, colour) -> dict:
    colour_of, title, log = colour
    values = [colour_of(t.value) for t in done]
    # The colour bar over the top half of the right margin, the legend under it: below the
    # map, a legend wraps one entry per line in a narrow column and covers the tick labels.
    colorbar = {"title": {"text": title, "side": "top", "font": {"size": 11}}, "thickness": 14,
                "len": 0.55, "y": 1.0, "yanchor": "top", "x": 1.02, "xanchor": "left"}  # fmt: skip
    if log and values:
        lo, hi = math.floor(min(values)), math.ceil(max(values))
        ticks = list(range(lo, hi + 1, max(1, (hi - lo) // 6)))
        colorbar |= {"tickvals": ticks, "ticktext": [f"1e{k}" for k in ticks]}
    trace = _marker_trace(done, f"completed ({len(done)})", "circle", None, 10, _done_hover)
    trace["marker"] |= {
        "color": values, "colorscale": TRIALS_COLOURSCALE, "showscale": bool(done),
        "colorbar": colorbar, "line": {"color": "#000000", "width": 0.6},
    }  # fmt: skip
    return trace


def _marker_trace(trials, name, symbol, colour, size, hover, width=1.5) -> dict:
    xy = np.array([end_point(t) for t in trials], dtype=np.float64).reshape(-1, 2)
    line = {"color": colour or "#000000", "width": width}
    return {
        "type": "scatter", "mode": "markers", "name": name,
        "x": xy[:, 0].tolist(), "y": xy[:, 1].tolist(),
        "customdata": [t.number for t in trials], "text": [hover(t) for t in trials],
        "hovertemplate": "%{text}<extra></extra>", "unselected": KEEP_OPAQUE,
        "marker": {"symbol": symbol, "size": size, "color": colour, "line": line},
        "showlegend": bool(trials),
    }  # fmt: skip


def _settings(t: FrozenTrial) -> str:
    return ", ".join(f"{k} = {v if isinstance(v, str) else number(v)}" for k, v in t.params.items())


def _done_hover(t: FrozenTrial) -> str:
    return f"trial {t.number}<br>{_settings(t)}<br>final loss {number(t.value)}"


def _pruned_hover(t: FrozenTrial) -> str:
    step = t.user_attrs.get("steps", max(t.intermediate_values, default=0))
    last = t.intermediate_values.get(step)
    there = f", loss there {number(last)}" if last is not None else ""
    return f"trial {t.number}, pruned by Hyperband at step {step}{there}<br>{_settings(t)}"


def _diverged_hover(t: FrozenTrial) -> str:
    step = t.user_attrs.get("steps")
    when = f" by step {step}" if step is not None else ""
    return f"trial {t.number}, diverged{when}<br>{_settings(t)}"


def _start_trace(start) -> dict:
    xy = [] if start is None else [start]
    return {
        "type": "scatter", "mode": "markers", "name": "start",
        "x": [p[0] for p in xy], "y": [p[1] for p in xy], "showlegend": bool(xy),
        "marker": {"symbol": "circle-dot", "size": 14, "color": palette.START_COLOUR,
                   "line": {"color": "#000000", "width": 1.5}},
        "hovertemplate": "start (%{x:.4g}, %{y:.4g})<extra></extra>", "unselected": KEEP_OPAQUE,
    }  # fmt: skip
