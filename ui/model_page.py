"""The model mode: train racers on a small real model and watch boundaries, curves, plane.

Sidebar widgets in, a ``ModelSetup`` out (validated once there); the trained race and its
loss plane are cached by the setup, so moving the plane's kind retrains nothing.
"""

from dataclasses import replace

import numpy as np
import streamlit as st

from common.limits import MAX_STEPS
from landscapes.models import DATASETS, pca_plane, random_plane, top_hessian_eigenvalue
from landscapes.models.data import MAX_CSV_BYTES, MAX_ROWS, SPLIT
from landscapes.models.mlp import ACTIVATIONS, MAX_DEPTH, MAX_WIDTH
from optim_core.config import Racer as RacerSetting
from optim_core.exports import model_race_csv
from optim_core.models import train
from optim_core.models.export import to_pytorch_model
from optim_core.models.lessons import MODEL_LESSONS
from optim_core.models.setup import CSV, DEFAULT_RACERS, PLANES, ModelSetup
from optim_core.spec import freeze, thaw_dict
from viz import race_figure
from viz.model import curves_figure, decision_figure, plane_runs, plane_surface
from viz.race_payload import race_payload

from . import sidebar
from .export_tab import download_buttons
from .race_chart import race_chart
from .text import plain
from .widgets import param_widget, seed

PLANE_FRAMES = 120  # frames of ▶ Play on the loss plane
PREFIX = "m"  # racer widget keys of this mode: m0.optimizer, ... (the surface's are r0...)


@st.cache_data(max_entries=32, show_spinner="Training the racers…")
def _race(setup: ModelSetup):
    return train(setup.dataset, setup.mlp, setup.model_racers, setup.config)


@st.cache_resource(max_entries=32, show_spinner="Evaluating the loss plane…")
def _plane(setup: ModelSetup, kind: str):
    """(plane, its surface): one object per setup, so the surface's rendered image is
    cached too (a new Surface each rerun would render it again)."""
    race = _race(setup)
    if kind == "random":
        finite = [r for r in range(len(race.racers)) if np.isfinite(race.final[r]).all()]
        centre = race.final[finite[0]] if finite else race.start
        plane = random_plane(setup.mlp, setup.dataset, centre, race.weights)
    else:
        plane = pca_plane(setup.mlp, setup.dataset, race.weights, race.start)
    return plane, plane_surface(plane)


@st.cache_data(max_entries=32, show_spinner="Power iteration on the Hessian…")
def _sharpness(setup: ModelSetup) -> np.ndarray:
    race = _race(setup)
    return np.atleast_1d(top_hessian_eigenvalue(setup.mlp, setup.dataset, race.final))


@st.cache_data(max_entries=32, show_spinner=False)
def _script(setup: ModelSetup) -> str:
    data_spec = {"name": setup.data, **thaw_dict(setup.data_params)}
    return to_pytorch_model(data_spec, setup.mlp, setup.model_racers, setup.config)


def load_link(query: dict) -> None:
    """First visit in the model mode: the link's setup into the widgets, its warnings kept."""
    setup = ModelSetup.from_query(query)
    load(setup)
    st.session_state["md.warnings"] = list(setup.warnings)


def setup_of_lesson(lesson) -> ModelSetup:
    """The race a model lesson sets up, as the widgets hold it."""
    racers = tuple(
        RacerSetting(r.optimizer, r.hyperparameters, r.schedule, r.schedule_params, r.label,
                     r.sam_rho)
        for r in lesson.racers
    )  # fmt: skip
    c = lesson.config
    return ModelSetup(
        data=lesson.data, data_params=freeze(lesson.data_params),
        model=freeze(lesson.model_params), racers=racers, steps=c.steps,
        batch_size=c.batch_size, seed=c.seed, patience=c.patience,
    )  # fmt: skip


KEPT = ("md.lesson", "md.warnings", "md.lesson.pick")  # not settings: a load keeps them


def load(setup: ModelSetup) -> None:
    """Put a setup (a link, a lesson, the mode switched back) into this mode's widgets; call
    it before they are drawn (directly on a first visit, else through ``queue``)."""
    state = st.session_state
    for key in [k for k in state if isinstance(k, str) and k.startswith(("md.", PREFIX))]:
        if key in KEPT:
            continue
        if key.startswith("md.") or key[len(PREFIX) : len(PREFIX) + 1].isdigit():
            del state[key]
    state["md.data"] = setup.data
    for name, value in setup.data_params:
        state[f"md.{setup.data}.{name}"] = value
    model = thaw_dict(setup.model)
    state["md.depth"], state["md.width"] = model["depth"], model["width"]
    state["md.activation"], state["md.dropout"] = model["activation"], model["dropout"]
    state["md.steps"] = setup.steps
    state["md.batch"] = setup.batch_size or 0
    state["md.seed"] = setup.seed
    state["md.early"] = setup.patience is not None
    state["md.patience"] = setup.patience or 5
    state["md.plane"] = setup.plane
    sidebar.load_racers(setup.racers, PREFIX)


