"""The Tune tab: how to pick the learning rate — LR range test, search, fair comparison.

Every tab's code runs on every rerun of the page, so only the chosen section is drawn; the
range test (one short run) is cached by its plain inputs, and a search runs on request only.
"""

import math

import streamlit as st

from common.limits import MAX_STEPS
from optim_core.lr_finder import lr_range_test
from optim_core.optimizers import momentum_value
from optim_core.report import number
from optim_core.schedules import SCHEDULES
from optim_core.spec import RunSpec
from viz.search import SUGGESTIONS, range_test_figure

from . import fair_section, search_section
from .search_views import CHART_CONFIG, NOTICE, apply_setting
from .text import plain
from .widgets import KEEP, seed

SECTIONS = ("LR range test", "Search", "Fair comparison")
FIGURE_HEIGHT = 430  # px: the curve and the suggestion buttons fit a 1024 x 768 projector
# Decades the sweep may span: a range slider over them cannot put lr_min above lr_max.
DECADES = tuple(10.0**k for k in range(-7, 3))
# Smith 2017 ("Cyclical Learning Rates", §3.3) sets base_lr to 1/3 or 1/4 of max_lr.
CYCLIC_RATIO = 4
# Markers of the suggestions in the figure, in the colours Streamlit's markdown can name.
MARKS = {"steepest": ":orange[▼]", "valley": ":green[◆]", "min_over_10": ":violet[■]"}


def render(specs) -> None:
    notice = st.session_state.pop(NOTICE, None)
    if notice:
        st.toast(notice, icon=":material/check_circle:")
    section = st.segmented_control(
        "Tune", SECTIONS, default=SECTIONS[0], required=True, key="tune.section",
        persist_state=KEEP, label_visibility="collapsed",
    )  # fmt: skip
    if section == "LR range test":
        range_test_section(specs)
    elif section == "Search":
        search_section.render(specs)
    else:
        fair_section.render(specs)


@st.cache_data(max_entries=64, show_spinner=False)
def _range_test(spec_json: str, lr_min, lr_max, steps, mode, smoothing, factor):
    return lr_range_test(
        RunSpec.from_json(spec_json), lr_min, lr_max, steps, mode, smoothing, factor
    )


def range_test_section(specs) -> None:
    if st.session_state.get("tune.racer", 0) >= len(specs):  # a racer was removed
        st.session_state["tune.racer"] = 0
    left, mid, steps_col, mode_col = st.columns([1.3, 2.2, 0.9, 1.3])
    i = left.selectbox(
        "racer",
        range(len(specs)),
        format_func=lambda k: specs[k].label,
        key="tune.racer",
        persist_state=KEEP,
    )
    # A range slider must get its value as an argument: that is what makes it a range.
    lr_min, lr_max = mid.select_slider(
        "lr from … to", DECADES, value=(1e-5, 10.0), format_func=_decade, key="tune.lr_range",
        persist_state=KEEP, help="the sweep's first and last lr",
    )  # fmt: skip
    seed("tune.steps", 200)
    steps = steps_col.number_input(
        "steps", min_value=2, max_value=MAX_STEPS, step=50, key="tune.steps", persist_state=KEEP
    )
    seed("tune.mode", "exp")
    mode = mode_col.radio(
        "sweep", ("exp", "linear"), horizontal=True, key="tune.mode", persist_state=KEEP,
        format_func={"exp": "exponential", "linear": "linear"}.get,
    )  # fmt: skip
    with st.expander("Smoothing and cut-off", expanded=False):
        a, b = st.columns(2)
        seed("tune.beta", 0.98)
        beta = a.number_input("smoothing β (moving average of the loss)", key="tune.beta",
                              persist_state=KEEP, format="%g", step=0.01)  # fmt: skip
        seed("tune.factor", 4.0)
        factor = b.number_input("cut off where the loss exceeds its lowest ×", key="tune.factor",
                                persist_state=KEEP, format="%g", step=0.5)  # fmt: skip
    spec = specs[i]
    try:
        found = _range_test(spec.to_json(), lr_min, lr_max, int(steps), mode, beta, factor)
    except ValueError as err:
        st.error(f"Range test not run: {plain(err)}", icon=":material/block:")
        return
    st.plotly_chart(
        range_test_figure(found, current_lr=spec.lr, height=FIGURE_HEIGHT), width="stretch",
        key="tune.lr_figure", config=CHART_CONFIG,
    )  # fmt: skip
    _suggestion_buttons(i, spec, found)
    st.caption(
        f"One run of {plain(spec.label)} from the race's start, its lr growing "
        f"{'exponentially' if mode == 'exp' else 'linearly'} every step; the loss after each "
        f"step, smoothed (β = {beta:g}), and cut off where it passes {factor:g}× its lowest. "
        "**Steepest descent**: where the smoothed loss falls fastest against log lr. "
        "**Valley**: fastai's default, half-way into the longest descent. **Min ÷ 10**: a "
        "decade below the lr of the lowest loss. **CyclicLR** takes the suggestion as max_lr "
        f"and max_lr/{CYCLIC_RATIO} as base_lr (Smith 2017, §3.3: base_lr at 1/3 to 1/4 of "
        "max_lr), half a cycle over the run's first eighth. **OneCycleLR** takes it as max_lr "
        "(Smith's 1cycle, fastai's fit_one_cycle): it starts at max_lr/25 and anneals far "
        "below. Both cycle the momentum (β₁) as torch does when the racer has one above 0."
    )


