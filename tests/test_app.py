"""The Streamlit script's logic through AppTest (no browser): defaults, lessons, widgets,
shared links with garbage in them, clicks, invalid values."""

import json
import pathlib
from unittest.mock import patch

import pytest
from streamlit.testing.v1 import AppTest

from optim_core import share
from optim_core.config import LabConfig, Racer
from optim_core.lessons import LESSONS
from ui.clicks import move_start
from ui.sidebar import load_racer_setting

TIMEOUT = 180  # the first run may compile kernels
APP = str(pathlib.Path(__file__).resolve().parents[1] / "app.py")


def run_app(query=None, state=None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    for key, value in (state or {}).items():
        at.session_state[key] = value
    return at.run()


def figure(at: AppTest) -> dict:
    """The race as the race chart receives it: its figure at the final state, plus ``play``
    (what animates it in the page)."""
    races = [
        json.loads(c.proto.json)
        for c in at.get("bidi_component")
        if c.proto.component_name == "optim_lab.race"
    ]
    assert races, "no race chart on the page"
    fig = json.loads(races[0]["figure"])
    return {**fig, "play": races[0]["play"], "image": races[0]["image"]}


def open_tab(at: AppTest, label: str) -> AppTest:
    """Open a tab below the race (only the open tab's content runs)."""
    at.session_state["tab"] = label
    return at.run()


def shown(element) -> str:
    """An element's text as the reader sees it (markdown escapes removed)."""
    return element.value.replace("\\", "")


def results(at: AppTest):
    return at.dataframe[0].value


def test_defaults_run_and_draw_the_race():
    at = run_app()
    assert not at.exception
    fig = figure(at)
    assert len(fig["play"]["runs"]) == len(LabConfig().racers)
    assert 2 <= len(fig["play"]["steps"]) <= 201, "the race has no frames to play"
    # The surface image travels as a file of the static server, named by its content.
    assert fig["image"].startswith("./app/static/surfaces/")
    assert (pathlib.Path(APP).parent / fig["image"].removeprefix("./app/")).stat().st_size
    assert len(results(at)) == len(LabConfig().racers)
    assert not at.error


@pytest.mark.parametrize("lesson_id", list(LESSONS))
def test_every_lesson_loads(lesson_id):
    at = run_app()
    at.sidebar.selectbox[0].select(lesson_id).run()
    at.sidebar.button[0].click().run()
    assert not at.exception
    assert not at.error, [e.value for e in at.error]
    assert any(LESSONS[lesson_id].title in i.value for i in at.info)
    assert len(results(at)) == len(LESSONS[lesson_id].runs)


def test_changing_a_widget_changes_the_result():
    at = run_app()
    before = results(at)
    at.session_state["r0.SGD.lr"] = 0.0005
    at.run()
    after = results(at)
    assert not at.exception
    assert before["final loss"][0] != after["final loss"][0]
    assert before["final loss"][1] == after["final loss"][1]  # other racers untouched


def test_garbage_in_the_url_is_reported_and_replaced_by_defaults():
    query = {
        "surface": "no-such-surface",
        "steps": "many",
        "start": "1,2,3",
        "racer": "{oops",
        "evil": "1",
    }
    at = run_app(query)
    assert not at.exception
    text = " ".join(w.value for w in at.warning)
    for name in ("surface", "steps", "start", "racer", "evil"):
        assert name in text
    assert len(results(at)) == len(LabConfig().racers)  # defaults still race


def test_a_shared_link_reproduces_the_configuration():
    config = LabConfig(surface="himmelblau", steps=300, start=(1.5, -2.0))
    at = run_app(share.to_query(config))
    assert not at.exception and not at.warning
    assert at.session_state["w.surface"] == "himmelblau"
    assert (at.session_state["w.start_x"], at.session_state["w.start_y"]) == (1.5, -2.0)
    assert at.query_params["steps"] in ("300", ["300"])


def test_a_click_sets_the_start_widgets_rounded():
    """The race chart's click callback; the browser tests click the real chart."""
    state = {}
    with patch("streamlit.session_state", state):
        move_start(0.123456, 2.5)
    assert (state["w.start_x"], state["w.start_y"]) == (0.1235, 2.5)


def test_a_setting_loaded_into_a_racer_keeps_its_name_and_sam():
    """Maps and the Tune tab load settings through load_racer_setting."""
    spec = LabConfig(racers=(Racer("Adam", sam_rho=0.05),)).specs()[0]
    state = {"r0.label": "my Adam", "w.n_racers": 3}
    with patch("streamlit.session_state", state):
        load_racer_setting(0, spec)
    i, racer = state["pending.racer"]
    assert (i, racer.label, racer.sam_rho, racer.optimizer) == (0, "my Adam", 0.05, "Adam")
    with patch("streamlit.session_state", state):
        load_racer_setting(0, spec, new=True)
    assert state["w.n_racers"] == 4 and state["pending.racer"][0] == 3
    assert state["pending.racer"][1].label == ""


def test_an_invalid_value_is_rejected_with_a_reason():
    at = run_app()
    at.session_state["r0.SGD.lr"] = -1.0
    at.run()
    assert not at.exception
    assert any("lr" in e.value and "-1.0" in e.value for e in at.error)


def test_the_3d_view_and_the_tabs_render():
    at = run_app({"view": "3d"})
    assert not at.exception
    assert at.get("plotly_chart")
    assert any("torch.optim" in c.value for c in open_tab(at, "Copy as PyTorch").code)
    assert open_tab(at, "Update rules").latex


def test_many_run_views_compute_on_request():
    at = run_app({"steps": "100"})
    charts_before = len(at.get("plotly_chart"))
    for key in ("m.basins_on", "m.sens_on", "m.ens_on"):
        at.session_state[key] = True
    at.session_state["m.res"] = 32
    at.session_state["m.n"] = 8
    at.session_state["m.e_runs"] = 8
    for tab in ("Basins", "Sensitivity", "Noise"):  # one tab's content runs at a time
        open_tab(at, tab)
        assert not at.exception, at.exception
        assert not at.error, [e.value for e in at.error]
        assert len(at.get("plotly_chart")) == charts_before + 1, tab
        if tab == "Basins":
            assert any("global" in c.value for c in at.caption)


def test_a_link_naming_only_a_lesson_loads_that_lesson():
    lesson = LESSONS["warmup"]
    at = run_app({"lesson": "warmup"})
    assert not at.exception and not at.warning
    assert at.session_state["w.surface"] == lesson.surface
    assert list(results(at)["run"]) == [run["label"] for run in lesson.runs]


CUSTOM_LINK = {"surface": "custom", "formula": "min(x^2 + y^2, (x - 2)^2 + 0.5) + 0.1*y^2"}


def test_a_custom_formula_races_from_a_link():
    at = run_app({**CUSTOM_LINK, "view": "2d"})
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert not at.warning, [w.value for w in at.warning]
    assert figure(at)["play"]["runs"]
    code = " ".join(c.value for c in open_tab(at, "Copy as PyTorch").code)
    assert "def custom(x, y)" in code and "torch.minimum" in code


def test_a_custom_formula_typed_in_the_sidebar_races_in_2d_3d_and_the_basin_map():
    at = run_app()
    at.sidebar.selectbox(key="w.surface").select("custom").run()
    at.sidebar.text_input(key="w.formula").input("x^2 + 3*y^2 + max(x, 0)").run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert figure(at)["play"]["runs"]
    assert at.query_params["surface"] in ("custom", ["custom"])
    at.session_state["m.basins_on"] = True
    at.session_state["m.res"] = 32
    open_tab(at, "Basins")
    assert not at.exception and not at.error
    assert any("global" in c.value or "elsewhere" in c.value for c in at.caption)
    at.sidebar.radio(key="w.view").set_value("3d").run()
    assert not at.exception and not at.error


def test_a_bad_formula_is_reported_in_the_sidebar_without_a_traceback():
    at = run_app()
    at.sidebar.selectbox(key="w.surface").select("custom").run()
    at.sidebar.text_input(key="w.formula").input("__import__('os')").run()
    assert not at.exception
    assert any("__import__" in shown(e) for e in at.sidebar.error)


def test_onecycle_shorter_than_the_run_is_reported_not_a_traceback():
    at = run_app()
    at.session_state["r0.schedule"] = "OneCycleLR"
    at.run()
    at.session_state["w.steps"] = 2000  # beyond OneCycleLR's total_steps (500)
    at.run()
    assert not at.exception
    assert any("total_steps" in shown(e) for e in at.error)


@pytest.mark.parametrize("steps", ["5", "10000"])
def test_any_steps_a_link_may_hold_fits_the_steps_widget(steps):
    at = run_app({"steps": steps})
    assert not at.exception and not at.warning
    assert at.session_state["w.steps"] == int(steps)


def test_every_schedule_the_sidebar_makes_survives_a_link():
    config = LabConfig(
        racers=(
            Racer.from_dict({"optimizer": "SGD", "hyperparameters": {"lr": 0.01},
                             "schedule": "SequentialLR", "schedule_params": {
                                 "schedulers": [{"name": "LinearLR", "start_factor": 0.1,
                                                 "end_factor": 1.0, "total_iters": 20},
                                                {"name": "none"}],
                                 "milestones": [20]}}),
            Racer.from_dict({"optimizer": "Adam", "hyperparameters": {"lr": 0.05},
                             "schedule": "SequentialLR", "schedule_params": {
                                 "schedulers": [{"name": "ConstantLR", "factor": 0.5,
                                                 "total_iters": 10},
                                                {"name": "StepLR", "step_size": 50},
                                                {"name": "ExponentialLR", "gamma": 0.99}],
                                 "milestones": [10, 200]}}),
        )
    )  # fmt: skip
    at = run_app(share.to_query(config))
    assert not at.exception and not at.warning, [w.value for w in at.warning]
    query = {k: v if isinstance(v, list) else [v] for k, v in at.query_params.items()}
    back = share.from_query(query)
    assert back.normalised().racers == config.normalised().racers


# ---- issue 12: what a new user hit -------------------------------------------------------


def test_a_lesson_link_shows_the_lesson_in_the_lesson_picker():
    at = run_app({"lesson": "warmup"})
    assert not at.exception
    assert at.sidebar.selectbox[0].value == "warmup"


def test_an_edited_lesson_says_so_and_names_the_edited_run_from_its_settings():
    at = run_app({"lesson": "lr-too-high"})
    assert not any("modified" in i.value for i in at.info)
    at.session_state["r0.SGD.lr"] = 0.2
    at.run()
    assert not at.exception
    banner = " ".join(i.value for i in at.info)
    assert "modified: racer 1 lr" in banner
    names = list(results(at)["run"])
    assert names[0] != "lr = 0.05" and "0.2" in names[0]
    assert names[1:] == ["lr = 0.105", "lr = 0.12"]


def test_add_races_a_different_optimizer_than_racer_one():
    at = run_app()
    before = list(results(at)["optimizer"])
    add = next(b for b in at.sidebar.button if "Add" in b.label)
    add.click().run()
    assert not at.exception and not at.error
    table = results(at)
    added = table["optimizer"][len(before)]
    assert added not in before
    assert table["result"][len(before)] != table["result"][0] or (
        table["final loss"][len(before)] != table["final loss"][0]
    )
    assert "diverged" not in table["result"][len(before)]


def test_add_and_remove_use_material_icons_not_font_glyphs():
    at = run_app()
    buttons = {b.label: b for b in at.sidebar.button}
    for label in ("Add", "Remove"):
        assert buttons[label].proto.icon.startswith(":material/"), label
    assert not [b for b in buttons if "＋" in b or "－" in b]


def test_results_show_numbers_a_reader_can_read_and_no_none():
    at = run_app({"lesson": "lr-too-high"})  # one run diverges
    table = results(at)
    assert "diverged" in " ".join(table["result"])
    cells = [str(v) for column in table.columns for v in table[column]]
    assert "None" not in cells and "nan" not in cells and not table.isna().any().any()
    assert all(len(v) <= 12 for v in table["final loss"])  # no 20-digit strings


def test_the_basins_caption_shows_run_names_literally():
    at = run_app({"steps": "100"})
    at.session_state["m.basins_on"] = True
    at.session_state["m.res"] = 32
    open_tab(at, "Basins")
    assert not at.exception
    captions = [c.value for c in at.caption if "global" in c.value]
    assert captions and captions[0].startswith("1\\. SGD"), captions


def test_the_installed_app_runs_without_a_file_watcher():
    import tomllib

    config = tomllib.loads((pathlib.Path(APP).parent / ".streamlit" / "config.toml").read_text())
    assert config["server"]["fileWatcherType"] == "none"
    # No forced full garbage collection after each run: ~250 ms holding the GIL, during which
    # the rerun's messages wait (the browser benchmark's keypress-to-plot time).
    assert config["runner"]["postScriptGC"] is False


@pytest.mark.parametrize("lesson_id", list(LESSONS))
def test_a_lesson_through_the_widgets_is_not_reported_modified(lesson_id):
    at = run_app({"lesson": lesson_id})
    assert not at.exception
    banner = " ".join(i.value for i in at.info)
    assert LESSONS[lesson_id].title in banner and "modified" not in banner
    assert list(results(at)["run"]) == [run["label"] for run in LESSONS[lesson_id].runs]


def test_the_race_chart_says_so_when_static_serving_is_off():
    """Started from another folder, Streamlit misses the app's config, and with it the static
    files the race chart loads plotly.js from: the page says how to start it instead."""
    from streamlit import config

    before = config.get_option("server.enableStaticServing")
    config.set_option("server.enableStaticServing", False)
    try:
        at = run_app()
    finally:
        config.set_option("server.enableStaticServing", before)
    assert any("static serving" in e.value for e in at.error), [e.value for e in at.error]
    assert not run_app().error
