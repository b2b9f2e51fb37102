"""The Tune tab's search: Optuna on the race's surface, the study's views, its trials on the
landscape, and one click to race a trial; and the same for a study that workers fill.

A finished search is kept in ``st.session_state`` as its frozen trials, so reruns (any
slider in the sidebar) redraw it without searching again.
"""

import contextlib
import math
import os
import time

import optuna
import streamlit as st

from common.limits import MAX_SEARCH_TRIALS
from optim_core.optimizers import OPTIMIZERS
from optim_core.report import number
from optim_core.search import Choice, Float, default_space, open_storage, search
from optim_core.spec import RunSpec

from . import search_views
from .search_views import Found
from .text import plain
from .widgets import seed

# The app reports progress itself; Optuna's per-trial INFO lines would flood the server log.
optuna.logging.set_verbosity(optuna.logging.WARNING)

DECADES = tuple(10.0**k for k in range(-6, 3))
SAMPLERS = {"tpe": "TPE", "random": "random", "grid": "grid"}
PRUNERS = {"none": "none", "hyperband": "Hyperband (steps)"}
# Hyperparameters the search may vary (search.default_space's ranges); weight decay is off by
# default: on a 2D surface it pulls every run towards the origin, away from the minimum.
KNOBS = ("momentum", "beta1", "beta2", "weight_decay")
DEFAULT_KNOBS = ("momentum", "beta1", "beta2")
TPE_BATCH = 16  # TPE learns between rounds only (search.py): small rounds
PROGRESS_ROUNDS = 20  # random and grid: about this many progress updates per search
FOUND = "tune.found"


def render(specs) -> None:
    mode = st.radio(
        "study", ("Run a search here", "Attach to a running study"), horizontal=True,
        key="tune.search_mode", label_visibility="collapsed",
    )  # fmt: skip
    if mode == "Run a search here":
        _search_here(specs)
    else:
        _attach(specs)


def _search_here(specs) -> None:
    racing = list(dict.fromkeys(s.optimizer for s in specs))
    with st.form("tune.search_form", border=True):
        a, b = st.columns(2)
        seed("tune.s_opts", racing)
        opts = a.multiselect(
            "optimizers", list(OPTIMIZERS), key="tune.s_opts",
            help="the search picks one per trial; default: the race's",
        )  # fmt: skip
        seed("tune.s_knobs", list(DEFAULT_KNOBS))
        knobs = b.multiselect(
            "also search", KNOBS, key="tune.s_knobs",
            help="besides lr; each only for the optimizers that have it",
        )  # fmt: skip
        c1, c2, c3, c4, c5 = st.columns([2.2, 1, 1.3, 1, 0.8])
        lr_range = c1.select_slider("lr from … to (log)", DECADES, value=(1e-4, 1.0),
                                    key="tune.s_lr", format_func=lambda v: f"{v:g}")  # fmt: skip
        seed("tune.s_sampler", "tpe")
        sampler = c2.selectbox("sampler", list(SAMPLERS), format_func=SAMPLERS.get,
                               key="tune.s_sampler")  # fmt: skip
        seed("tune.s_pruner", "none")
        pruner = c3.selectbox("pruner", list(PRUNERS), format_func=PRUNERS.get,
                              key="tune.s_pruner")  # fmt: skip
        seed("tune.s_trials", 200)
        n = c4.number_input("trials", min_value=1, max_value=MAX_SEARCH_TRIALS, step=50,
                            key="tune.s_trials")  # fmt: skip
        seed("tune.s_seed", 0)
        rng = c5.number_input("seed", min_value=0, step=1, key="tune.s_seed")
        run = st.form_submit_button("Run search", icon=":material/play_arrow:", type="primary")
    if run:
        _run(specs, opts or racing, knobs, lr_range, sampler, pruner, int(n), int(rng))
    found = st.session_state.get(FOUND)
    if found is None:
        st.caption(
            "Each trial races one setting from the race's start on its surface for its steps, "
            "with a constant lr; its value is the final loss (a run that diverged counts as "
            "the worst). Trials run in batches through the Numba engine."
        )
        return
    search_views.show_study(found, specs, "tune.s")


