"""The Tune tab: its figure builders (pure) and the tab through AppTest — range-test
suggestions into a racer, a search and its trials into the race, attaching to a study."""

import json
import math
import pathlib

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState, create_trial
from streamlit.testing.v1 import AppTest

from landscapes import SURFACES
from optim_core.config import LabConfig
from optim_core.lr_finder import lr_range_test
from optim_core.search import search
from optim_core.search_space import searchable_schedules
from optim_core.spec import RunSpec
from ui.search_views import VIEWS
from viz.search import SUGGESTIONS, range_test_figure, trials_figure

optuna.logging.set_verbosity(optuna.logging.WARNING)
APP = str(pathlib.Path(__file__).resolve().parents[1] / "app.py")
TIMEOUT = 180
SUBMIT = "FormSubmitter:tune.search_form-Run search"
QUERY = {"steps": "100"}


# ---- figures ----------------------------------------------------------------------------


def _traces(fig, name_start: str) -> list:
    return [t for t in fig.data if (t.name or "").startswith(name_start)]


def test_the_range_test_figure_marks_the_three_suggestions_on_the_smoothed_curve():
    spec = RunSpec(surface="rosenbrock", optimizer="SGD", steps=100)
    found = lr_range_test(spec, 1e-5, 10.0, 200)
    fig = range_test_figure(found, current_lr=1e-3)
    assert fig.layout.xaxis.type == "log"
    raw, smoothed = _traces(fig, "loss")[0], _traces(fig, "smoothed")[0]
    assert raw.opacity < 1 and smoothed.line.width > raw.line.width
    for key, (label, _, _) in SUGGESTIONS.items():
        (marker,) = _traces(fig, label)
        lr = getattr(found, key)
        assert marker.x[0] == lr
        # on the smoothed curve, interpolated in log lr
        expected = np.interp(np.log10(lr), np.log10(found.lr), found.smoothed)
        assert marker.y[0] == pytest.approx(expected)
    # SGD blows up long before lr = 10: the cut-off is drawn and the rest shaded
    shaded = [s for s in fig.layout.shapes if s.type == "rect"]
    assert found.lr[-1] < 1.0 and shaded and shaded[0].x0 == found.lr[-1]
    texts = [a.text for a in fig.layout.annotations]
    assert any("cut off" in t for t in texts) and any("racer's lr" in t for t in texts)


def test_a_sweep_that_never_blows_up_has_no_cut_off_and_no_line_outside_it():
    spec = RunSpec(surface="bowl", optimizer="Adam", steps=100)
    found = lr_range_test(spec, 1e-5, 1e-3, 100)
    fig = range_test_figure(found, current_lr=0.5)
    assert not fig.layout.shapes
    assert not any("racer's lr" in a.text for a in fig.layout.annotations)


def _trial(number, state, value=None, xy=(0.5, 0.5), **attrs):
    params = {"optimizer": "Adam", "lr": 10.0 ** -(number % 4 + 1)}
    dists = {"optimizer": CategoricalDistribution(("SGD", "Adam")),
             "lr": FloatDistribution(1e-4, 1.0, log=True)}  # fmt: skip
    user = {"steps": 100, "diverged": False, **attrs}
    if xy is not None:
        user |= {"x_end": xy[0], "y_end": xy[1]}
    t = create_trial(state=state, value=value, params=params, distributions=dists,
                     user_attrs=user, intermediate_values={30: 2.5} if state == TrialState.PRUNED
                     else {})  # fmt: skip
    t.number = number
    return t


def test_trials_on_the_landscape_are_coloured_by_loss_and_marked_by_state():
    surface = SURFACES["rosenbrock"]
    trials = [
        _trial(0, TrialState.COMPLETE, 1e-3, (1.0, 1.0)),
        _trial(1, TrialState.COMPLETE, 1e-6, (0.9, 0.8)),
        _trial(2, TrialState.PRUNED, xy=(0.0, 0.0), steps=30),
        _trial(3, TrialState.COMPLETE, 1.7e308, (1.5, -0.5), diverged=True),
        _trial(4, TrialState.COMPLETE, 0.5, None),  # no end point recorded: left out
        _trial(5, TrialState.COMPLETE, 0.5, (math.nan, 1.0)),  # no finite end point
        _trial(6, TrialState.FAIL),
    ]
    fig = trials_figure(surface, (), trials, start=(-1.2, 1.0), picked=2)
    (done,) = _traces(fig, "completed")
    assert done.name == "completed (2)" and list(done.customdata) == [0, 1]
    # log colour scale of the distance to the minimum (f* = 0 here), with a colour bar
    assert list(done.marker.color) == pytest.approx([-3.0, -6.0])
    assert done.marker.showscale and "final" in done.marker.colorbar.title.text
    assert "1e-6" in done.marker.colorbar.ticktext
    (pruned,) = _traces(fig, "pruned")
    assert pruned.marker.symbol == "circle-open" and "at step 30" in pruned.text[0]
    (diverged,) = _traces(fig, "diverged")
    assert diverged.marker.symbol == "x" and list(diverged.customdata) == [3]
    (best,) = _traces(fig, "best")
    assert best.name == "best: trial 1" and (best.x[0], best.y[0]) == (0.9, 0.8)
    (picked,) = _traces(fig, "picked")  # the trial picked for loading, ringed
    assert picked.name == "picked: trial 2" and (picked.x[0], picked.y[0]) == (0.0, 0.0)
    (start,) = _traces(fig, "start")
    assert (start.x[0], start.y[0]) == (-1.2, 1.0)
    assert fig.layout.images[0].source.startswith("data:image/png")
    assert list(fig.layout.xaxis.range) == [-2.0, 2.0]


