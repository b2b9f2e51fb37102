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

from optim_core.report import number
from optim_core.search import open_storage, search
from optim_core.search_space import grid_points
from optim_core.spec import RunSpec

from . import search_views
from .search_form import (
    SAMPLERS,
    Request,
    base_spec,
    form,
    ranges_caption,
    search_space,
    searched,
)
from .search_views import Found
from .text import plain
from .widgets import KEEP

# The app reports progress itself; Optuna's per-trial INFO lines would flood the server log.
optuna.logging.set_verbosity(optuna.logging.WARNING)

TPE_BATCH = 16  # TPE learns between rounds only (search.py): small rounds
PROGRESS_ROUNDS = 20  # random and grid: about this many progress updates per search
FOUND = "tune.found"


def render(specs) -> None:
    mode = st.radio(
        "study", ("Run a search here", "Attach to a running study"), horizontal=True,
        key="tune.search_mode", persist_state=KEEP, label_visibility="collapsed",
    )  # fmt: skip
    if mode == "Run a search here":
        _search_here(specs)
    else:
        _attach(specs)


def _search_here(specs) -> None:
    request = form(specs)
    if request is not None:
        _run(specs, request)
    ranges_caption(specs[0].steps)
    found = st.session_state.get(FOUND)
    if found is None:
        st.caption(
            "Each trial races one setting from the race's start on its surface for its steps, "
            "with a constant lr or, where schedules are chosen, one of them; its value is the "
            "final loss (a run that diverged counts as the worst). Trials run in batches "
            "through the Numba engine."
        )
        return
    search_views.show_study(found, specs, "tune.s")


def _run(specs, r: Request) -> None:
    lo, hi = r.lr_range
    if not lo < hi:
        st.error(f"Not run: 'lr' needs a range, from < to; got {lo:g} … {hi:g}")
        return
    base = base_spec(specs, r.optimizers[0])
    try:
        space, left_out = search_space(r.optimizers, r.knobs, lo, hi, r.schedules, base.steps)
    except ValueError as err:
        st.error(f"Not run: {plain(err)}", icon=":material/block:")
        return
    try:
        points = grid_points(space) if r.sampler == "grid" else 0
    except ValueError as err:
        st.error(f"Not run: {plain(err)}", icon=":material/block:")
        return
    n = r.trials
    total = min(n, points) if r.sampler == "grid" else n
    batch = TPE_BATCH if r.sampler == "tpe" else max(32, math.ceil(total / PROGRESS_ROUNDS))
    bar = st.progress(0.0, text=f"0 / {total} trials")

    def progress(done: int) -> None:
        bar.progress(min(done / total, 1.0), text=f"{done} / {total} trials")

    began = time.perf_counter()
    pruner = None if r.pruner == "none" else r.pruner
    try:
        # A fixed name: Hyperband assigns brackets by hashing it, so a seed repeats a search.
        study = search(base, space, r.sampler, n, batch, study_name="tune", seed=r.seed,
                       pruner=pruner, progress=progress)  # fmt: skip
    except ValueError as err:
        bar.empty()
        st.error(f"Not run: {plain(err)}", icon=":material/block:")
        return
    seconds = time.perf_counter() - began
    trials = tuple(study.get_trials(deepcopy=False))
    how = f"{SAMPLERS[r.sampler]} search" + (" with Hyperband" if pruner else "")
    rate = len(trials) / max(seconds, 1e-9)
    summary = (f"{len(trials)} trials of {how} over {searched(space, left_out)} in "
               f"{number(seconds)} s ({rate:,.0f} trials/s)")  # fmt: skip
    st.session_state[FOUND] = Found(trials, base, summary, f"run{time.time_ns()}")


# ---- attach to a study that workers fill ------------------------------------------------

WATCH_SECONDS = 5
ATTACHED = "tune.attached"
CONNECT_TIMEOUT_S = 5  # libpq waits for an unreachable server for minutes by default


class AttachError(ValueError):
    """A storage or study that cannot be read, said in one line for the page."""


def _attach(specs) -> None:
    left, right = st.columns([3, 2])
    storage = left.text_input(
        "storage", key="tune.a_storage", persist_state=KEEP,
        placeholder="study.journal  or  postgresql+psycopg2://user@host/db",
        help="a journal file on this server (as the workers' --storage), or an Optuna RDB URL",
    ).strip()  # fmt: skip
    name = right.text_input(
        "study name", key="tune.a_study", persist_state=KEEP, help="the workers' --study"
    ).strip()
    watch = st.toggle(
        f"Watch: reload every {WATCH_SECONDS} s", key="tune.a_watch", persist_state=KEEP
    )
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
