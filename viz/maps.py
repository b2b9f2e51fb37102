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
    """Final loss over a grid of two settings; a click on a cell selects its setting.

    Plotly gives no selection for a click on a heatmap, so an invisible marker per cell lies
    over it, carrying the cell's index (row-major, like ``sm.specs``) as customdata.
    """
    with np.errstate(all="ignore"):
        z = np.log10(np.abs(sm.final_loss) + 1e-16)
    z[~np.isfinite(sm.final_loss)] = np.nan
    fig = go.Figure(
        go.Heatmap(
            x=sm.xs, y=sm.ys, z=z, colorscale="Viridis", hoverinfo="skip",
            colorbar={"title": {"text": "log10 final loss", "side": "right"}},
        )
    )  # fmt: skip
    diverged = np.argwhere(np.isnan(z))
    if len(diverged):
        fig.add_trace(
            go.Scatter(
                x=sm.xs[diverged[:, 1]], y=sm.ys[diverged[:, 0]], mode="markers", name="diverged",
                marker={"symbol": "x", "color": _DIVERGED_COLOUR, "size": 7}, hoverinfo="skip",
                unselected={"marker": {"opacity": 1}},
            )
        )  # fmt: skip
    fig.add_trace(_cell_grid(sm, z))
    fig.update_xaxes(title_text=sm.x_name, **_axis_type(sm.xs, log_x))
    fig.update_yaxes(title_text=sm.y_name, **_axis_type(sm.ys, log_y))
    fig.update_layout(
        height=460, margin={"l": 60, "r": 20, "t": 30, "b": 50},
        # Clicks anywhere in a cell reach its marker, however small the marker is drawn.
        hoverdistance=-1, clickmode="event+select", dragmode=False,
        legend={"orientation": "h", "x": 0, "y": 1.01, "yanchor": "bottom"},
    )  # fmt: skip
    return fig


def _cell_grid(sm: SensitivityMap, z: np.ndarray) -> go.Scatter:
    nx, ny = sm.xs.size, sm.ys.size
    cell = np.arange(nx * ny)
    loss = np.where(np.isnan(z.ravel()), "diverged", [f"log10 loss {v:.2f}" for v in z.ravel()])
    size = float(np.clip(min(700 / nx, 380 / ny), 6, 40))  # ≈ a cell, in pixels
    return go.Scatter(
        x=sm.xs[cell % nx], y=sm.ys[cell // nx], customdata=cell, text=loss, mode="markers",
        name="cells", showlegend=False,
        marker={"symbol": "square-open", "size": size, "opacity": 0, "color": "white",
                "line": {"width": 2}},
        selected={"marker": {"opacity": 1}}, unselected={"marker": {"opacity": 0}},
        hovertemplate=f"{sm.x_name} = %{{x:.3g}}<br>{sm.y_name} = %{{y:.3g}}<br>%{{text}}"
        "<extra></extra>",
    )  # fmt: skip


def _axis_type(values: np.ndarray, log: bool) -> dict:
    """The axis ends at the outer cells' edges (the click grid would pad it), and a log axis
    labels its decades as 1e-4, 1e-3, ... (plotly would mix "100μ" and "0.001")."""
    at = np.log10(values) if log else np.asarray(values, dtype=np.float64)
    half = (at[-1] - at[0]) / (2 * (len(at) - 1)) if len(at) > 1 else 0.5
    axis = {"type": "log" if log else "linear", "range": [at[0] - half, at[-1] + half]}
    if not log:
        return axis
    decades = np.arange(np.ceil(at.min() - 1e-9), np.floor(at.max() + 1e-9) + 1).astype(int)
    if len(decades) < 2:
        return {**axis, "exponentformat": "e"}
    return {**axis, "tickvals": [10.0**k for k in decades], "ticktext": [f"1e{k}" for k in decades]}


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