def test_trials_without_end_points_draw_the_surface_alone():
    fig = trials_figure(SURFACES["himmelblau"], (), [_trial(0, TrialState.COMPLETE, 1.0, None)])
    assert not _traces(fig, "completed")[0].x
    assert not _traces(fig, "completed")[0].marker.showscale


def test_a_search_s_trials_land_on_the_landscape():
    base = RunSpec(surface="rosenbrock", optimizer="Adam", steps=60)
    study = search(base, None, "random", n_trials=30, batch=30)
    fig = trials_figure(base.surface_def, (), study.trials, start=base.start)
    drawn = sum(len(t.x) for t in fig.data if t.customdata is not None and "best" not in t.name)
    assert drawn == sum(t.state != TrialState.FAIL for t in study.trials) > 0


# ---- the tab in the app -----------------------------------------------------------------


def run_app(query=QUERY) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for key, value in query.items():
        at.query_params[key] = value
    at.session_state["tab"] = "Tune"  # only the open tab below the race runs
    return at.run()


def results(at) -> list:
    """The final losses of the Results tab (opened for the look, then the Tune tab again)."""
    at.session_state["tab"] = "Results"
    at.run()
    losses = list(at.dataframe[0].value["final loss"])
    at.session_state["tab"] = "Tune"
    at.run()
    return losses


def charts(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def shown(element) -> str:
    """A message as the reader sees it (markdown escapes removed)."""
    return element.value.replace("\\", "")


def ok(at) -> None:
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]


def test_the_range_test_s_suggestion_becomes_the_racer_s_lr_and_the_race_reruns():
    at = run_app()
    ok(at)
    assert any(c["layout"]["xaxis"].get("title", {}).get("text") == "learning rate"
               for c in charts(at))  # fmt: skip
    spec = LabConfig(steps=100).specs()[0]
    found = lr_range_test(spec, 1e-5, 10.0, 200, "exp")
    before = results(at)
    at.button(key="tune.use.valley.lr").click().run()
    ok(at)
    assert at.toast and "valley" in at.toast[0].value
    assert at.session_state["r0.SGD.lr"] == pytest.approx(found.valley)
    assert at.session_state["r0.schedule"] == "none"
    after = results(at)
    assert after[0] != before[0] and after[1:] == before[1:]  # racer 1 raced again


def test_the_cyclic_and_one_cycle_buttons_set_schedules_that_race():
    at = run_app()
    found = lr_range_test(LabConfig(steps=100).specs()[0], 1e-5, 10.0, 200, "exp")
    at.button(key="tune.use.min_over_10.cyclic").click().run()
    ok(at)
    assert at.session_state["r0.schedule"] == "CyclicLR"
    assert at.session_state["r0.CyclicLR.max_lr"] == pytest.approx(found.min_over_10)
    assert at.session_state["r0.CyclicLR.base_lr"] == pytest.approx(found.min_over_10 / 4)
    at.button(key="tune.use.steepest.onecycle").click().run()
    ok(at)
    assert at.session_state["r0.schedule"] == "OneCycleLR"
    assert at.session_state["r0.OneCycleLR.max_lr"] == pytest.approx(found.steepest)
    assert at.session_state["r0.OneCycleLR.total_steps"] == 100


def test_a_suggestion_that_cannot_race_is_reported_not_applied():
    at = run_app({"steps": "3"})  # OneCycleLR's warm-up cannot span a step in 3 steps
    at.button(key="tune.use.valley.onecycle").click().run()
    assert not at.exception
    assert any("pct_start" in shown(e) for e in at.error)
    assert at.session_state["r0.schedule"] == "none"


def test_a_bad_range_is_an_error_message():
    at = run_app()
    at.select_slider(key="tune.lr_range").set_range(1.0, 1.0).run()
    assert not at.exception
    assert any("lr_max" in shown(e) for e in at.error)


