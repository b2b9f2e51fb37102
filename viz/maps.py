"""Figures of many runs: basins of attraction, sensitivity grids, noise fans.

These are static (no animation), so heatmaps are safe here.
"""

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from optim_core.maps import DIVERGED_LABEL, NOWHERE_LABEL, BasinMap, SensitivityMap

from .palette import colour

_DIVERGED_COLOUR = "#222222"
_NOWHERE_COLOUR = "#d9d9d9"
_OUTLINE = {"color": "black", "width": 1}


def basin_figure(maps: list[tuple[str, BasinMap]], colour_by: str = "minimum") -> go.Figure:
    """Side-by-side basin maps (one per optimizer). ``colour_by``: "minimum", "loss", "steps"."""
    fig = make_subplots(
        rows=1, cols=len(maps), subplot_titles=[t for t, _ in maps], shared_yaxes=True
    )
    for col, (_, basins) in enumerate(maps, start=1):
        fig.add_trace(_basin_trace(basins, colour_by, show_scale=col == len(maps)), row=1, col=col)
        for k, (mx, my) in enumerate(basins.minima):
            symbol = "star" if k < basins.n_global else "star-open"
            fig.add_trace(
                go.Scatter(
                    x=[mx], y=[my], mode="markers", showlegend=False, hoverinfo="skip",
                    marker={"symbol": symbol, "size": 13, "color": "white", "line": _OUTLINE},
                ),
                row=1, col=col,
            )  # fmt: skip
        fig.update_xaxes(title_text="start x", row=1, col=col)
    fig.update_yaxes(title_text="start y", row=1, col=1)
    fig.update_yaxes(scaleanchor="x", scaleratio=1, row=1, col=1)
    fig.update_layout(height=460, margin={"l": 50, "r": 20, "t": 40, "b": 40})
    return fig


def _basin_trace(basins: BasinMap, colour_by: str, show_scale: bool) -> go.Heatmap:
    common = {"x": basins.xs, "y": basins.ys, "showscale": show_scale}
    if colour_by == "loss":
        with np.errstate(all="ignore"):
            z = np.log10(np.abs(basins.final_loss) + 1e-16)
        z[basins.label == DIVERGED_LABEL] = np.nan
        return go.Heatmap(
            z=z, colorscale="Viridis", colorbar={"title": "log10 |final loss|"}, **common
        )
    if colour_by == "steps":
        z = basins.stop_step.astype(float)
        z[basins.label == DIVERGED_LABEL] = np.nan
        return go.Heatmap(z=z, colorscale="Magma", colorbar={"title": "stop step"}, **common)
    # Categorical: one colour per minimum, grey for "nowhere known", black for diverged.
    n = len(basins.minima)
    z = basins.label.astype(float)
    z[basins.label == NOWHERE_LABEL] = n
    z[basins.label == DIVERGED_LABEL] = n + 1
    colours = [colour(k) for k in range(n)] + [_NOWHERE_COLOUR, _DIVERGED_COLOUR]
    scale = []
    for k, c in enumerate(colours):
        scale += [[k / len(colours), c], [(k + 1) / len(colours), c]]
    names = [f"minimum {k + 1}" for k in range(n)] + ["elsewhere", "diverged"]
    text = np.array(names, dtype=object)[z.astype(int)]
    return go.Heatmap(
        z=z, zmin=-0.5, zmax=len(colours) - 0.5, colorscale=scale, text=text,
        hovertemplate="start (%{x:.3g}, %{y:.3g}) → %{text}<extra></extra>",
        colorbar={"tickvals": list(range(len(colours))), "ticktext": names},
        **common,
    )  # fmt: skip


def sensitivity_figure(sm: SensitivityMap, log_x: bool = True, log_y: bool = False) -> go.Figure:
    """Final loss over a grid of two settings; a click on a cell selects its setting."""
    with np.errstate(all="ignore"):
        z = np.log10(np.abs(sm.final_loss) + 1e-16)
    z[~np.isfinite(sm.final_loss)] = np.nan
    custom = np.arange(z.size).reshape(z.shape)
    fig = go.Figure(
        go.Heatmap(
            x=sm.xs, y=sm.ys, z=z, customdata=custom, colorscale="Viridis",
            colorbar={"title": "log10 final loss"},
            hovertemplate=(
                f"{sm.x_name}=%{{x:.3g}}<br>{sm.y_name}=%{{y:.3g}}"
                "<br>log10 loss %{z:.2f}<extra></extra>"
            ),
        )
    )  # fmt: skip
    diverged = np.argwhere(np.isnan(z))
    if len(diverged):
        fig.add_trace(
            go.Scatter(
                x=sm.xs[diverged[:, 1]], y=sm.ys[diverged[:, 0]], mode="markers", name="diverged",
                marker={"symbol": "x", "color": _DIVERGED_COLOUR, "size": 7},
            )
        )  # fmt: skip
    fig.update_xaxes(title_text=sm.x_name, type="log" if log_x else "linear")
    fig.update_yaxes(title_text=sm.y_name, type="log" if log_y else "linear")
    fig.update_layout(height=460, margin={"l": 60, "r": 20, "t": 30, "b": 50})
    return fig


def ensemble_figure(trajs, band) -> go.Figure:
    """A fan of noisy paths (left) and the loss band: median with 10–90% quantiles (right)."""
    fig = make_subplots(
        rows=1, cols=2, column_widths=[0.55, 0.45], subplot_titles=["paths", "loss"]
    )
    for t in trajs:
        fig.add_trace(
            go.Scatter(x=t.positions[:, 0], y=t.positions[:, 1], mode="lines", showlegend=False,
                       line={"width": 1, "color": "rgba(31,119,180,0.25)"}, hoverinfo="skip"),
            row=1, col=1,
        )  # fmt: skip
    steps = np.arange(band.shape[1])
    median, low, high = band
    fig.add_trace(go.Scatter(x=steps, y=high, line={"width": 0}, showlegend=False), row=1, col=2)
    fig.add_trace(
        go.Scatter(x=steps, y=low, fill="tonexty", line={"width": 0}, name="10–90%",
                   fillcolor="rgba(31,119,180,0.25)"),
        row=1, col=2,
    )  # fmt: skip
    fig.add_trace(
        go.Scatter(x=steps, y=median, name="median", line={"color": "#1f77b4"}), row=1, col=2
    )
    positive = bool(np.nanmin(low) > 0) if np.isfinite(low).any() else False
    fig.update_yaxes(type="log" if positive else "linear", row=1, col=2)
    fig.update_xaxes(title_text="step", row=1, col=2)
    fig.update_layout(height=420, margin={"l": 50, "r": 20, "t": 40, "b": 40})
    return fig
