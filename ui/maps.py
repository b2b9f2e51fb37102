"""The many-runs tabs: basins of attraction, hyperparameter sensitivity, noise ensembles."""

import numpy as np
import streamlit as st

from optim_core import maps
from optim_core.engines import numba_engine, torch_engine
from optim_core.report import number
from viz.maps import basin_figure, ensemble_figure, sensitivity_figure

from .sidebar import load_racer_setting
from .text import plain
from .widgets import KEEP


def engines() -> dict:
    """Engines on offer here; a CUDA GPU, when present, is the default for many runs."""
    offered = {"numba (CPU)": numba_engine, "torch-cpu": torch_engine}
    if torch_engine.default_device() == "cuda":
        offered = {torch_engine.describe("cuda"): torch_engine, **offered}
    return offered


@st.cache_data(max_entries=32, show_spinner=False)
def _basins(spec, resolution, engine_label):
    return maps.basin_map(spec, resolution, engine=engines()[engine_label])


@st.cache_data(max_entries=32, show_spinner=False)
def _sensitivity(spec, x_name, xs, y_name, ys, engine_label):
    return maps.sensitivity_map(
        spec, x_name, np.array(xs), y_name, np.array(ys), engine=engines()[engine_label]
    )


@st.cache_data(max_entries=32, show_spinner=False)
def _ensemble(spec, runs):
    return maps.noise_ensemble(spec, runs)


def basins_tab(specs) -> None:
    left, mid, right = st.columns(3)
    resolution = left.select_slider(
        "grid", [32, 64, 128, 256, 512], value=128, key="m.res", persist_state=KEEP
    )
    colour_by = mid.radio(
        "colour by",
        ["minimum", "loss", "steps"],
        horizontal=True,
        key="m.colour",
        persist_state=KEEP,
    )
    engine = right.selectbox("engine", list(engines()), key="m.engine", persist_state=KEEP)
    chosen = st.multiselect(
        "compare", [s.label for s in specs], default=[s.label for s in specs[:2]], max_selections=3,
        key="m.compare", persist_state=KEEP,
    )  # fmt: skip
    # Every grid point is a start, so the race's own start does not matter here.
    picked = [s.with_(start=None, label=s.label) for s in specs if s.label in chosen]
    if not picked or not _wanted("m.basins_on", f"Map where each of {resolution}² starts ends"):
        return
    with st.spinner(f"{len(picked)} × {resolution}² runs…"):
        results = [(s.label, _basins(s, resolution, engine)) for s in picked]
    st.plotly_chart(basin_figure(results, colour_by), width="stretch", key="m.basins")
    st.caption(
        " · ".join(
            f"{plain(label)}: {share['global']:.0%} global, {share['local']:.0%} local, "
            f"{share['diverged']:.0%} diverged"
            for label, share in ((lbl, maps.reached_share(b)) for lbl, b in results)
        )
    )


def sensitivity_tab(specs) -> None:
    labels = [s.label for s in specs]
    which = st.selectbox("racer", labels, key="m.s_racer", persist_state=KEEP)
    spec = specs[labels.index(which)]
    names = _numeric_settings(spec)
    c1, c2, c3, c4 = st.columns(4)
    x_name = c1.selectbox(
        "x", names, index=names.index("lr") if "lr" in names else 0, key="m.x", persist_state=KEEP
    )
    y_choices = [n for n in names if n != x_name]
    y_name = c2.selectbox("y", y_choices, key="m.y", persist_state=KEEP)
    n = c3.select_slider(
        "cells per axis", [8, 16, 24, 32, 48, 64], value=24, key="m.n", persist_state=KEEP
    )
    engine = c4.selectbox("engine ", list(engines()), key="m.s_engine", persist_state=KEEP)
    xs = _axis(spec, x_name, n)
    ys = _axis(spec, y_name, n)
    if not _wanted("m.sens_on", f"Run the {n}×{n} grid of settings"):
        return
    with st.spinner(f"{n * n} runs…"):
        try:
            sm = _sensitivity(spec, x_name, tuple(xs), y_name, tuple(ys), engine)
        except ValueError as err:
            st.error(plain(err))
            return
    event = st.plotly_chart(
        sensitivity_figure(sm, log_x=_is_log(x_name), log_y=_is_log(y_name)), width="stretch",
        on_select="rerun", selection_mode="points", key="m.sens",
    )  # fmt: skip
    points = event.selection.points if event and event.selection else []
    if not points:
        st.caption("Click a cell to pick its setting.")
        return
    ix, iy = _cell(sm, points[-1])
    st.markdown(
        f"Clicked: **{plain(x_name)} = {sm.xs[ix]:.3g}**, **{plain(y_name)} = {sm.ys[iy]:.3g}**"
        f" → final loss {number(sm.final_loss[iy, ix])}"
    )
    if st.button("Load the clicked setting into the race", key="m.load"):
        load_racer_setting(labels.index(which), sm.specs[iy * len(sm.xs) + ix])
        st.rerun()