def _search(at, trials=40, sampler="random", pruner="none", schedules=None, lr=None) -> AppTest:
    at.segmented_control(key="tune.section").set_value("Search").run()
    if schedules:
        at.multiselect(key="tune.s_scheds").set_value(schedules)
    if lr:
        at.select_slider(key="tune.s_lr").set_range(*lr)
    at.number_input(key="tune.s_trials").set_value(trials)
    at.selectbox(key="tune.s_sampler").set_value(sampler)
    at.selectbox(key="tune.s_pruner").set_value(pruner)
    at.button(key=SUBMIT).click().run()
    ok(at)
    return at


def _map(at) -> dict:
    (fig,) = [c for c in charts(at) if any(t.get("name", "").startswith("completed")
                                           for t in c["data"])]  # fmt: skip
    return fig


def test_a_search_runs_shows_its_trials_and_loads_the_best_into_racer_1():
    at = _search(run_app())
    assert any("40 trials of random search" in c.value for c in at.caption)
    points = [n for t in _map(at)["data"] if "customdata" in t for n in t["customdata"]]
    assert len(points) >= 30
    found = at.session_state["tune.found"]
    best = min((t for t in found.trials if not t.user_attrs["diverged"]), key=lambda t: t.value)
    assert at.selectbox(key="tune.s.pick").value == best.number
    assert at.dataframe[-1].value["trial"][0] == str(best.number)  # best trials table
    at.button(key="tune.s.load").click().run()
    ok(at)
    opt = best.params["optimizer"]
    assert at.session_state["r0.optimizer"] == opt
    assert at.session_state[f"r0.{opt}.lr"] == pytest.approx(best.params["lr"])
    at.run()  # the search is kept: a rerun shows it again without searching
    assert at.session_state["tune.found"] is found and _map(at)


def test_a_trial_is_added_as_a_new_racer_and_a_click_on_its_marker_picks_it():
    at = _search(run_app(), trials=20, sampler="tpe", pruner="hyperband")
    trial = at.session_state["tune.found"].trials[7]
    at.session_state["tune.s.map"] = {"selection": {"points": [{"customdata": trial.number}]}}
    at.run()
    assert at.selectbox(key="tune.s.pick").value == trial.number
    ring = [t for t in _map(at)["data"] if t.get("name", "").startswith("picked")]
    assert ring and ring[0]["customdata"] == [trial.number]
    at.button(key="tune.s.add").click().run()
    ok(at)
    assert at.session_state["w.n_racers"] == 4 and len(results(at)) == 4
    assert at.session_state["r3.optimizer"] == trial.params["optimizer"]


@pytest.mark.parametrize("view", ["History", "Parallel coordinates", "Importance", "Contour"])
def test_optuna_s_views_draw_or_say_why_not(view):
    at = _search(run_app(), trials=30)
    n = len(at.get("plotly_chart"))
    at.segmented_control(key="tune.s.view").set_value(view).run()
    ok(at)
    assert len(at.get("plotly_chart")) == n


def test_one_trial_is_too_few_for_optuna_s_views():
    at = _search(run_app(), trials=1, sampler="grid")
    assert any("two completed trials" in c.value for c in at.caption)


def _attach(at, storage, name):
    at.segmented_control(key="tune.section").set_value("Search").run()
    at.radio(key="tune.search_mode").set_value("Attach to a running study").run()
    at.text_input(key="tune.a_storage").input(storage)
    at.text_input(key="tune.a_study").input(name).run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def studies(tmp_path, monkeypatch):
    """The studies folder a visitor may attach to (files elsewhere are refused)."""
    monkeypatch.setenv("OPTIM_LAB_STUDIES", str(tmp_path))
    return tmp_path


def test_attaching_to_a_journal_study_shows_its_trials(studies):
    path = str(studies / "study.journal")
    base = LabConfig(steps=100).specs()[0]
    search(base, None, "random", n_trials=25, batch=25, storage=path, study_name="class")
    at = _attach(run_app(), path, "class")
    ok(at)
    assert any("25 trials in study 'class'" in c.value for c in at.caption)
    assert _map(at)
    search(base, None, "random", n_trials=5, batch=5, storage=path, study_name="class", seed=1)
    at.button(key="tune.a_reload").click().run()
    assert any("30 trials in study 'class'" in c.value for c in at.caption)
    at.toggle(key="tune.a_watch").set_value(True).run()  # reloads on a timer, in a fragment
    ok(at)
    assert any("30 trials in study 'class'" in c.value for c in at.caption)