def render_sidebar() -> dict:
    """The mode's widgets; returns the ModelSetup's fields (validated by the caller)."""
    sb = st.sidebar
    pending = st.session_state.pop("pending.model", None)
    if pending is not None:  # a lesson picked on the last run: loaded before the widgets exist
        load(pending)
    lesson_id = sb.selectbox("Lesson", ["", *MODEL_LESSONS], key="md.lesson.pick",
                             format_func=_lesson_title)  # fmt: skip
    if sb.button("Load lesson", disabled=not lesson_id, width="stretch", key="md.lesson.load"):
        st.session_state["pending.model"] = setup_of_lesson(MODEL_LESSONS[lesson_id])
        st.session_state["md.lesson"] = lesson_id
        st.rerun()
    names = [*DATASETS, CSV]
    seed("md.data", "moons")
    data = sb.selectbox("Data set", names, key="md.data", format_func=_data_title)
    entry = DATASETS.get(data)
    if entry:
        sb.caption(entry.description)
    csv_text, label_column = _csv_inputs(sb) if data == CSV else ("", "")
    params = {}
    with sb.expander("Data settings", expanded=False):
        for p in (entry.params if entry else ()) + SPLIT:
            params[p.name] = param_widget(p, f"md.{data}.{p.name}", p.default)
    sb.subheader("Model")
    left, right = sb.columns(2)
    seed("md.depth", 2)
    depth = int(left.number_input("hidden layers", 0, MAX_DEPTH, key="md.depth",
                                  help="0: logistic regression (convex)"))  # fmt: skip
    seed("md.width", 16)
    width = int(right.number_input("width", 1, MAX_WIDTH, key="md.width", disabled=depth == 0))
    left, right = sb.columns(2)
    seed("md.activation", "tanh")
    activation = left.selectbox("activation", list(ACTIVATIONS), key="md.activation")
    seed("md.dropout", 0.0)
    dropout = float(right.number_input("dropout", 0.0, 0.89, key="md.dropout", step=0.1))
    sb.subheader("Training")
    left, right = sb.columns(2)
    seed("md.steps", 500)
    steps = int(left.number_input("Steps", 1, MAX_STEPS, key="md.steps", step=100))
    seed("md.batch", 0)
    batch = int(right.number_input("batch size", 0, MAX_ROWS, key="md.batch", step=32,
                                   help="0: the full batch"))  # fmt: skip
    left, right = sb.columns(2)
    seed("md.seed", 0)
    init_seed = int(left.number_input("seed", 0, None, key="md.seed",
                                      help="initial weights, batch order, dropout"))  # fmt: skip
    seed("md.early", False)
    early = right.toggle("early stopping", key="md.early", help="on validation loss")
    patience = None
    if early:
        seed("md.patience", 5)
        patience = int(sb.number_input("patience (evaluations)", 1, None, key="md.patience"))
    racers = sidebar.racer_inputs(sb, steps, PREFIX, DEFAULT_RACERS)
    seed("md.plane", "pca")
    plane = sb.radio("Loss plane", PLANES, key="md.plane", horizontal=True,
                     format_func=lambda k: {"pca": "PCA of the paths",
                                            "random": "random (filter-norm.)"}[k])  # fmt: skip
    return dict(
        data=data, data_params=freeze(params),
        model=freeze({"depth": depth, "width": width, "activation": activation,
                      "dropout": dropout}),
        racers=tuple(racers), steps=steps, batch_size=batch or None,
        seed=init_seed, patience=patience, plane=plane, csv_text=csv_text,
        label_column=label_column,
    )  # fmt: skip


def _lesson_title(key: str) -> str:
    return MODEL_LESSONS[key].title if key else "— free play —"


def _data_title(name: str) -> str:
    return "Your CSV file…" if name == CSV else name.replace("_", " ")


def _csv_inputs(sb) -> tuple[str, str]:
    upload = sb.file_uploader(
        f"CSV file (≤ {MAX_CSV_BYTES // 1_000_000} MB)", type=["csv", "txt"], key="md.csv",
        help="numeric feature columns and a label column; a header row is optional",
    )  # fmt: skip
    seed("md.label", "")
    label = sb.text_input("label column", key="md.label", placeholder="the last column")
    if upload is None:
        return "", label
    data = upload.getvalue()
    return (data.decode("utf-8", errors="replace") if len(data) <= MAX_CSV_BYTES else ""), label


