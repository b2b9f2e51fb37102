"""The fair comparison's figure: the spread of each optimizer's best loss over seeds."""

import plotly.graph_objects as go

from optim_core.fair import Comparison
from optim_core.search import DIVERGED_LOSS

from . import palette

FIGURE_HEIGHT = 380


def spread_figure(result: Comparison, height: int = FIGURE_HEIGHT) -> go.Figure:
    """Best loss of every seed, a box and its points per optimizer (log scale where every
    loss is positive)."""
    fig = go.Figure()
    finite = [v for r in result.results for v in r.best if v < DIVERGED_LOSS]
    for k, r in enumerate(result.ranking()):
        kept = [(s, v) for s, v in zip(r.seeds, r.best, strict=True) if v < DIVERGED_LOSS]
        fig.add_trace(go.Box(
            y=[v for _, v in kept], name=r.optimizer, boxpoints="all", jitter=0.4, pointpos=0,
            customdata=[s for s, _ in kept], marker={"color": palette.colour(k)},
            hovertemplate="seed %{customdata}: %{y:.3g}<extra>%{x}</extra>",
        ))  # fmt: skip
    log = bool(finite) and min(finite) > 0
    fig.update_yaxes(title="best loss per seed", type="log" if log else "linear",
                     exponentformat="power")  # fmt: skip
    if log and max(finite) < 1e3 * min(finite):
        fig.update_yaxes(dtick="D2")  # Plotly labels every digit of a short log axis
    fig.update_layout(
        height=height, showlegend=False, margin={"l": 60, "r": 20, "t": 30, "b": 40},
        title={"text": "Best loss of each seed's search", "font": {"size": 14}},
    )  # fmt: skip
    if len(finite) < sum(len(r.best) for r in result.results):
        fig.add_annotation(text="seeds whose every trial diverged are left out", showarrow=False,
                           xref="paper", yref="paper", x=1, y=1.06, xanchor="right")  # fmt: skip
    return fig