def _suggestion_buttons(i: int, spec, found) -> None:
    widths = [1.6, 1, 1, 1]
    head = st.columns(widths, vertical_alignment="bottom")
    head[0].markdown(f"**Use a suggestion** for {plain(spec.label)}:")
    head[1].caption("as its lr")
    head[2].caption(f"as CyclicLR max_lr (base = max/{CYCLIC_RATIO})")
    head[3].caption("as OneCycleLR max_lr")
    for key, (label, _, _) in SUGGESTIONS.items():
        lr = float(getattr(found, key))
        row = st.columns(widths, vertical_alignment="center")
        row[0].markdown(f"{MARKS[key]} {label}: **{number(lr)}**")
        uses = (
            ("lr", f"lr = {number(lr)}", with_lr),
            ("cyclic", "CyclicLR", with_cyclic),
            ("onecycle", "OneCycleLR", with_one_cycle),
        )
        for col, (use, text, build) in zip(row[1:], uses, strict=True):
            if col.button(text, key=f"tune.use.{key}.{use}", width="stretch"):
                _apply(i, spec, build, lr, f"{label} {number(lr)}")


def _apply(i: int, spec, build, lr: float, what: str) -> None:
    try:
        new = build(spec, lr)
    except ValueError as err:
        st.error(f"Not applied: {plain(err)}", icon=":material/block:")
        return
    schedule = "" if new.schedule == spec.schedule else f" with {new.schedule}"
    apply_setting(i, new, f"{spec.label}: {what}{schedule}")


def with_lr(spec, lr: float):
    """The racer with ``lr`` and its own schedule."""
    return spec.with_(hyperparameters={**spec.h, "lr": lr})


def with_cyclic(spec, lr: float):
    """CyclicLR peaking at ``lr``; the sidebar's defaults for the cycle length."""
    entry = SCHEDULES["CyclicLR"]
    params = entry.ui_defaults(spec.steps, lr) | {
        "base_lr": lr / CYCLIC_RATIO, "max_lr": lr, "cycle_momentum": _cycles_momentum(spec),
    }  # fmt: skip
    return spec.with_(
        hyperparameters={**spec.h, "lr": lr}, schedule=entry.name, schedule_params=params
    )


def with_one_cycle(spec, lr: float):
    """OneCycleLR peaking at ``lr`` over exactly the run's steps."""
    entry = SCHEDULES["OneCycleLR"]
    params = {"max_lr": lr, "total_steps": spec.steps, "cycle_momentum": _cycles_momentum(spec)}
    return spec.with_(
        hyperparameters={**spec.h, "lr": lr}, schedule=entry.name, schedule_params=params
    )


def _cycles_momentum(spec) -> bool:
    # torch cycles momentum by default; a racer running without momentum (SGD at 0) would
    # silently become a heavy-ball racer, so it keeps none.
    return bool(momentum_value(spec.optimizer_def, spec.h))


def _decade(value: float) -> str:
    return f"{value:g}" if 1 <= value <= 10 else f"1e{round(math.log10(value))}"