def render() -> None:
    """The whole model page (the sidebar's mode switch has been drawn)."""
    values = render_sidebar()
    for warning in st.session_state.pop("md.warnings", []):
        st.warning(plain(warning), icon=":material/warning:")
    try:
        setup = ModelSetup(**values)
    except ValueError as err:
        st.error(f"Not trained: {plain(err)}", icon=":material/block:")
        st.stop()
    st.query_params.from_dict(setup.to_query())  # with data=csv a reader is asked to upload
    st.session_state["saved.model"] = setup  # restored when the mode is switched back
    trained = replace(setup, plane=PLANES[0])  # the race does not depend on the plane
    race = _race(trained)
    lesson = MODEL_LESSONS.get(st.session_state.get("md.lesson", ""))
    if lesson and setup_of_lesson(lesson) == setup:
        st.info(f"**{plain(lesson.title)}.** {plain(lesson.watch)}", icon=":material/school:")
    st.caption(plain(setup.description) + " · press ▶ to replay training")
    if race.frames is not None:
        st.plotly_chart(decision_figure(race, setup.dataset), width="stretch", key="m.decision",
                        config={"displaylogo": False})  # fmt: skip
    else:
        n = setup.dataset.n_features
        st.info(
            f"{n} features: no decision-boundary view (it needs 2); the curves and the loss "
            "plane show the race.",
            icon=":material/info:",
        )
    st.caption("Curves: solid = training, dashed = validation, dotted = momentum / β₁.")
    st.plotly_chart(curves_figure(race), width="stretch", key="m.curves",
                    config={"displaylogo": False})  # fmt: skip
    plane, surface = _plane(trained, setup.plane)
    st.markdown(f"**Loss plane** — {plain(surface.lesson)}")
    seed("md.view", "2d")
    view = st.radio("plane view", ("2d", "3d"), key="md.view", horizontal=True,
                    format_func=str.upper, label_visibility="collapsed")  # fmt: skip
    runs = plane_runs(race, plane)
    # The PCA plane passes through the common start (its origin); the random plane is centred
    # on racer 1's end, so there the paths' own first points mark the start.
    start = (0.0, 0.0) if plane.kind == "pca" else None

    def figure():  # the plane race as a Plotly figure, for the HTML and PNG files
        return race_figure(surface, (), runs, start=start, max_frames=PLANE_FRAMES,
                           show_3d=view == "3d")  # fmt: skip

    if view == "3d":
        st.plotly_chart(figure(), width="stretch", key="m.plane", config={"displaylogo": False})
    else:
        payload = race_payload(surface, (), runs, start=start, frames=PLANE_FRAMES)
        race_chart(payload, key="m.plane2d")  # no start to move: a click does nothing
    results, code, files = st.tabs(["Results", "Copy as PyTorch", "Export"])
    with results:
        rows = _results(race)
        sam = any(r.sam_rho for r in race.racers)
        if st.toggle("sharpness: top Hessian eigenvalue at each end point", value=sam,
                     key="md.sharp"):  # fmt: skip
            rows["top Hessian eigenvalue"] = [_num(v) for v in _sharpness(trained)]
        st.dataframe(rows, hide_index=True, width="stretch")
    with files:
        st.caption("The loss-plane race as a video or a page, and the curves as CSV; the "
                   "address bar holds the whole setup.")  # fmt: skip
        table = ("CSV (curves)", lambda: model_race_csv(race), "model-race.csv", "text/csv")
        download_buttons(runs, surface, (), figure, start, [table], prefix="mx")
    with code:
        if setup.data == CSV:
            st.info("Copy as PyTorch rebuilds the registry's data sets; an uploaded file is "
                    "not embedded.", icon=":material/info:")  # fmt: skip
        else:
            st.code(_script(trained), language="python")


def _results(race) -> dict:
    last = [int(np.flatnonzero(np.isfinite(v))[-1]) if np.isfinite(v).any() else -1
            for v in race.val_loss]  # fmt: skip
    return {
        "racer": [r.label for r in race.racers],
        "optimizer": [r.optimizer for r in race.racers],
        "schedule": [r.schedule for r in race.racers],
        "result": [race.message(i) for i in range(len(race.racers))],
        "val loss": [_num(race.val_loss[i, k]) for i, k in enumerate(last)],
        "val accuracy": [_num(race.val_accuracy[i, k], "{:.1%}") for i, k in enumerate(last)],
        "train loss": [_num(race.eval_train_loss[i, k]) for i, k in enumerate(last)],
    }


def _num(value, form: str = "{:.3g}") -> str:
    return form.format(value) if np.isfinite(value) else "—"
