"""The Tune tab's fair comparison: every chosen optimizer tuned with the same budget, sampler
and seeds on the race's surface; the spread of the best loss over seeds; one click to race the
tuned settings side by side.

A finished comparison is kept in ``st.session_state``, so reruns redraw it without searching
again.
"""

import time
from dataclasses import replace

import streamlit as st

from common.limits import MAX_FAIR_BUDGET, MAX_FAIR_SEEDS, MAX_RACERS, MAX_SEED
from optim_core.config import Racer
from optim_core.fair import SAMPLERS, Comparison, compare
from optim_core.optimizers import OPTIMIZERS
from optim_core.report import MISSING, number
from optim_core.search import DIVERGED_LOSS
from viz.fair import spread_figure

from .search_views import CHART_CONFIG, NOTICE
from .text import plain
from .widgets import KEEP, seed

RESULT = "tune.fair"
SAMPLER_NAMES = {"tpe": "TPE", "random": "random"}
# px of the optimizer, median and spread columns: the tuned setting keeps the ~330 px left of
# the ~660 px the table gets beside the sidebar on a 1024 px screen.
TABLE_WIDTHS = (80, 115, 140)


def render(specs) -> None:
    racing = list(dict.fromkeys(s.optimizer for s in specs))[:MAX_RACERS]
    with st.form("tune.fair_form", border=True):
        seed("tune.f_opts", racing)
        opts = st.multiselect(
            "optimizers", list(OPTIMIZERS), key="tune.f_opts", persist_state=KEEP,
            max_selections=MAX_RACERS,
            help="each gets the same search; default: the race's",
        )  # fmt: skip
        a, b, c, d = st.columns([1.3, 1, 1, 1])
        seed("tune.f_budget", 30)
        budget = a.number_input(
            "trials per optimizer and seed", min_value=1, max_value=MAX_FAIR_BUDGET, step=10,
            key="tune.f_budget", persist_state=KEEP,
        )  # fmt: skip
        seed("tune.f_seeds", 5)
        n_seeds = b.number_input("seeds", min_value=1, max_value=MAX_FAIR_SEEDS, step=1,
                                 key="tune.f_seeds", persist_state=KEEP)  # fmt: skip
        seed("tune.f_first", 0)
        first = c.number_input("first seed", min_value=0, max_value=MAX_SEED, step=1,
                               key="tune.f_first", persist_state=KEEP)  # fmt: skip
        seed("tune.f_sampler", "tpe")
        sampler = d.selectbox("sampler", SAMPLERS, format_func=SAMPLER_NAMES.get,
                              key="tune.f_sampler", persist_state=KEEP)  # fmt: skip
        run = st.form_submit_button("Compare", icon=":material/balance:", type="primary")
    if run:
        seeds = range(int(first), int(first) + int(n_seeds))
        _run(specs, opts or racing, int(budget), seeds, sampler)
    held = st.session_state.get(RESULT)
    if held is None:
        st.caption(
            "Each optimizer is searched with the same number of trials, the same sampler and "
            "the same seeds, over its lr (log scale) and its momentum or betas, on the race's "
            "surface, start, steps and noise, with a constant lr; the rest stay at torch's "
            "defaults. One search is one draw of a noisy process, so the comparison shows the "
            "best loss of every seed and ranks by their median."
        )
        return
    result, summary = held
    show(result, summary, specs)


def base_spec(specs):
    """The race's surface, start, steps and noise with a constant lr (a schedule that sets its
    own lr would make tuning the lr meaningless); compare() sets each optimizer."""
    return replace(specs[0], schedule="none", schedule_params=(), sam_rho=0.0, label="")


def _run(specs, opts, budget: int, seeds, sampler: str) -> None:
    total = len(opts) * len(seeds) * budget
    bar = st.progress(0.0, text=f"0 / {total} trials")

    def progress(done: int, total: int) -> None:
        bar.progress(min(done / total, 1.0), text=f"{done} / {total} trials")

    began = time.perf_counter()
    try:
        result = compare(base_spec(specs), opts, budget, seeds, sampler, progress=progress)
    except ValueError as err:
        bar.empty()
        st.error(f"Not run: {plain(err)}", icon=":material/block:")
        return
    bar.empty()
    seconds = time.perf_counter() - began
    summary = (f"{len(opts)} optimizers × {len(seeds)} seeds × {budget} trials of "
               f"{SAMPLER_NAMES[sampler]} search in {seconds:.1f} s")  # fmt: skip
    st.session_state[RESULT] = (result, summary)


def show(result: Comparison, summary: str, specs) -> None:
    base, race = result.base, specs[0]
    st.caption(f"{plain(summary)}; ranked by the median of the best loss over seeds.")
    if (base.surface, base.surface_params, base.start, base.steps) != (
        race.surface, race.surface_params, race.start, race.steps,
    ):  # fmt: skip
        st.caption(
            f"Compared on {plain(base.surface_def.title)} from {base.start} over {base.steps} "
            "steps; the race has changed since (compare again to compare it)."
        )
    rows = table_rows(result)
    widths = dict(zip(rows[0], TABLE_WIDTHS, strict=False))
    st.dataframe(rows, hide_index=True, width="stretch",
                 column_config={k: st.column_config.TextColumn(width=w)
                                for k, w in widths.items()})  # fmt: skip
    st.plotly_chart(spread_figure(result), width="stretch", key="tune.f_figure",
                    config=CHART_CONFIG)  # fmt: skip
    if st.button("Race the tuned settings", key="tune.f_race", icon=":material/flag:",
                 type="primary"):  # fmt: skip
        race_tuned(result)


def table_rows(result: Comparison) -> list[dict]:
    rows = []
    for r in result.ranking():
        low, high = r.spread
        i = r.seeds.index(r.race_seed)
        setting = " · ".join(f"{k} {number(v)}" for k, v in r.settings[i].items()) or MISSING
        rows.append({
            "optimizer": r.optimizer,
            "median best loss": _loss(r.median),
            "spread (min … max)": f"{_loss(low)} … {_loss(high)}",
            "tuned setting (median seed)": f"{setting} (seed {r.race_seed})",
        })  # fmt: skip
    return rows


def _loss(value: float) -> str:
    return "diverged" if value >= DIVERGED_LOSS else number(value)


def race_tuned(result: Comparison) -> None:
    """Replace the race's racers with the tuned settings; the surface, start and steps stay.
    Applied by the sidebar before its widgets exist, on the rerun."""
    config = st.session_state.get("saved.surface")
    if config is None:
        st.error("Not raced: the race's setup is not known yet; rerun the page.")
        return
    racers = tuple(
        Racer(r.optimizer, r.spec.hyperparameters, r.spec.schedule, r.spec.schedule_params,
              label=f"{r.optimizer} tuned")
        for r in result.ranking()
    )  # fmt: skip
    st.session_state["pending.config"] = replace(config, racers=racers[:MAX_RACERS], lesson="")
    st.session_state["lesson"] = ""  # the tuned race is free play
    st.session_state[NOTICE] = "The tuned settings race: " + ", ".join(
        r.label for r in racers[:MAX_RACERS]
    )
    st.rerun()
