"""Searching lr schedules: each entry's default ranges (``ScheduleDef.search_ranges``) give
runs that are valid at both ends for short and long runs, a search over schedules draws each
trial's schedule and only that schedule's parameters, and the app's lr range becomes the peak
lr of the schedules that set their own."""

import math

import optuna
import pytest
from optuna.trial import TrialState

from optim_core._schedule_def import Range
from optim_core.schedules import SCHEDULES
from optim_core.search import Choice, Float, Int, search
from optim_core.search_space import TrialSpecs, schedule_space, searchable_schedules, spec_for
from optim_core.spec import RunSpec
from ui.search_form import base_spec, search_space, searched

optuna.logging.set_verbosity(optuna.logging.WARNING)
SEARCHABLE = searchable_schedules()
LR = (1e-4, 1.0)


def test_every_schedule_but_lists_of_milestones_or_phases_is_searchable():
    assert set(SCHEDULES) - set(SEARCHABLE) == {"MultiStepLR", "SequentialLR"}
    for name in ("MultiStepLR", "SequentialLR"):
        with pytest.raises(ValueError, match=f"{name}.*no search ranges.*StepLR"):
            schedule_space(("none", name), 100, *LR)
    with pytest.raises(ValueError, match="schedule.*'Nope'"):
        schedule_space(("Nope",), 100, *LR)


@pytest.mark.parametrize("name", SEARCHABLE)
def test_the_ranges_name_the_entry_s_parameters_and_fit_their_constraints(name):
    table = {p.name: p.constraint for p in SCHEDULES[name].params}
    for steps in (1, 3, 100, 5000):
        for param, r in SCHEDULES[name].search_ranges(steps, *LR).items():
            assert param in table, (name, param)
            ends = (r.low, r.high) if isinstance(r, Range) else (r,)
            assert all(table[param].contains(v) for v in ends), (name, param, steps, r)
            assert not isinstance(r, Range) or r.low <= r.high


def _specs_at_the_ends(name: str, steps: int, lr=LR):
    """The runs at the low ends and at the high ends of every range, for a few optimizers
    (with and without momentum)."""
    space = schedule_space((name,), steps, *lr)
    for end in ("low", "high"):
        for optimizer in ("SGD", "Adam", "Adagrad"):
            base = RunSpec(surface="rosenbrock", optimizer=optimizer, steps=steps)

            def pick(key, dim, end=end):
                if isinstance(dim, Choice):
                    return dim.values[0] if end == "low" else dim.values[-1]
                value = getattr(dim, end)
                return int(value) if isinstance(dim, Int) else value

            yield TrialSpecs(space, base).build(pick)


@pytest.mark.parametrize("name", SEARCHABLE)
@pytest.mark.parametrize("steps", [100, 500, 5000])
def test_each_schedule_s_ranges_give_valid_runs_at_their_ends(name, steps):
    for spec in _specs_at_the_ends(name, steps):
        assert spec.schedule == name and spec.steps == steps
        lr = spec.lr_schedule.lr(range(steps))
        assert all(math.isfinite(v) and v >= 0 for v in lr)
        assert spec.lr_schedule.momentum(range(2)) is None  # trials keep their momentum


@pytest.mark.parametrize("steps", [1, 2, 3, 4, 7, 10, 20])
def test_short_runs_search_what_fits_and_say_what_does_not(steps):
    for name in SEARCHABLE:
        try:
            specs = list(_specs_at_the_ends(name, steps))
        except ValueError as err:
            # only OneCycleLR cannot: its warm-up must span a step
            assert name == "OneCycleLR" and steps <= 2, (name, steps, err)
            assert f"OneCycleLR cannot run {steps} steps" in str(err)
            assert "pct_start" in str(err)
            continue
        assert all(s.schedule == name for s in specs)


def _trial_schedules(study) -> dict:
    """schedule -> the parameter names of its trials, checked to be that schedule's."""
    seen = {}
    for t in study.trials:
        assert t.state != TrialState.FAIL, t.user_attrs.get("error")
        name = t.params["schedule"]
        params = {k.partition(".")[2] for k in t.params if "." in k}
        assert all(k.startswith(f"{name}.") for k in t.params if "." in k), t.params
        seen.setdefault(name, set()).update(params)
    return seen