def _run(specs, opts, knobs, lr_range, sampler, pruner, n, rng) -> None:
    lo, hi = lr_range
    if not lo < hi:
        st.error(f"Not run: 'lr' needs a range, from < to; got {lo:g} … {hi:g}")
        return
    space, left_out = search_space(opts, knobs, lo, hi)
    base = base_spec(specs, opts[0])
    total = min(n, grid_size(space)) if sampler == "grid" else n
    batch = TPE_BATCH if sampler == "tpe" else max(32, math.ceil(total / PROGRESS_ROUNDS))
    bar = st.progress(0.0, text=f"0 / {total} trials")

    def progress(done: int) -> None:
        bar.progress(min(done / total, 1.0), text=f"{done} / {total} trials")

    began = time.perf_counter()
    try:
        # A fixed name: Hyperband assigns brackets by hashing it, so a seed repeats a search.
        study = search(base, space, sampler, n, batch, study_name="tune", seed=rng,
                       pruner=None if pruner == "none" else pruner, progress=progress)  # fmt: skip
    except ValueError as err:
        bar.empty()
        st.error(f"Not run: {plain(err)}", icon=":material/block:")
        return
    seconds = time.perf_counter() - began
    trials = tuple(study.get_trials(deepcopy=False))
    how = f"{SAMPLERS[sampler]} search" + (" with Hyperband" if pruner != "none" else "")
    note = f" ({', '.join(left_out)}: no chosen optimizer has it)" if left_out else ""
    rate = len(trials) / max(seconds, 1e-9)
    summary = (f"{len(trials)} trials of {how} over {', '.join(space)}{note} in "
               f"{number(seconds)} s ({rate:,.0f} trials/s)")  # fmt: skip
    st.session_state[FOUND] = Found(trials, base, summary, f"run{time.time_ns()}")


def search_space(opts, knobs, lo: float, hi: float) -> tuple[dict, list[str]]:
    """Optuna space over ``opts``: lr in [lo, hi] (log), the ``knobs`` some optimizer has
    (search.default_space's ranges); and the knobs left out because none has them."""
    known = set()
    for name in opts:
        params = {p.name for p in OPTIMIZERS[name].params}
        known |= params | ({"beta1", "beta2"} if "betas" in params else set())
    ranges = default_space(tuple(opts))
    space = {"optimizer": Choice(tuple(opts)), "lr": Float(lo, hi, log=True)}
    space |= {k: ranges[k] for k in knobs if k in known}
    return space, [k for k in knobs if k not in known]


def base_spec(specs, optimizer: str) -> RunSpec:
    """The run every trial varies: the race's surface, start, steps and noise, a constant lr
    (a schedule that sets its own lr would make lr meaningless), and the settings of the
    first racer with ``optimizer`` for what the search does not vary."""
    same = [s for s in specs if s.optimizer == optimizer]
    h = same[0].h if same else {}
    return specs[0].with_(
        optimizer=optimizer, hyperparameters=h, schedule="none", schedule_params={},
        sam_rho=0.0, label="",
    )  # fmt: skip


def grid_size(space: dict) -> int:
    return math.prod(len(d.grid_values()) for d in space.values())


# ---- attach to a study that workers fill ------------------------------------------------

WATCH_SECONDS = 5
ATTACHED = "tune.attached"
CONNECT_TIMEOUT_S = 5  # libpq waits for an unreachable server for minutes by default


class AttachError(ValueError):
    """A storage or study that cannot be read, said in one line for the page."""


