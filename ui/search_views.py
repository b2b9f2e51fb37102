"""What a study shows: its trials on the landscape, one click to race a trial, the best trials
as a table, and Optuna's own Plotly views. Shared by a search run here and an attached one."""

from collections import Counter
from dataclasses import dataclass

import optuna
import optuna.visualization as ov
import streamlit as st
from optuna.distributions import CategoricalDistribution, IntDistribution
from optuna.trial import TrialState

from common.limits import MAX_RACERS
from optim_core.report import MISSING, number
from optim_core.search import Choice, Float, Int, spec_for
from optim_core.spec import RunSpec
from viz.search import end_point, trials_figure

from . import sidebar
from .text import plain
from .widgets import KEEP

NOTICE = "tune.notice"  # what was loaded into the race, shown once after the rerun
CHART_CONFIG = {"displaylogo": False, "scrollZoom": False}
MAP_HEIGHT = 460
VIEW_HEIGHT = 430
BEST_ROWS = 10
VIEWS = ("History", "Parallel coordinates", "Importance", "Contour")


@dataclass(frozen=True, eq=False)
class Found:
    """A study as shown: its frozen trials, the run they vary, a line saying what it is, and
    a key naming the study (views are memoised by key and trial count)."""

    trials: tuple
    base: RunSpec
    summary: str
    key: str


def apply_setting(i: int, spec, notice: str, *, new: bool = False) -> None:
    """Race ``spec``'s optimizer settings as racer ``i`` (a new racer when ``new``): queued for
    the sidebar, which loads it before its widgets exist on the rerun."""
    sidebar.load_racer_setting(i, spec, new=new)
    st.session_state[NOTICE] = notice
    st.rerun()


def show_study(found: Found, specs, key: str) -> None:
    counts = trial_counts(found.trials)
    parts = [f"{v} {k}" for k, v in counts.items() if v]
    st.caption(f"{plain(found.summary)}: {', '.join(parts) or 'no trials yet'}.")
    base = found.base
    race = specs[0]
    if (base.surface, base.surface_params, base.start) != (race.surface, race.surface_params,
                                                           race.start):  # fmt: skip
        st.caption(
            f"Searched on {plain(base.surface_def.title)} from {base.start}; the race has "
            "changed since (run the search again to search it)."
        )
    _take_click(key)
    trials = ranked(found.trials)
    if trials and st.session_state.get(f"{key}.pick") not in {t.number for t in trials}:
        st.session_state[f"{key}.pick"] = trials[0].number  # a new study: its best trial
    args = tuple(v for _, v in base.surface_params)
    picked = st.session_state.get(f"{key}.pick")
    figure = trials_figure(base.surface_def, args, found.trials, start=base.start,
                           picked=picked, height=MAP_HEIGHT)  # fmt: skip
    # Beside the map, not under it, the picked trial: the map fits a column's width, and a
    # 1024 px projector has no height to spare.
    left, right = st.columns([2, 1], gap="medium")
    left.plotly_chart(figure, key=f"{key}.map", on_select="rerun", selection_mode="points",
                      width="stretch", config=CHART_CONFIG)  # fmt: skip
    if found.trials and not any(end_point(t) for t in found.trials):
        left.caption("These trials record no end points (x_end, y_end): nothing to draw.")
    with right:
        _loader(found, trials, specs, key)
    _best_table(found.trials)
    _optuna_views(found, key)


def trial_counts(trials) -> dict:
    counts = {"complete": 0, "pruned": 0, "diverged": 0, "failed": 0}
    for t in trials:
        if t.state == TrialState.COMPLETE:
            counts["diverged" if t.user_attrs.get("diverged") else "complete"] += 1
        elif t.state == TrialState.PRUNED:
            counts["pruned"] += 1
        elif t.state == TrialState.FAIL:
            counts["failed"] += 1
    return counts


def ranked(trials) -> list:
    """Raceable trials, best first: complete by final loss, then pruned, then diverged."""
    complete = [t for t in trials if _finished(t)]
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    diverged = [
        t for t in trials if t.state == TrialState.COMPLETE and t.user_attrs.get("diverged")
    ]
    return sorted(complete, key=lambda t: t.value) + pruned + diverged


