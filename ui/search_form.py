"""The Tune tab's search form: what a search varies, as widgets and as an Optuna space.

The space, the run every trial varies and the words that say what was searched are plain
functions of the form's values, so tests call them without a page.
"""

from typing import NamedTuple

import streamlit as st

from common.limits import MAX_SEARCH_TRIALS
from optim_core.optimizers import OPTIMIZERS
from optim_core.report import number
from optim_core.search import Choice, Float, Int, default_space
from optim_core.search_space import schedule_space, searchable_schedules
from optim_core.spec import RunSpec

from .text import plain
from .widgets import KEEP, seed

DECADES = tuple(10.0**k for k in range(-6, 3))
SAMPLERS = {"tpe": "TPE", "random": "random", "grid": "grid"}
PRUNERS = {"none": "none", "hyperband": "Hyperband"}
# Hyperparameters the search may vary (search.default_space's ranges); weight decay is off by
# default: on a 2D surface it pulls every run towards the origin, away from the minimum.
KNOBS = ("momentum", "beta1", "beta2", "weight_decay")
DEFAULT_KNOBS = ("momentum", "beta1", "beta2")
CONSTANT = "none"  # the schedule of a constant lr: the form's default, as before schedules


class Request(NamedTuple):
    """What the form asks for when its button is pressed."""

    optimizers: list
    knobs: list
    schedules: list
    lr_range: tuple
    sampler: str
    pruner: str
    trials: int
    seed: int


def form(specs) -> Request | None:
    """Draw the form; what it asks for when "Run search" was pressed, else None."""
    racing = list(dict.fromkeys(s.optimizer for s in specs))
    with st.form("tune.search_form", border=True):
        a, b = st.columns([0.95, 1.05])  # the knobs' chips are the wider
        seed("tune.s_opts", racing)
        opts = a.multiselect(
            "optimizers", list(OPTIMIZERS), key="tune.s_opts", persist_state=KEEP,
            help="the search picks one per trial; default: the race's",
        )  # fmt: skip
        seed("tune.s_knobs", list(DEFAULT_KNOBS))
        knobs = b.multiselect(
            "also search", KNOBS, key="tune.s_knobs", persist_state=KEEP,
            help="besides lr; each only for the optimizers that have it",
        )  # fmt: skip
        seed("tune.s_scheds", [CONSTANT])
        schedules = st.multiselect(
            "lr schedules", searchable_schedules(), key="tune.s_scheds", persist_state=KEEP,
            help="the search picks one per trial and searches its parameters over ranges "
            "scaled to the run's steps (listed under the form); none: a constant lr. "
            "OneCycleLR and CyclicLR set their own lr: the lr range is their max_lr",
        )  # fmt: skip
        c1, c2, c3, c4, c5 = st.columns([1.9, 1.2, 1.5, 0.9, 0.8])
        lr_range = c1.select_slider("lr from … to (log)", DECADES, value=(1e-4, 1.0),
                                    key="tune.s_lr", persist_state=KEEP,
                                    format_func=lambda v: f"{v:g}")  # fmt: skip
        seed("tune.s_sampler", "tpe")
        sampler = c2.selectbox("sampler", list(SAMPLERS), format_func=SAMPLERS.get,
                               key="tune.s_sampler", persist_state=KEEP)  # fmt: skip
        seed("tune.s_pruner", "none")
        pruner = c3.selectbox(
            "pruner", list(PRUNERS), format_func=PRUNERS.get, key="tune.s_pruner",
            persist_state=KEEP,
            help="Hyperband stops poor trials early: steps are its resource",
        )  # fmt: skip
        seed("tune.s_trials", 200)
        n = c4.number_input("trials", min_value=1, max_value=MAX_SEARCH_TRIALS, step=50,
                            key="tune.s_trials", persist_state=KEEP)  # fmt: skip
        seed("tune.s_seed", 0)
        rng = c5.number_input("seed", min_value=0, step=1, key="tune.s_seed", persist_state=KEEP)
        run = st.form_submit_button("Run search", icon=":material/play_arrow:", type="primary")
    if not run:
        return None
    return Request(opts or racing, knobs, schedules or [CONSTANT], lr_range, sampler, pruner,
                   int(n), int(rng))  # fmt: skip