def _attach(specs) -> None:
    left, right = st.columns([3, 2])
    storage = left.text_input(
        "storage", key="tune.a_storage",
        placeholder="study.journal  or  postgresql+psycopg2://user@host/db",
        help="a journal file on this server (as the workers' --storage), or an Optuna RDB URL",
    ).strip()  # fmt: skip
    name = right.text_input("study name", key="tune.a_study", help="the workers' --study").strip()
    watch = st.toggle(f"Watch: reload every {WATCH_SECONDS} s", key="tune.a_watch")
    st.caption(
        "Workers add trials with `python -m optim_core.search_worker --storage … --study … "
        "--trials N`; this view reads the same storage."
    )

    @st.fragment(run_every=WATCH_SECONDS if watch else None)
    def live() -> None:
        reload = st.button("Reload now", icon=":material/refresh:", key="tune.a_reload")
        held = st.session_state.get(ATTACHED)
        if not (storage and name):
            st.caption("Give a storage and a study name.")
            return
        if reload or watch or held is None or held.key != f"{storage}|{name}":
            try:
                held = load_study(storage, name, specs)
            except AttachError as err:
                st.session_state.pop(ATTACHED, None)
                st.error(plain(err), icon=":material/error:")
                return
            st.session_state[ATTACHED] = held
        search_views.show_study(held, specs, "tune.a")

    live()


@st.cache_resource(max_entries=8, show_spinner=False)
def _storage(text: str):
    # Kept open across reruns: a journal storage then reads only what workers appended.
    if text.startswith("postgresql"):
        kwargs = {"connect_args": {"connect_timeout": CONNECT_TIMEOUT_S}}
        return optuna.storages.RDBStorage(text, engine_kwargs=kwargs)
    return open_storage(text)


def check_storage(storage: str) -> None:
    """AttachError unless this server lets a visitor read ``storage``: a file (journal or
    SQLite) inside the studies folder (``OPTIM_LAB_STUDIES``, else the folder the server was
    started in, where workers write by default), or an RDB URL the server lists in
    ``OPTIM_LAB_STORAGES`` (comma-separated). A class server must not open any path or host
    a visitor types (Optuna would even create its tables in any SQLite file)."""
    path = storage.removeprefix("sqlite:///") if storage.startswith("sqlite:///") else None
    path = storage if "://" not in storage else path
    if path is None:
        listed = [u.strip() for u in os.environ.get("OPTIM_LAB_STORAGES", "").split(",")]
        if storage not in listed:
            raise AttachError(
                f"storage: {storage!r} is not among the URLs this server lists in "
                "OPTIM_LAB_STORAGES; ask whoever runs it to add it"
            )
        return
    folder = os.path.realpath(os.environ.get("OPTIM_LAB_STUDIES") or os.getcwd())
    where = os.path.realpath(os.path.join(folder, os.path.expanduser(path)))
    if os.path.commonpath([folder, where]) != folder:
        raise AttachError(f"storage: {storage!r} lies outside the studies folder {folder!r}")


def load_study(storage: str, name: str, specs) -> Found:
    """The study's trials, or AttachError naming what is wrong (never a traceback)."""
    check_storage(storage)
    path = storage.removeprefix("sqlite:///") if storage.startswith("sqlite:///") else None
    path = storage if "://" not in storage else path
    # Opening a missing file would create an empty study file: report it instead.
    if path is not None and not os.path.isfile(os.path.expanduser(path)):
        raise AttachError(f"storage: no file {storage!r} on this server")
    try:
        backend = _storage(os.path.expanduser(storage) if "://" not in storage else storage)
        names = optuna.get_all_study_names(backend)
        if name not in names:
            held = ", ".join(sorted(names)[:10]) or "no study yet"
            raise AttachError(f"study name: no study {name!r} in {storage!r} (it holds: {held})")
        study = optuna.load_study(study_name=name, storage=backend)
        trials = tuple(study.get_trials(deepcopy=False))
        base_json = study.user_attrs.get("base_spec")
    except AttachError:
        raise
    except Exception as err:  # storages raise SQLAlchemy, OS, JSON and import errors alike
        raise AttachError(f"storage: cannot read {storage!r}: {type(err).__name__}: {err}") from err
    base, note = specs[0], " (the study records no base run: drawn on the race's surface)"
    if isinstance(base_json, str):
        with contextlib.suppress(ValueError):  # a record we cannot read: the race's surface
            base, note = RunSpec.from_json(base_json), ""
    summary = f"{len(trials)} trials in study {name!r}{note}, read {time.strftime('%H:%M:%S')}"
    return Found(trials, base, summary, f"{storage}|{name}")