def trial_spec(trial, base: RunSpec) -> RunSpec:
    """The run a trial stands for, rebuilt from its recorded values (ValueError if invalid)."""
    space = {name: _dimension(d) for name, d in trial.distributions.items()}
    return spec_for(trial, space, base)


def _dimension(d):
    if isinstance(d, CategoricalDistribution):
        return Choice(tuple(d.choices))
    kind = Int if isinstance(d, IntDistribution) else Float
    return kind(d.low, d.high, log=d.log)


def _finished(t) -> bool:
    return t.state == TrialState.COMPLETE and not t.user_attrs.get("diverged")


def _take_click(key: str) -> None:
    """A click on a trial's marker picks it in the trial box (before that box exists)."""
    state = st.session_state.get(f"{key}.map")
    points = state.get("selection", {}).get("points", []) if isinstance(state, dict) else []
    numbers = [p.get("customdata") for p in points if isinstance(p.get("customdata"), int)]
    last = numbers[-1] if numbers else None
    if last is not None and st.session_state.get(f"{key}.clicked") != last:
        st.session_state[f"{key}.pick"] = last
    st.session_state[f"{key}.clicked"] = last


def _loader(found: Found, trials: list, specs, key: str) -> None:
    if not trials:
        return
    by_number = {t.number: t for t in trials}
    if st.session_state.get(f"{key}.racer", 0) >= len(specs):
        st.session_state[f"{key}.racer"] = 0
    number_ = st.selectbox(
        "trial (or click its marker)", list(by_number), key=f"{key}.pick", persist_state=KEEP,
        format_func=lambda n: _trial_label(by_number[n]),
    )  # fmt: skip
    st.caption(_trial_card(by_number[number_]))
    i = st.selectbox("racer", range(len(specs)), key=f"{key}.racer", persist_state=KEEP,
                     format_func=lambda k: specs[k].label)  # fmt: skip
    load_it = st.button(f"Load into racer {i + 1}", key=f"{key}.load", width="stretch",
                        icon=":material/input:", type="primary")  # fmt: skip
    add_it = st.button("Add as a new racer", key=f"{key}.add", width="stretch",
                       icon=":material/add:", disabled=len(specs) >= MAX_RACERS,
                       help=f"at most {MAX_RACERS} racers")  # fmt: skip
    if not (load_it or add_it):
        return
    try:
        spec = trial_spec(by_number[number_], found.base)
    except ValueError as err:
        st.error(f"Trial {number_} cannot race: {plain(err)}", icon=":material/block:")
        return
    where = f"racer {len(specs) + 1} (new)" if add_it else f"racer {i + 1}"
    apply_setting(len(specs) if add_it else i, spec, f"Trial {number_} loaded into {where}",
                  new=add_it)  # fmt: skip


def varied(t) -> dict:
    """A trial's values that its search varied: a value every trial of its schedule shares
    (OneCycleLR's total_steps, a one-value choice) is left out."""
    return {k: v for k, v in t.params.items() if len(_choices(t.distributions[k])) != 1}


def _choices(d) -> tuple:
    return tuple(d.choices) if isinstance(d, CategoricalDistribution) else ()


def _shown(value) -> str:
    return value if isinstance(value, str) else number(value)


def _trial_card(t) -> str:
    """What a trial raced and how it ended, in a line or three."""
    values = ", ".join(f"{k} = {_shown(v)}" for k, v in varied(t).items())
    steps = t.user_attrs.get("steps")
    if t.state == TrialState.PRUNED:
        how = f"pruned by Hyperband at step {steps}"
    elif t.user_attrs.get("diverged"):
        how = f"diverged by step {steps}"
    else:
        how = f"final loss **{number(t.value)}** after {steps} steps"
    end = end_point(t)
    where = f", ended at ({end[0]:.3g}, {end[1]:.3g})" if end else ""
    return f"{plain(values)} · {how}{where}"


def _trial_label(t) -> str:
    opt = t.params.get("optimizer", "")
    if t.params.get("schedule", "none") != "none":
        opt += f" · {t.params['schedule']}"
    if t.state == TrialState.PRUNED:
        return f"#{t.number} {opt} · pruned at step {t.user_attrs.get('steps', '?')}"
    if t.user_attrs.get("diverged"):
        return f"#{t.number} {opt} · diverged"
    return f"#{t.number} {opt} · loss {number(t.value)}"


