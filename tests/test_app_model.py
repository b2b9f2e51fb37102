"""The model mode through AppTest: links, lessons, the mode switch, bad values."""

import json
import pathlib

import pytest
from streamlit.testing.v1 import AppTest

from optim_core.models.lessons import MODEL_LESSONS
from optim_core.models.setup import ModelSetup

APP = str(pathlib.Path(__file__).resolve().parents[1] / "app.py")


def run_app(query=None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    return at.run()


def charts(at: AppTest) -> dict:
    return {c.proto.id: json.loads(c.proto.spec) for c in at.get("plotly_chart")}


def shown(element) -> str:
    return element.value.replace("\\", "")


def test_a_model_link_trains_and_draws_boundaries_curves_and_plane():
    at = run_app({"mode": "model", "steps": "200"})
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    figures = list(charts(at).values())
    animated = [f for f in figures if f.get("frames")]
    assert len(animated) == 1  # decision boundaries (the loss plane is a race chart)
    assert any(t.get("type") == "heatmap" for t in animated[0]["data"])
    (plane,) = [c for c in at.get("bidi_component") if c.proto.component_name == "optim_lab.race"]
    assert len(json.loads(plane.proto.json)["play"]["runs"]) == 3
    table = at.dataframe[0].value
    assert len(table) == 3 and "val accuracy" in table
    assert "torch.optim" in " ".join(c.value for c in at.code)
    assert at.query_params["mode"] in ("model", ["model"])


def test_the_mode_switch_goes_to_the_model_and_back_keeping_both_setups():
    at = run_app({"surface": "himmelblau", "steps": "300"})
    at.session_state["r0.SGD.lr"] = 0.002
    at.run()
    at.sidebar.radio(key="mode").set_value("model").run()
    assert not at.exception and at.query_params["mode"] in ("model", ["model"])
    at.session_state["md.steps"] = 120
    at.session_state["md.depth"] = 3
    at.run()
    at.sidebar.radio(key="mode").set_value("surface").run()
    assert not at.exception and "mode" not in at.query_params
    assert at.session_state["w.surface"] == "himmelblau" and at.session_state["w.steps"] == 300
    racers = [at.session_state[f"r{i}.optimizer"] for i in range(3)]
    assert racers == ["SGD", "Adam", "RMSprop"] and at.session_state["r0.SGD.lr"] == 0.002
    at.sidebar.radio(key="mode").set_value("model").run()
    assert not at.exception
    assert at.session_state["md.steps"] == 120 and at.session_state["md.depth"] == 3


@pytest.mark.parametrize(
    ("name", "value", "key", "shown_value"),
    [("model", '{"width": 10}', "md.width", 10), ("batch_size", "10", "md.batch", 10),
     ("seed", "2147483648", "md.seed", 2147483648), ("patience", "5000", "md.patience", 5000)],
)  # fmt: skip
def test_every_value_a_model_link_may_hold_fits_its_widget(name, value, key, shown_value):
    at = run_app({"mode": "model", "steps": "50", name: value})
    assert not at.exception and not at.warning, [w.value for w in at.warning]
    assert at.session_state[key] == shown_value


def test_a_bad_model_link_is_reported_and_trains_the_defaults():
    at = run_app({"mode": "model", "data": "nope", "steps": "0", "model": '{"width": -1}'})
    assert not at.exception
    text = " ".join(shown(w) for w in at.warning)
    for name in ("data", "steps", "model"):
        assert f"URL parameter {name}" in text, text
    assert len(at.dataframe[0].value) == len(ModelSetup().racers)


def test_an_invalid_widget_value_is_reported_without_a_traceback():
    at = run_app({"mode": "model", "steps": "100"})
    at.session_state["m0.SGD.lr"] = -1.0
    at.run()
    assert not at.exception
    assert any("lr" in shown(e) for e in at.error)


@pytest.mark.parametrize("lesson_id", list(MODEL_LESSONS))
def test_every_model_lesson_loads(lesson_id):
    at = run_app({"mode": "model"})
    at.sidebar.selectbox(key="md.lesson.pick").select(lesson_id).run()
    at.sidebar.button(key="md.lesson.load").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert any(MODEL_LESSONS[lesson_id].title in shown(i) for i in at.info)
    assert len(at.dataframe[0].value) == len(MODEL_LESSONS[lesson_id].racers)
