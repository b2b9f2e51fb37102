"""The surface mode: racers on a 2D surface, its maps, and the PyTorch export."""

import streamlit as st

from optim_core import share
from optim_core.config import LabConfig, config_from_lesson
from optim_core.engines import numba_engine
from optim_core.export import to_pytorch
from optim_core.lessons import LESSONS, follow_lesson
from optim_core.report import COLUMNS, WIDTHS, results_rows
from viz import race_figure, surface_3d_figure

from . import maps as maps_ui
from . import sidebar
from .clicks import take_click
from .export_tab import export_tab
from .text import plain

RACE_HEIGHT = 640  # px: the whole race and the tabs' heads fit a 1280 x 800 projector
RACE_FRAMES = 120  # smooth at ~40 ms a frame; each frame re-sends every path (JSON grows ~n²)
# The race needs zoom, pan, reset and a PNG; a click already selects, so no box or lasso.
TRIMMED = ["select2d", "lasso2d", "zoomIn2d", "zoomOut2d", "autoScale2d"]


@st.cache_data(max_entries=512, show_spinner=False)
def simulate(spec):
    return numba_engine.run(spec)


def load_link(query: dict) -> None:
    """First visit: the URL is the configuration (a shared link); bad values become warnings."""
    shared = share.from_query(query, lessons=tuple(LESSONS))
    if shared.lesson in LESSONS and "racer" not in query:  # a link to a lesson by name
        shared = config_from_lesson(LESSONS[shared.lesson])
    try:
        sidebar.load(shared)
    except ValueError as err:
        shared = LabConfig(warnings=(*shared.warnings, f"shared configuration ignored: {err}"))
        sidebar.load(shared)
    st.session_state["url_warnings"] = list(shared.warnings)
    st.session_state["lesson"] = shared.lesson if shared.lesson in LESSONS else ""
    st.session_state["lesson.pick"] = st.session_state["lesson"]


def restore(config: LabConfig) -> None:
    """The surface setup this session had before it switched to the model mode."""
    sidebar.load(config)
    st.session_state["lesson.pick"] = st.session_state.get("lesson", "")


def render() -> None:
    # Before the widgets of this run exist: a click on the surface moves the start, and a
    # setting picked on the sensitivity map goes into its racer.
    take_click("race")
    sidebar.apply_pending()

    with st.sidebar:
        lesson_id = st.selectbox(
            "Lesson", ["", *LESSONS], format_func=_lesson_title, key="lesson.pick"
        )
        if st.button("Load lesson", disabled=not lesson_id, width="stretch"):
            sidebar.load(config_from_lesson(LESSONS[lesson_id]))
            st.session_state["lesson"] = lesson_id
            st.rerun()

    config = sidebar.render()

    for warning in st.session_state.pop("url_warnings", []):
        st.warning(plain(warning), icon=":material/warning:")

    try:
        specs = config.specs()
    except ValueError as err:
        st.error(f"Not run: {plain(err)}", icon=":material/block:")
        st.stop()

    st.session_state["saved.surface"] = config  # restored when the mode is switched back
    lesson = LESSONS.get(st.session_state.get("lesson", ""))
    if lesson:  # an edited lesson says so, and its edited runs are named from their settings
        config, changed = follow_lesson(lesson, config)
        specs = config.specs()
    st.query_params.from_dict(share.to_query(config))
    surface = specs[0].surface_def
    args = tuple(v for _, v in specs[0].surface_params)
    runs = [(s.label, simulate(s)) for s in specs]

    if lesson:
        edited = f" *(modified: {plain(', '.join(changed))})*" if changed else ""
        st.info(f"**{lesson.title}.**{edited} {lesson.watch}", icon=":material/school:")
    st.caption(
        f"{plain(surface.title)}: ${surface.formula}$ · engine: numba (CPU) · press ▶ to race"
    )

    if config.view == "3d":
        figure = surface_3d_figure(surface, args, runs)
        st.plotly_chart(figure, width="stretch", key="race3d")
    else:
        figure = race_figure(
            surface, args, runs, start=specs[0].start, max_frames=RACE_FRAMES, height=RACE_HEIGHT
        )
        st.plotly_chart(
            figure, key="race", on_select="rerun", selection_mode="points", width="stretch",
            config={"displaylogo": False, "scrollZoom": False, "modeBarButtonsToRemove": TRIMMED},
        )  # fmt: skip

    tabs = ["Results", "Update rules", "Copy as PyTorch", "Export", "Basins", "Sensitivity",
            "Noise"]  # fmt: skip
    results, rules, code, files, basins, sensitivity, noise = st.tabs(tabs)
    with results:
        widths = {
            c: st.column_config.TextColumn(width=w) for c, w in zip(COLUMNS, WIDTHS, strict=True)
        }
        st.dataframe(
            results_rows(runs, surface), hide_index=True, width="stretch", column_config=widths
        )
    with rules:
        for opt in dict.fromkeys(s.optimizer_def for s in specs):
            st.markdown(f"**{opt.name}** — {opt.reference}")
            st.latex(opt.latex)
        for schedule in dict.fromkeys(s.lr_schedule.definition for s in specs):
            st.markdown(f"**{schedule.name}** — {schedule.description}")
            st.latex(schedule.latex)
    with code:
        st.code(to_pytorch(specs), language="python")
    with files:
        export_tab(specs, runs, surface, args, figure)
    with basins:
        maps_ui.basins_tab(specs)
    with sensitivity:
        maps_ui.sensitivity_tab(specs)
    with noise:
        maps_ui.ensemble_tab(specs)


def _lesson_title(key: str) -> str:
    return LESSONS[key].title if key else "— free play —"