def _best_table(trials) -> None:
    best = sorted((t for t in trials if _finished(t)), key=lambda t: t.value)[:BEST_ROWS]
    if not best:
        return
    names = list(dict.fromkeys(k for t in best for k in varied(t) if k != "optimizer"))
    rows = [
        {"trial": str(t.number), "optimizer": str(t.params.get("optimizer", "")),
         **{k: _shown(t.params[k]) if k in t.params else MISSING for k in names},
         "final loss": number(t.value), "steps": str(t.user_attrs.get("steps", MISSING))}
        for t in best
    ]  # fmt: skip
    st.markdown(f"**Best {len(best)} trials**")
    st.dataframe(rows, hide_index=True, width="stretch", column_config=_headers(rows[0]))


def _headers(row: dict) -> dict:
    """Narrow columns; a schedule's parameter headed by its own name ("max_lr", the full key
    in its tooltip) where no other column has that name: "OneCycleLR.max_lr" was cut to
    "OneCycleLR.ma" on a 1024 px screen."""
    short = {k: k.partition(".")[2] or k for k in row}
    counts = Counter(short.values())
    return {
        k: st.column_config.TextColumn(
            short[k] if counts[short[k]] == 1 else k, width="small", help=k if "." in k else None
        )
        for k in row
    }


def _optuna_views(found: Found, key: str) -> None:
    view = st.segmented_control("Optuna's views", VIEWS, default=VIEWS[0], required=True,
                                key=f"{key}.view", persist_state=KEEP)  # fmt: skip
    study = _view_study(found, key)
    params = list(dict.fromkeys(k for t in study.trials for k in varied(t)))
    contour = None
    if view == "Contour":
        numeric = [p for p in params if p not in ("optimizer", "schedule")]
        if len(numeric) < 2:
            st.caption("A contour needs two numeric parameters; this search varies fewer.")
            return
        a, b = st.columns(2)
        x = a.selectbox("x", numeric, key=f"{key}.cx", persist_state=KEEP)
        y = b.selectbox("y", [p for p in numeric if p != x], key=f"{key}.cy", persist_state=KEEP)
        contour = (x, y)
    if len(study.trials) < 2:
        st.caption("Optuna's views need two completed trials at least.")
        return
    memo = st.session_state.setdefault(f"{key}.figures", {})
    wanted = (found.key, len(found.trials), view, contour)
    if wanted not in memo:
        with st.spinner(f"Optuna: {view.lower()}…"):
            memo.clear()  # one study's figures at a time
            memo[wanted] = _view_figure(study, view, contour)
    figure = memo[wanted]
    if isinstance(figure, str):
        st.caption(figure)
        return
    st.plotly_chart(figure, width="stretch", key=f"{key}.optuna", config=CHART_CONFIG)


def _view_study(found: Found, key: str):
    """An in-memory copy holding the finished, not diverged trials: a diverged run's value
    (the largest float) would flatten every axis of Optuna's plots."""
    cache = st.session_state.get(f"{key}.study")
    ident = (found.key, len(found.trials))
    if cache and cache[0] == ident:
        return cache[1]
    study = optuna.create_study(direction="minimize")
    study.add_trials([t for t in found.trials if _finished(t)])
    st.session_state[f"{key}.study"] = (ident, study)
    return study


def _view_figure(study, view: str, contour):
    try:
        if view == "History":
            fig = ov.plot_optimization_history(study)
            if all(t.value > 0 for t in study.trials):
                fig.update_yaxes(type="log", exponentformat="power")
        elif view == "Parallel coordinates":
            fig = ov.plot_parallel_coordinate(study)
        elif view == "Importance":
            fig = ov.plot_param_importances(study)
        else:
            fig = ov.plot_contour(study, params=list(contour))
    except (ValueError, RuntimeError, ZeroDivisionError) as err:
        return f"Optuna cannot draw {view.lower()} for these trials: {plain(err)}"
    fig.update_layout(height=VIEW_HEIGHT, margin={"l": 60, "r": 30, "t": 60, "b": 50},
                      title={"font": {"size": 14}})  # fmt: skip
    return fig
