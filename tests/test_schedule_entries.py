"""What each schedule entry carries, driven by the registry: its PyTorch source (executed
against torch), its sidebar defaults, whether it may follow a warm-up, the bounds of its
integer parameters, and whether it can run a run's steps (``Schedule.check_steps``)."""

import math

import numpy as np
import pytest
import torch
from torch.optim import lr_scheduler as tls

from common.limits import MAX_SCHEDULE_INT
from common.params import Interval, Sequence
from optim_core._sequential import check_phase_steps
from optim_core.schedules import SCHEDULES, make_schedule, plateau_reference

N_STEPS = 300
WARMUP = {"name": "LinearLR", "start_factor": 0.1, "total_iters": 30}
# Valid values for every schedule, away from torch's defaults so that the source shows them.
EXAMPLES = {
    "none": {},
    "StepLR": {"step_size": 7, "gamma": 0.5},
    "MultiStepLR": {"milestones": [20, 50, 50, 120], "gamma": 0.7},
    "ConstantLR": {"factor": 0.25, "total_iters": 40},
    "LinearLR": {"start_factor": 0.05, "end_factor": 0.8, "total_iters": 60},
    "ExponentialLR": {"gamma": 0.99},
    "PolynomialLR": {"total_iters": 200, "power": 1.5},
    "CosineAnnealingLR": {"T_max": 90, "eta_min": 1e-4},
    "CosineAnnealingWarmRestarts": {"T_0": 20, "T_mult": 2, "eta_min": 1e-4},
    "CyclicLR": {
        "base_lr": 1e-3, "max_lr": 0.05, "step_size_up": 30, "step_size_down": 17,
        "mode": "triangular2", "base_momentum": 0.7,
    },
    "OneCycleLR": {
        "max_lr": 0.3, "total_steps": N_STEPS, "pct_start": 0.25, "three_phase": True,
        "anneal_strategy": "linear", "div_factor": 10.0,
    },
    "SequentialLR": {
        "schedulers": [
            WARMUP,
            {"name": "InverseTimeLR", "decay_rate": 0.05},
            {"name": "none"},
            {"name": "CosineAnnealingLR", "T_max": 80},
        ],
        "milestones": [30, 100, 180],
    },
    "ReduceLROnPlateau": {"patience": 3, "factor": 0.5, "cooldown": 2, "mode": "max"},
    "InverseTimeLR": {"decay_rate": 0.05, "decay_steps": 3, "staircase": True},
}  # fmt: skip


@pytest.fixture(autouse=True, scope="module")
def float64():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def scheduler_from_source(source: str, optimizer):
    """Runs ``source`` where the exported script puts it: a statement indented by 4."""
    namespace = {"torch": torch, "math": math}
    exec(f"def build(optimizer):\n    scheduler = {source}\n    return scheduler", namespace)
    return namespace["build"](optimizer)


def torch_lrs(source: str, lr0: float, losses=None) -> tuple[np.ndarray, np.ndarray]:
    """(lr, momentum) per step from the scheduler ``source`` builds, stepped like a training
    loop (with the loss, for one that follows it)."""
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr0, momentum=0.9)
    scheduler = scheduler_from_source(source, opt)
    lrs, momenta = np.empty(N_STEPS), np.empty(N_STEPS)
    for t in range(N_STEPS):
        lrs[t], momenta[t] = opt.param_groups[0]["lr"], opt.param_groups[0]["momentum"]
        opt.step()
        if scheduler is not None and losses is not None:
            scheduler.step(float(losses[t]))
        elif scheduler is not None and t < N_STEPS - 1:
            scheduler.step()
    return lrs, momenta


def assert_close(ours, ref, what):
    # torch's recursive forms drift from the closed forms by ~1 ulp per step
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-11 * np.abs(ref).max(), err_msg=what)


def test_every_schedule_has_an_example():
    assert set(EXAMPLES) == set(SCHEDULES)


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_torch_source_runs_the_same_schedule_in_torch(name):
    lr0 = 0.02
    schedule = make_schedule(name, lr0, **EXAMPLES[name])
    source = SCHEDULES[name].torch_source(schedule.params, 4)
    steps = np.arange(N_STEPS)
    if SCHEDULES[name].loss_driven:
        losses = -np.abs(np.sin(steps / 7.0)) - steps / 50.0  # mode="max": rises, with dips
        lrs, _ = torch_lrs(source, lr0, losses)
        ours = plateau_reference(losses, lr0, **schedule.params)
        assert (ours < lr0).any(), "the example should reduce the lr"
        np.testing.assert_array_equal(ours, lrs, err_msg=source)
        return
    lrs, momenta = torch_lrs(source, lr0)
    assert_close(schedule.lr(steps), lrs, source)
    if schedule.momentum(steps) is not None:
        assert_close(schedule.momentum(steps), momenta, source)