def ranges_caption(steps: int) -> None:
    """What each schedule's parameters are searched over in this run (its steps, and the lr
    range of the form as last run), under the form: a form sends its values on submit only."""
    lo, hi = st.session_state.get("tune.s_lr", (1e-4, 1.0))
    names = [s for s in searchable_schedules() if s != CONSTANT]
    if not lo < hi:
        return
    with st.expander(f"Schedule search ranges ({steps} steps, lr {lo:g} … {hi:g})"):
        lines = []
        for name in names:
            try:
                lines.append(
                    f"- **{name}**: {_ranges_of(schedule_space([name], steps, lo, hi), name)}"
                )
            except ValueError as err:
                lines.append(f"- **{name}**: {plain(err)}")
        st.markdown("\n".join(lines))


def _ranges_of(space: dict, name: str) -> str:
    parts = [f"`{key.partition('.')[2]}` {describe(dim)}" for key, dim in space.items()
             if key.startswith(f"{name}.")]  # fmt: skip
    return ", ".join(parts) or "nothing to search"


def describe(dim) -> str:
    """A dimension in a few characters: "25 … 250 (log)", "= 500"."""
    if isinstance(dim, Choice):
        return "= " + " | ".join(str(v) for v in dim.values)
    if isinstance(dim, Int):
        return f"{int(dim.low)} … {int(dim.high)}" + (" (log)" if dim.log else "")
    return f"{number(dim.low)} … {number(dim.high)}" + (" (log)" if dim.log else "")


def search_space(
    opts, knobs, lo: float, hi: float, schedules=(CONSTANT,), steps: int = 500
) -> tuple[dict, list[str]]:
    """Optuna space over ``opts``: lr in [lo, hi] (log), the ``knobs`` some optimizer has
    (search.default_space's ranges), and, unless only a constant lr is chosen, the
    ``schedules`` with their parameters' ranges for a run of ``steps`` (ValueError if one
    cannot run that long); and the knobs left out because no optimizer has them."""
    known = set()
    for name in opts:
        params = {p.name for p in OPTIMIZERS[name].params}
        known |= params | ({"beta1", "beta2"} if "betas" in params else set())
    ranges = default_space(tuple(opts))
    space = {"optimizer": Choice(tuple(opts)), "lr": Float(lo, hi, log=True)}
    space |= {k: ranges[k] for k in knobs if k in known}
    if list(schedules) != [CONSTANT]:
        space |= schedule_space(schedules, steps, lo, hi)
    return space, [k for k in knobs if k not in known]


def searched(space: dict, left_out: list[str]) -> str:
    """What a search over ``space`` varied, in words: "optimizer, lr, momentum, schedule
    (none, StepLR: 2 parameters)"; values every trial shares are not counted."""
    keys = [k for k in space if "." not in k and k != "schedule"]
    text = ", ".join(keys)
    if "schedule" in space:
        varied = [k for k, d in space.items() if "." in k and not _fixed(d)]
        names = ", ".join(space["schedule"].values)
        text += f", schedule ({names}: {len(varied)} parameter{'s' * (len(varied) != 1)})"
    return text + (f" ({', '.join(left_out)}: no chosen optimizer has it)" if left_out else "")


def _fixed(dim) -> bool:
    return isinstance(dim, Choice) and len(dim.values) == 1


def base_spec(specs, optimizer: str) -> RunSpec:
    """The run every trial varies: the race's surface, start, steps and noise, a constant lr
    (a trial whose schedule is searched gets it from the space), and the settings of the
    first racer with ``optimizer`` for what the search does not vary."""
    same = [s for s in specs if s.optimizer == optimizer]
    h = same[0].h if same else {}
    return specs[0].with_(
        optimizer=optimizer, hyperparameters=h, schedule=CONSTANT, schedule_params={},
        sam_rho=0.0, label="",
    )  # fmt: skip