@pytest.mark.parametrize(
    "storage, name, says",
    [("no/such/file.journal", "s", "no file"), ("JOURNAL", "other", "it holds: class"),
     ("nosuchdb://host/db", "s", "not among the URLs"), ("sqlite:///no/such.db", "s", "no file"),
     ("/etc/passwd", "s", "outside the studies folder"),
     ("sqlite:////etc/hosts", "s", "outside the studies folder"),
     ("../elsewhere.journal", "s", "outside the studies folder"),
     ("postgresql+psycopg2://user@10.0.0.1/db", "s", "not among the URLs")],
)  # fmt: skip
def test_a_bad_storage_or_study_name_is_a_message_not_a_traceback(studies, storage, name, says):
    if storage == "JOURNAL":
        storage = str(studies / "study.journal")
        search(LabConfig(steps=50).specs()[0], None, "random", n_trials=2, storage=storage,
               study_name="class")  # fmt: skip
    at = _attach(run_app(), storage, name)
    assert any(says in shown(e) for e in at.error), [e.value for e in at.error]
    assert not (studies / "no/such/file.journal").exists()


def test_a_listed_rdb_url_is_attempted(studies, monkeypatch):
    monkeypatch.setenv("OPTIM_LAB_STORAGES", "nosuchdb://host/db")
    at = _attach(run_app(), "nosuchdb://host/db", "s")
    assert any("cannot read" in shown(e) for e in at.error), [e.value for e in at.error]


def test_the_fair_comparison_section_renders():
    at = run_app()
    at.segmented_control(key="tune.section").set_value("Fair comparison").run()
    assert not at.exception, at.exception


def _schedule_search() -> AppTest:
    return _search(run_app(), schedules=["none", "StepLR", "OneCycleLR"], lr=(1e-3, 0.1))


def _load_best(at, schedule: str):
    """Load the best trial of ``schedule`` into racer 1 and return it."""
    found = at.session_state["tune.found"]
    trial = min((t for t in found.trials if t.params["schedule"] == schedule
                 and not t.user_attrs["diverged"]), key=lambda t: t.value)  # fmt: skip
    at.selectbox(key="tune.s.pick").set_value(trial.number).run()
    assert schedule in at.selectbox(key="tune.s.pick").format_func(trial.number)
    at.button(key="tune.s.load").click().run()
    ok(at)
    return trial


def _races_as_the_trial(at, trial) -> None:
    name = trial.params["schedule"]
    assert at.session_state["r0.schedule"] == name
    for key, value in trial.params.items():
        if key.startswith(f"{name}."):
            assert at.session_state[f"r0.{key}"] == pytest.approx(value), key
    # racer 1 now races exactly the trial: the same final loss (three digits shown)
    assert float(results(at)[0]) == pytest.approx(trial.value, rel=5e-3)


def test_a_search_over_schedules_races_a_scheduled_trial_as_racer_1():
    at = _schedule_search()
    assert any("schedule (none, StepLR, OneCycleLR: 5 parameters)" in shown(c)
               for c in at.caption), [shown(c) for c in at.caption]  # fmt: skip
    (ranges,) = [e for e in at.expander if e.label.startswith("Schedule search ranges")]
    assert ranges.label == "Schedule search ranges (100 steps, lr 0.001 … 0.1)"
    assert (
        "**StepLR**: `step_size` 5 … 50 (log), `gamma` 0.05 … 0.9 (log)" in ranges.markdown[0].value
    )
    found = at.session_state["tune.found"]
    assert {t.params["schedule"] for t in found.trials} == {"none", "StepLR", "OneCycleLR"}
    for t in found.trials:
        if t.params["schedule"] == "OneCycleLR":  # the lr range is its peak lr
            assert 1e-3 <= t.params["OneCycleLR.max_lr"] <= 0.1
    for view in VIEWS:  # Optuna's views take the conditional space or say why not
        at.segmented_control(key="tune.s.view").set_value(view).run()
        ok(at)
    _races_as_the_trial(at, _load_best(at, "StepLR"))


def test_a_grid_too_large_to_list_is_refused_with_the_reason():
    at = run_app()
    at.segmented_control(key="tune.section").set_value("Search").run()
    at.multiselect(key="tune.s_scheds").set_value(list(searchable_schedules()))
    at.selectbox(key="tune.s_sampler").set_value("grid")
    at.button(key=SUBMIT).click().run()
    assert not at.exception, at.exception
    assert any("a grid over these ranges has" in shown(e) and "TPE or random" in shown(e)
               for e in at.error), [e.value for e in at.error]  # fmt: skip
    assert "tune.found" not in at.session_state


def test_a_one_cycle_trial_races_with_its_fractional_div_factor():
    at = _schedule_search()
    _races_as_the_trial(at, _load_best(at, "OneCycleLR"))
