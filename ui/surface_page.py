"""The surface mode: racers on a 2D surface, its maps, and the PyTorch export."""

import streamlit as st

from optim_core import share
from optim_core.config import LabConfig, config_from_lesson
from optim_core.engines import numba_engine
from optim_core.export import to_pytorch
from optim_core.lessons import LESSONS, follow_lesson
from optim_core.report import COLUMNS, WIDTHS, results_rows
from viz import race_figure, surface_3d_figure
from viz.race_payload import race_payload

from . import maps as maps_ui
from . import sidebar, tune_tab
from .clicks import move_start
from .export_tab import export_tab
from .race_chart import race_chart
from .text import plain

RACE_HEIGHT = 640  # px: the whole race and the tabs' heads fit a 1280 x 800 projector
RACE_FRAMES = 120  # frames of ▶ Play, at viz.race.FRAME_MS each


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
    # Before the widgets of this run exist: a setting picked on the sensitivity map goes into
    # its racer (a click on the surface moved the start in the chart's callback already).
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

    def figure():  # the view as a Plotly figure (animated in 2D), for the HTML and PNG files
        if config.view == "3d":
            return surface_3d_figure(surface, args, runs)
        return race_figure(
            surface, args, runs, start=specs[0].start, max_frames=RACE_FRAMES, height=RACE_HEIGHT
        )

    if config.view == "3d":
        st.plotly_chart(figure(), width="stretch", key="race3d")
    else:
        payload = race_payload(
            surface, args, runs, start=specs[0].start, frames=RACE_FRAMES, height=RACE_HEIGHT
        )
        race_chart(payload, key="race", on_click=move_start)

    # Only the open tab runs (a rerun draws the race and one tab, not eight): opening another
    # tab reruns the script, which finds the race in the cache.
    tabs = {
        "Results": lambda: _results(runs, surface),
        "Tune": lambda: tune_tab.render(specs),
        "Update rules": lambda: _rules(specs),
        "Copy as PyTorch": lambda: st.code(to_pytorch(specs), language="python"),
        "Export": lambda: export_tab(specs, runs, surface, args, figure),
        "Basins": lambda: maps_ui.basins_tab(specs),
        "Sensitivity": lambda: maps_ui.sensitivity_tab(specs),
        "Noise": lambda: maps_ui.ensemble_tab(specs),
    }
    for container, draw in zip(
        st.tabs(list(tabs), key="tab", on_change="rerun"), tabs.values(), strict=False
    ):
        if container.open:
            with container:
                draw()


def _results(runs, surface) -> None:
    widths = {c: st.column_config.TextColumn(width=w) for c, w in zip(COLUMNS, WIDTHS, strict=True)}
    st.dataframe(
        results_rows(runs, surface), hide_index=True, width="stretch", column_config=widths
    )


def _rules(specs) -> None:
    for opt in dict.fromkeys(s.optimizer_def for s in specs):
        st.markdown(f"**{opt.name}** — {opt.reference}")
        st.latex(opt.latex)
    for schedule in dict.fromkeys(s.lr_schedule.definition for s in specs):
        st.markdown(f"**{schedule.name}** — {schedule.description}")
        st.latex(schedule.latex)


def _lesson_title(key: str) -> str:
    return LESSONS[key].title if key else "— free play —"