@pytest.mark.parametrize("name", [n for n, d in SCHEDULES.items() if d.warmup_ok])
def test_every_schedule_that_may_follow_a_warmup_does_so_in_torch(name):
    params = {"schedulers": [WARMUP, {"name": name, **EXAMPLES[name]}], "milestones": [30]}
    schedule = make_schedule("SequentialLR", 0.02, **params)
    source = SCHEDULES["SequentialLR"].torch_source(schedule.params, 4)
    lrs, _ = torch_lrs(source, 0.02)
    assert_close(schedule.lr(np.arange(N_STEPS)), lrs, source)


def test_none_is_no_scheduler_alone_and_a_constant_lambda_as_a_phase():
    assert SCHEDULES["none"].torch_source({}, 4) == "None"
    phase = SCHEDULES["none"].torch_source({}, 12, child=True)
    assert phase == "torch.optim.lr_scheduler.LambdaLR(optimizer, lambda t: 1.0)"


def test_source_shows_only_what_differs_from_torch_defaults():
    params = make_schedule("StepLR", 0.1, step_size=5).params
    source = SCHEDULES["StepLR"].torch_source(params, 4)
    assert source == "torch.optim.lr_scheduler.StepLR(optimizer, step_size=5)"


def test_warmup_is_refused_where_torch_or_the_closed_forms_cannot_follow_one():
    refused = {n for n, d in SCHEDULES.items() if not d.warmup_ok}
    assert refused == {"CyclicLR", "OneCycleLR", "SequentialLR", "ReduceLROnPlateau"}
    for name in refused:
        params = {"schedulers": [WARMUP, {"name": name, **EXAMPLES[name]}], "milestones": [30]}
        with pytest.raises(ValueError, match=rf"got '{name}' \({SCHEDULES[name].not_a_phase}"):
            make_schedule("SequentialLR", 0.1, **params)
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    with pytest.raises(ValueError, match="does not support `ReduceLROnPlateau`"):
        tls.SequentialLR(opt, [tls.LinearLR(opt), tls.ReduceLROnPlateau(opt)], [5])