def ensemble_tab(specs) -> None:
    labels = [s.label for s in specs]
    c1, c2, c3 = st.columns(3)
    which = c1.selectbox("racer", labels, key="m.e_racer", persist_state=KEEP)
    noise = c2.number_input(
        "noise std",
        min_value=0.01,
        value=max(specs[0].noise, 0.5),
        key="m.e_noise",
        persist_state=KEEP,
    )
    runs = c3.select_slider(
        "runs", [8, 16, 32, 64, 128], value=32, key="m.e_runs", persist_state=KEEP
    )
    spec = specs[labels.index(which)].with_(noise=float(noise))
    if not _wanted("m.ens_on", f"Run {runs} noisy copies"):
        return
    with st.spinner(f"{runs} noisy runs…"):
        trajs, band = _ensemble(spec, runs)
    st.plotly_chart(ensemble_figure(trajs, band), width="stretch", key="m.ens")


def _wanted(key: str, label: str) -> bool:
    """Many-run views compute on request: every tab's code runs on every rerun."""
    return st.toggle(label, key=key, persist_state=KEEP)


def _numeric_settings(spec) -> list[str]:
    names = []
    for p in spec.optimizer_def.params:
        value = spec.h[p.name]
        if isinstance(value, tuple):
            names += [f"{p.name}[0]", f"{p.name}[1]"]
        elif isinstance(value, float):
            names.append(p.name)
    names += [f"schedule.{k}" for k, v in spec.schedule_params if isinstance(v, float)]
    return names


def _current(spec, name: str) -> float:
    if name.startswith("schedule."):
        return dict(spec.schedule_params)[name.removeprefix("schedule.")]
    if name.endswith("]"):
        return spec.h[name[:-3]][int(name[-2])]
    return spec.h[name]


def _is_log(name: str) -> bool:
    return name in ("lr", "eps", "weight_decay", "lr_decay") or name.endswith(
        ("lr", "max_lr", "base_lr")
    )


def _axis(spec, name: str, n: int) -> np.ndarray:
    """A range around the current value: log decades for rates, a linear [0, 1) for betas."""
    value = _current(spec, name)
    if _is_log(name):
        centre = value if value > 0 else 1e-3
        return np.logspace(np.log10(centre) - 1.5, np.log10(centre) + 1, n)
    if name.startswith(("betas", "momentum", "alpha", "rho", "dampening")):
        return np.linspace(0.0, 0.999, n)
    return np.linspace(0.0, 2 * value if value > 0 else 1.0, n)


def _cell(sm, point) -> tuple[int, int]:
    """The clicked cell: the index the figure's click grid carries (see sensitivity_figure)."""
    cell = point.get("customdata")
    if isinstance(cell, list):
        cell = cell[0] if cell else None
    if isinstance(cell, int | float) and 0 <= cell < sm.xs.size * sm.ys.size:
        iy, ix = divmod(int(cell), sm.xs.size)
        return ix, iy
    ix = int(np.argmin(np.abs(sm.xs - point["x"])))
    iy = int(np.argmin(np.abs(sm.ys - point["y"])))
    return ix, iy