ALL_KINDS = ("none", "StepLR", "CosineAnnealingLR", "OneCycleLR", "ReduceLROnPlateau")


@pytest.mark.parametrize(
    "sampler, pruner, names, knobs",
    [("random", None, ALL_KINDS, ["momentum", "beta1"]),
     ("tpe", "hyperband", ALL_KINDS, ["momentum", "beta1"]),
     # Optuna lists every point of a grid, the product of all dimensions, conditional ones
     # too: 2 optimizers x 5 lr x 3 schedules x 5 x 5 (StepLR) x 5 (T_max) = 3,750 here
     ("grid", None, ("none", "StepLR", "CosineAnnealingLR"), [])],
)  # fmt: skip
def test_a_search_over_schedules_draws_each_trial_s_schedule_and_its_parameters(
    sampler, pruner, names, knobs
):
    base = RunSpec(surface="rosenbrock", optimizer="Adam", steps=100)
    space, _ = search_space(["Adam", "SGD"], knobs, 1e-3, 0.1, names, 100)
    study = search(base, space, sampler, n_trials=40, batch=8, seed=1, pruner=pruner)
    assert len(study.trials) == 40
    seen = _trial_schedules(study)
    assert len(seen) >= len(names) - 1, seen
    assert seen.get("none", set()) == set()
    if "StepLR" in seen:
        assert seen["StepLR"] == {"step_size", "gamma"}
    # a trial rebuilt from its record (as the app loads it into a racer) has its schedule
    done = [t for t in study.trials if t.state == TrialState.COMPLETE]
    best = min((t for t in done if t.params["schedule"] != "none"), key=lambda t: t.value)
    spec = spec_for(best, space, base)
    assert spec.schedule == best.params["schedule"]
    params = dict(spec.schedule_params)
    for key, value in best.params.items():
        if key.startswith(f"{spec.schedule}."):
            assert params[key.partition(".")[2]] == value


def test_the_app_s_lr_range_is_the_peak_lr_of_schedules_that_set_their_own():
    lo, hi = 1e-3, 0.1
    space, _ = search_space(["SGD", "Adam"], [], lo, hi, ["none", "OneCycleLR", "CyclicLR"], 200)
    assert space["OneCycleLR.max_lr"] == Float(lo, hi, log=True) == space["lr"]
    assert space["CyclicLR.max_lr"] == Float(lo, hi, log=True)
    assert space["CyclicLR.base_lr"].high <= lo  # never above any max_lr: no trial fails
    base = base_spec([RunSpec(surface="rosenbrock", optimizer="SGD", steps=200)], "SGD")
    assert base.schedule == "none"
    study = search(base, space, "random", n_trials=60, batch=60, seed=2)
    one_cycle = [t for t in study.trials if t.params["schedule"] == "OneCycleLR"]
    assert one_cycle and all(t.state == TrialState.COMPLETE for t in study.trials)
    # the optimizer's lr means nothing where the schedule sets its own: it is not drawn (a
    # trial card showing one would mislead, and TPE would model noise)
    for t in study.trials:
        own = SCHEDULES[t.params["schedule"]].sets_own_lr
        assert ("lr" in t.params) != own, t.params
    assert SCHEDULES["OneCycleLR"].sets_own_lr and SCHEDULES["CyclicLR"].sets_own_lr
    assert sum(d.sets_own_lr for d in SCHEDULES.values()) == 2
    for t in one_cycle:
        spec = spec_for(t, space, base)
        peak = max(spec.lr_schedule.lr(range(200)))
        # the peak falls between two steps: within 0.1 % of max_lr
        assert lo * 0.99 <= peak <= hi and peak == pytest.approx(
            t.params["OneCycleLR.max_lr"], rel=1e-3
        )


def test_the_summary_counts_the_schedule_parameters_searched():
    space, left = search_space(["Adagrad"], ["momentum"], 1e-3, 0.1, ["none", "OneCycleLR"], 100)
    text = searched(space, left)
    # max_lr, pct_start, div_factor; total_steps and cycle_momentum are fixed
    assert text == ("optimizer, lr, schedule (none, OneCycleLR: 3 parameters) "
                    "(momentum: no chosen optimizer has it)")  # fmt: skip
    constant, _ = search_space(["Adam"], [], 1e-3, 0.1, ["none"], 100)
    assert "schedule" not in constant