def old_sidebar_defaults(name: str, steps: int, lr: float) -> dict:
    """config.schedule_defaults' table before it moved into the entries (one fix)."""
    quarter = max(1, steps // 4)
    table = {
        "StepLR": {"step_size": quarter, "gamma": 0.5},
        "MultiStepLR": {"milestones": [max(1, steps // 2), max(2, 3 * steps // 4)], "gamma": 0.3},
        "ExponentialLR": {"gamma": round(0.01 ** (1 / max(steps, 1)), 6)},
        "PolynomialLR": {"total_iters": steps, "power": 2.0},
        "CosineAnnealingLR": {"T_max": steps, "eta_min": 0.0},
        "CosineAnnealingWarmRestarts": {"T_0": quarter, "T_mult": 1, "eta_min": 0.0},
        "LinearLR": {"start_factor": 0.01, "end_factor": 1.0, "total_iters": max(1, steps // 10)},
        "ConstantLR": {"factor": 0.3, "total_iters": max(1, steps // 10)},
        "CyclicLR": {"base_lr": lr / 5, "max_lr": lr * 2, "step_size_up": max(1, steps // 8)},
        # was total_steps=steps, too short for a 30% warm-up below 4 steps
        "OneCycleLR": {"max_lr": lr * 2, "total_steps": max(4, steps)},
        "ReduceLROnPlateau": {"patience": max(1, steps // 50), "factor": 0.5},
        "InverseTimeLR": {"decay_rate": round(10 / max(steps, 1), 6), "decay_steps": 1},
    }
    return dict(table.get(name, {}))


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_ui_defaults_fit_the_run(name):
    for steps in (1, 7, 500, 10_000):
        for lr in (1e-3, 0.5):
            defaults = SCHEDULES[name].ui_defaults(steps, lr)
            assert defaults == old_sidebar_defaults(name, steps, lr)
            if name == "SequentialLR":  # its phases come from the warm-up toggle
                continue
            schedule = make_schedule(name, lr, **defaults)
            schedule.check_steps(steps)
            assert np.isfinite(schedule.lr(np.arange(steps))).all()


# ---- bounds of integer parameters ------------------------------------------------------------

INTEGER_PARAMS = [
    (name, p)
    for name, d in SCHEDULES.items()
    for p in d.params
    if isinstance(p.constraint, Interval | Sequence)
    and getattr(p.constraint, "item", p.constraint).integer
]


def with_value(name: str, param, value) -> dict:
    """EXAMPLES[name] with ``param`` set to ``value`` (a list's last item, for milestones)."""
    if isinstance(param.constraint, Sequence):
        value = [*EXAMPLES[name][param.name][:-1], value]
    return {**EXAMPLES[name], param.name: value}


def test_every_integer_schedule_parameter_is_bounded():
    assert len(INTEGER_PARAMS) == 15
    for _, p in INTEGER_PARAMS:
        assert getattr(p.constraint, "item", p.constraint).high <= MAX_SCHEDULE_INT


@pytest.mark.parametrize("huge", [2**63, 10**400, MAX_SCHEDULE_INT + 1, 1e300])
@pytest.mark.parametrize(("name", "param"), INTEGER_PARAMS, ids=lambda x: getattr(x, "name", x))
def test_a_huge_integer_parameter_is_a_value_error(name, param, huge):
    with pytest.raises(ValueError) as err:
        make_schedule(name, 0.1, **with_value(name, param, huge))
    message = str(err.value)
    assert message.startswith(f"{name}: {param.name!r} must be ")
    assert f", {MAX_SCHEDULE_INT}]" in message and len(message) < 200


@pytest.mark.parametrize(("name", "param"), INTEGER_PARAMS, ids=lambda x: getattr(x, "name", x))
def test_the_largest_integer_parameter_keeps_the_closed_form_finite(name, param):
    high = getattr(param.constraint, "item", param.constraint).high
    schedule = make_schedule(name, 0.1, **with_value(name, param, high))
    schedule.check_steps(10_000)
    steps = np.arange(10_000)
    assert np.isfinite(schedule.lr(steps)).all()
    momentum = schedule.momentum(steps)
    assert momentum is None or np.isfinite(momentum).all()
    if SCHEDULES[name].loss_driven:
        assert np.isfinite(plateau_reference(np.ones(10_000), 0.1, **schedule.params)).all()


def test_a_huge_integer_inside_a_phase_names_the_phase():
    params = {"schedulers": [WARMUP, {"name": "StepLR", "step_size": 2**63}], "milestones": [5]}
    with pytest.raises(ValueError, match=r"SequentialLR: schedulers\[1\]: StepLR: 'step_size'"):
        make_schedule("SequentialLR", 0.1, **params)


# ---- check_steps -----------------------------------------------------------------------------


def test_onecycle_runs_at_most_total_steps_as_in_torch():
    schedule = make_schedule("OneCycleLR", 0.1, max_lr=1.0, total_steps=100)
    schedule.check_steps(100)
    with pytest.raises(ValueError) as err:
        schedule.check_steps(101)
    assert str(err.value) == (
        "OneCycleLR: 'total_steps' must be >= the run's steps = 101"
        " (torch raises when stepped past it); got 100"
    )
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    scheduler = tls.OneCycleLR(opt, max_lr=1.0, total_steps=100)
    for _ in range(100):  # a training loop steps the scheduler after each optimizer step
        opt.step()
        scheduler.step()
    with pytest.raises(ValueError, match="Tried to step 101 times"):
        scheduler.step()


@pytest.mark.parametrize("name", [n for n in SCHEDULES if n != "OneCycleLR"])
def test_other_schedules_run_any_number_of_steps(name):
    make_schedule(name, 0.1, **EXAMPLES[name]).check_steps(10_000)


@pytest.mark.parametrize("steps", [0, -1, 1.5, 10**400, "5", None])
def test_check_steps_rejects_a_bad_step_count(steps):
    with pytest.raises(ValueError, match="StepLR: 'steps' must be an integer in"):
        make_schedule("StepLR", 0.1, step_size=3).check_steps(steps)


def test_sequential_checks_each_phase_on_the_steps_it_runs():
    # No phase that torch's SequentialLR can restart has a step limit today, so the phases'
    # rule is driven directly with OneCycleLR as the second phase.
    registry = {n: SCHEDULES[n] for n in ("LinearLR", "OneCycleLR")}
    onecycle = make_schedule("OneCycleLR", 0.1, max_lr=1.0, total_steps=100).params
    warmup = make_schedule("LinearLR", 0.1, total_iters=20).params
    params = {
        "schedulers": [{"name": "LinearLR", **warmup}, {"name": "OneCycleLR", **onecycle}],
        "milestones": (20,),
    }
    check_phase_steps(params, 20, registry)  # the cycle never starts
    check_phase_steps(params, 120, registry)  # it runs its 100 steps
    with pytest.raises(ValueError) as err:
        check_phase_steps(params, 121, registry)
    assert str(err.value).startswith(
        "SequentialLR: schedulers[1]: OneCycleLR: 'total_steps' must be >= the run's steps = 101"
    )
