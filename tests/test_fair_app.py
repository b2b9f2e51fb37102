"""The Tune tab's fair comparison through AppTest: run it, see the table and the figure, keep
it across reruns, race the tuned settings."""

import json
import pathlib

import optuna
import pytest
from streamlit.testing.v1 import AppTest

from optim_core.config import LabConfig

optuna.logging.set_verbosity(optuna.logging.WARNING)
APP = str(pathlib.Path(__file__).resolve().parents[1] / "app.py")
SUBMIT = "FormSubmitter:tune.fair_form-Compare"


def ok(at) -> None:
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]


def compared(budget=6, seeds=2, sampler="random") -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params["steps"] = "100"
    at.session_state["tab"] = "Tune"  # only the open tab below the race runs
    at.run()
    at.segmented_control(key="tune.section").set_value("Fair comparison").run()
    ok(at)
    at.number_input(key="tune.f_budget").set_value(budget)
    at.number_input(key="tune.f_seeds").set_value(seeds)
    at.selectbox(key="tune.f_sampler").set_value(sampler)
    at.button(key=SUBMIT).click().run()
    ok(at)
    return at


def fair_figure(at) -> dict:
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    found = [c for c in charts if c["data"] and c["data"][0].get("type") == "box"]
    assert found, "no fair-comparison figure"
    return found[0]


def test_a_comparison_shows_a_table_and_a_figure_and_survives_reruns():
    at = compared()
    result, summary = at.session_state["tune.fair"]
    racing = [r.optimizer for r in LabConfig().racers]
    assert sorted(r.optimizer for r in result.results) == sorted(racing)
    assert all(r.trials == (6, 6) and r.seeds == (0, 1) for r in result.results)
    assert "3 optimizers × 2 seeds × 6 trials of random search" in summary
    table = at.dataframe[-1].value
    assert list(table["optimizer"]) == [r.optimizer for r in result.ranking()]
    assert all("lr" in text and "(seed" in text for text in table["tuned setting (median seed)"])
    fig = fair_figure(at)
    assert [t["name"] for t in fig["data"]] == list(table["optimizer"])
    assert all(len(t["y"]) == 2 for t in fig["data"])  # one point per seed
    assert fig["layout"]["yaxis"]["type"] == "log"
    at.run()  # a rerun draws the kept comparison; it does not search again
    assert at.session_state["tune.fair"][0] is result
    ok(at)


def test_racing_the_tuned_settings_replaces_the_racers_and_keeps_the_surface():
    at = compared()
    result, _ = at.session_state["tune.fair"]
    before = at.session_state["saved.surface"]
    at.button(key="tune.f_race").click().run()
    ok(at)
    after = at.session_state["saved.surface"]
    assert (after.surface, after.start, after.steps) == (before.surface, before.start, 100)
    ranked = result.ranking()
    assert [r.label for r in after.racers] == [f"{r.optimizer} tuned" for r in ranked]
    for racer, tuned in zip(after.racers, ranked, strict=True):
        assert racer.optimizer == tuned.optimizer
        assert dict(racer.hyperparameters)["lr"] == pytest.approx(tuned.spec.lr)
    assert [at.session_state[f"r{i}.label"] for i in range(3)] == [r.label for r in after.racers]
    assert at.toast and "tuned settings race" in at.toast[0].value
