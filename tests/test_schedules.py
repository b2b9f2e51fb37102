"""Schedules against the real torch.optim.lr_scheduler, plus validation and properties.

Every parity test steps torch the way a training loop does (read the lr, ``optimizer.step()``,
``scheduler.step()``) and compares with the closed forms over all steps at once.
"""

import math
import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.optim import lr_scheduler as tls

from optim_core.schedules import (
    PLATEAU_TABLE_ORDER,
    REQUIRED,
    SCHEDULES,
    make_schedule,
    plateau_reference,
    plateau_table,
)

N_DRAWS = 20


@pytest.fixture(autouse=True, scope="module")
def float64():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def loguniform(rng, low, high):
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def momenta(rng):
    base = float(rng.uniform(0.0, 0.9))
    return {"base_momentum": base, "max_momentum": float(rng.uniform(base, 0.99))}


def draw_onecycle(rng, n_steps):
    three_phase = bool(rng.integers(2))
    return {
        "max_lr": loguniform(rng, 1e-4, 1.0),
        "total_steps": int(rng.integers(max(n_steps - 1, 100), 2 * max(n_steps, 100))),
        "pct_start": float(rng.uniform(0.02, 0.49 if three_phase else 0.95)),
        "anneal_strategy": str(rng.choice(["cos", "linear"])),
        "cycle_momentum": bool(rng.integers(2)),
        **momenta(rng),
        "div_factor": float(rng.uniform(1.0, 100.0)),
        "final_div_factor": loguniform(rng, 1.0, 1e5),
        "three_phase": three_phase,
    }


def draw_cyclic(rng, n_steps):
    base_lr = loguniform(rng, 1e-4, 1e-1)
    return {
        "base_lr": base_lr,
        "max_lr": base_lr * float(rng.uniform(1.0, 20.0)),
        "step_size_up": int(rng.integers(1, 120)),
        "step_size_down": None if rng.integers(2) else int(rng.integers(1, 120)),
        "mode": str(rng.choice(["triangular", "triangular2", "exp_range"])),
        "gamma": float(rng.uniform(0.99, 1.0)),
        "cycle_momentum": bool(rng.integers(2)),
        **momenta(rng),
    }


# name -> rng, number of steps -> params: valid draws that exercise every branch
DRAWS = {
    "none": lambda rng, n: {},
    "StepLR": lambda rng, n: {
        "step_size": int(rng.integers(1, 80)),
        "gamma": float(rng.uniform(0.2, 1.1)),
    },
    "MultiStepLR": lambda rng, n: {
        "milestones": sorted(int(m) for m in rng.integers(1, max(n, 2), size=rng.integers(1, 6))),
        "gamma": float(rng.uniform(0.2, 1.1)),
    },
    "ConstantLR": lambda rng, n: {
        "factor": float(rng.choice([1.0, rng.uniform(0.01, 1.0)])),
        "total_iters": int(rng.integers(1, max(n, 2))),
    },
    "LinearLR": lambda rng, n: {
        "start_factor": float(rng.uniform(0.01, 1.0)),
        "end_factor": float(rng.choice([0.0, 1.0, rng.uniform(0.0, 1.0)])),
        "total_iters": int(rng.integers(1, max(n, 2))),
    },
    "ExponentialLR": lambda rng, n: {"gamma": float(rng.uniform(0.98, 1.002))},
    "PolynomialLR": lambda rng, n: {
        "total_iters": int(rng.integers(1, max(n, 2))),
        "power": float(rng.uniform(0.0, 3.0)),
    },
    "CosineAnnealingLR": lambda rng, n: {
        "T_max": int(rng.integers(1, max(n // 2, 2))),
        "eta_min": float(rng.choice([0.0, rng.uniform(0.0, 0.2)])),
    },
    "CosineAnnealingWarmRestarts": lambda rng, n: {
        "T_0": int(rng.integers(1, 100)),
        "T_mult": int(rng.integers(1, 4)),
        "eta_min": float(rng.choice([0.0, rng.uniform(0.0, 0.2)])),
    },
    "CyclicLR": draw_cyclic,
    "OneCycleLR": draw_onecycle,
    "InverseTimeLR": lambda rng, n: {
        "decay_rate": float(rng.uniform(0.0, 0.5)),
        "decay_steps": int(rng.integers(1, 50)),
        "staircase": bool(rng.integers(2)),
    },
}
CLOSED_FORM = list(DRAWS)
SEQUENTIAL_CHILDREN = [n for n in DRAWS if n not in ("CyclicLR", "OneCycleLR")]


def torch_scheduler(opt, name, params):
    if name == "none":
        return tls.LambdaLR(opt, lambda t: 1.0)
    if name == "InverseTimeLR":
        rate, steps, stair = params["decay_rate"], params["decay_steps"], params["staircase"]
        return tls.LambdaLR(opt, lambda t: 1 / (1 + rate * (t // steps if stair else t / steps)))
    if name == "SequentialLR":
        children = [
            torch_scheduler(opt, c["name"], {k: v for k, v in c.items() if k != "name"})
            for c in params["schedulers"]
        ]
        return tls.SequentialLR(opt, children, list(params["milestones"]))
    return getattr(tls, name)(opt, **params)


def torch_run(name, params, lr0, n_steps, optimizer="SGD"):
    """(lr, momentum) that torch's optimizer uses at each of ``n_steps`` steps."""
    weights = [torch.zeros(1, requires_grad=True)]
    if optimizer == "SGD":
        opt = torch.optim.SGD(weights, lr=lr0, momentum=0.9)
    else:
        opt = torch.optim.Adam(weights, lr=lr0)
    scheduler = torch_scheduler(opt, name, params)
    lrs, moms = np.empty(n_steps), np.empty(n_steps)
    for t in range(n_steps):
        group = opt.param_groups[0]
        lrs[t] = group["lr"]
        moms[t] = group["betas"][0] if optimizer == "Adam" else group["momentum"]
        opt.step()
        if t < n_steps - 1:  # OneCycleLR raises if stepped past total_steps
            scheduler.step()
    return lrs, moms


def atol_factor(name, params):
    """Absolute tolerance in units of the lr scale, for lr values that pass near zero."""
    if name == "SequentialLR":
        return max(atol_factor(c["name"], c) for c in params["schedulers"])
    if name == "CosineAnnealingLR":
        # torch rescales (lr - eta_min) by ratios of (1 + cos(pi t / T_max)); a rounding
        # error made next to the minimum, where that is ~ (pi / T_max)^2 / 2, comes back up
        # amplified by up to ~4 (T_max / pi)^2: seen 3e-12 at T_max = 300.
        return 1e-15 * max(params["T_max"], 32) ** 2
    return 1e-12


def assert_matches(ours, ref, name, params, what):
    # rtol: torch's recursive forms (lr *= ratio) drift from the closed forms by ~1 ulp per
    # step. atol: where the lr passes through zero (cosine minimum, PolynomialLR's end,
    # LinearLR to 0) that drift is absolute, relative to the lr scale, not to the value.
    scale = max(np.abs(ref).max(), 1e-300)
    atol = atol_factor(name, params) * scale
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=atol, err_msg=what)


@pytest.mark.parametrize("name", CLOSED_FORM)
def test_parity_with_torch(name):
    rng = np.random.default_rng(sorted(SCHEDULES).index(name))
    optimizers = ["SGD", "Adam"] if SCHEDULES[name].cycles_momentum else ["SGD"]
    for draw in range(N_DRAWS):
        n_steps = int(rng.integers(500, 700))
        lr0, params = loguniform(rng, 1e-5, 1.0), DRAWS[name](rng, n_steps)
        schedule = make_schedule(name, lr0, **params)
        steps = np.arange(n_steps)
        for optimizer in optimizers:
            lrs, moms = torch_run(name, params, lr0, n_steps, optimizer)
            what = f"{name} draw {draw} {optimizer} lr0={lr0} {params}"
            assert_matches(schedule.lr(steps), lrs, name, params, what)
            momentum = schedule.momentum(steps)
            if params.get("cycle_momentum"):
                assert_matches(momentum, moms, name, params, what)
            else:
                assert momentum is None
                assert np.all(moms == moms[0]), what


@pytest.mark.parametrize("child", SEQUENTIAL_CHILDREN)
def test_sequential_warmup_then_child_matches_torch(child):
    rng = np.random.default_rng(100 + SEQUENTIAL_CHILDREN.index(child))
    for draw in range(6):
        n_steps = int(rng.integers(500, 700))
        warmup = int(rng.integers(1, 200))
        children = [
            {
                "name": "LinearLR",
                "start_factor": float(rng.uniform(0.01, 1)),
                "total_iters": warmup,
            },
            {"name": child, **DRAWS[child](rng, n_steps)},
        ]
        milestones = [warmup]
        if draw % 2:  # and a third phase, which restarts at its own milestone
            children.append({"name": "ExponentialLR", "gamma": float(rng.uniform(0.98, 1))})
            milestones.append(int(rng.integers(warmup + 1, n_steps)))
        params = {"schedulers": children, "milestones": milestones}
        lr0 = loguniform(rng, 1e-5, 1.0)
        lrs, _ = torch_run("SequentialLR", params, lr0, n_steps)
        schedule = make_schedule("SequentialLR", lr0, **params)
        ours = schedule.lr(np.arange(n_steps))
        assert_matches(ours, lrs, "SequentialLR", params, f"draw {draw} {params}")
        assert schedule.momentum(np.arange(n_steps)) is None


def plateau_losses(rng, n_steps):
    """A random walk made of falling, flat (exactly repeated) and rising stretches."""
    pieces = []
    while sum(len(p) for p in pieces) < n_steps:
        length, kind = int(rng.integers(1, 60)), rng.integers(3)
        drift = (-0.05, 0.0, 0.03)[kind]
        noise = 0.0 if kind == 1 else rng.uniform(0, 0.05)
        pieces.append(drift + noise * rng.standard_normal(length))
    return 5.0 + np.cumsum(np.concatenate(pieces)[:n_steps])


def test_plateau_reference_matches_torch():
    rng = np.random.default_rng(7)
    reduced = 0
    for draw in range(40):
        n_steps = int(rng.integers(500, 700))
        losses = plateau_losses(rng, n_steps)
        mode, threshold_mode = rng.choice(["min", "max"]), rng.choice(["rel", "abs"])
        lr0 = loguniform(rng, 1e-7, 1.0)
        params = {
            "mode": str(mode),
            "factor": float(rng.uniform(0.05, 0.95)),
            "patience": int(rng.integers(0, 20)),
            "threshold": float(rng.uniform(0, 0.01 if threshold_mode == "rel" else 0.1)),
            "threshold_mode": str(threshold_mode),
            "cooldown": int(rng.integers(0, 10)),
            "min_lr": float(rng.choice([0.0, lr0 * rng.uniform(0, 0.01)])),
            "eps": float(rng.choice([1e-8, loguniform(rng, 1e-12, 1e-3)])),
        }
        if mode == "max":
            losses = -losses
        weights = [torch.zeros(1, requires_grad=True)]
        opt = torch.optim.SGD(weights, lr=lr0)
        scheduler = tls.ReduceLROnPlateau(opt, **params)
        ref = np.empty(n_steps)
        for t in range(n_steps):
            ref[t] = opt.param_groups[0]["lr"]
            opt.step()
            scheduler.step(float(losses[t]))
        ours = plateau_reference(losses, lr0, **params)
        np.testing.assert_array_equal(ours, ref, err_msg=f"draw {draw} {params}")
        reduced += ref[-1] < lr0
    assert reduced >= 30, "most draws should reduce the lr (the rest: eps too large)"


def test_plateau_schedule_exposes_params_and_keeps_lr():
    schedule = make_schedule("ReduceLROnPlateau", 0.3, mode="max", threshold_mode="abs")
    np.testing.assert_array_equal(schedule.lr(np.arange(5)), np.full(5, 0.3))
    assert schedule.plateau["mode"] == "max" and schedule.plateau["patience"] == 10
    assert plateau_table(schedule.plateau) == (1.0, 0.1, 10.0, 1e-4, 1.0, 0.0, 0.0, 1e-8)
    assert PLATEAU_TABLE_ORDER[0] == "mode" and len(PLATEAU_TABLE_ORDER) == 8
    assert make_schedule("StepLR", 0.1, step_size=3).plateau is None


def test_inverse_time_values():
    smooth = make_schedule("InverseTimeLR", 1.0, decay_rate=0.5, decay_steps=2)
    np.testing.assert_allclose(smooth.lr([0, 1, 2, 4]), [1, 1 / 1.25, 1 / 1.5, 1 / 2])
    stair = make_schedule("InverseTimeLR", 1.0, decay_rate=0.5, decay_steps=2, staircase=True)
    np.testing.assert_allclose(stair.lr([0, 1, 2, 3, 4]), [1, 1, 1 / 1.5, 1 / 1.5, 1 / 2])


# ---- validation ------------------------------------------------------------------------------

VALID = {name: DRAWS[name](np.random.default_rng(0), 600) for name in DRAWS}
VALID["SequentialLR"] = {
    "schedulers": [{"name": "LinearLR"}, {"name": "CosineAnnealingLR", "T_max": 50}],
    "milestones": [5],
}
VALID["ReduceLROnPlateau"] = {}


def test_every_schedule_has_valid_example_and_docs():
    assert set(VALID) == set(SCHEDULES)
    for name, definition in SCHEDULES.items():
        assert definition.name == name and definition.latex and definition.description
        make_schedule(name, 0.1, **VALID[name])
        assert definition.cycles_momentum == (name in ("CyclicLR", "OneCycleLR"))


@pytest.mark.parametrize(
    ("name", "param"), [(n, p) for n, d in SCHEDULES.items() for p in d.params]
)
def test_invalid_value_is_rejected_with_its_name(name, param):
    bad = param.constraint.invalid_example()
    with pytest.raises(ValueError, match=f"{name}: '{param.name}'") as err:
        make_schedule(name, 0.1, **{**VALID[name], param.name: bad})
    assert repr(bad) in str(err.value)


@pytest.mark.parametrize(
    ("name", "param"),
    [(n, p) for n, d in SCHEDULES.items() for p in d.params if p.default is REQUIRED],
)
def test_missing_required_parameter(name, param):
    values = {k: v for k, v in VALID[name].items() if k != param.name}
    with pytest.raises(ValueError, match=f"{name}: '{param.name}' is required"):
        make_schedule(name, 0.1, **values)


def test_unknown_names_and_bad_lr_or_steps():
    with pytest.raises(ValueError, match="unknown schedule 'CosineLR'"):
        make_schedule("CosineLR", 0.1)
    with pytest.raises(ValueError, match="StepLR: unknown parameter 'step'"):
        make_schedule("StepLR", 0.1, step=3)
    with pytest.raises(ValueError, match="StepLR: 'lr' .* got nan"):
        make_schedule("StepLR", math.nan, step_size=3)
    schedule = make_schedule("StepLR", 0.1, step_size=3)
    for steps in ([-1, 2], [0.5, 1.0]):
        with pytest.raises(ValueError, match="steps must be integers >= 0"):
            schedule.lr(steps)


CROSS_CHECKS = [
    ("CyclicLR", {"base_lr": 0.1, "max_lr": 0.05}, "'max_lr' must be >= base_lr = 0.1; got 0.05"),
    ("CyclicLR", {"base_lr": 0.1, "max_lr": 1, "base_momentum": 0.95}, "'base_momentum' must be"),
    ("OneCycleLR", {"max_lr": 1, "total_steps": 10, "pct_start": 0.05}, "'pct_start' must be > 1"),
    (
        "OneCycleLR",
        {"max_lr": 1, "total_steps": 100, "pct_start": 0.6, "three_phase": True},
        "'pct_start' must be < (total_steps + 1) / (2 total_steps) = 0.505; got 0.6",
    ),
    ("ReduceLROnPlateau", {"threshold": 1.5}, "'threshold' must be < 1 with threshold_mode='rel'"),
    (
        "SequentialLR",
        {"schedulers": [{"name": "LinearLR"}, {"name": "none"}], "milestones": [5, 9]},
        "'milestones' must be 1 steps",
    ),
    (
        "SequentialLR",
        {"schedulers": [{"name": "none"}] * 3, "milestones": [5, 5]},
        "'milestones' must be strictly increasing; got (5, 5)",
    ),
    (
        "SequentialLR",
        {"schedulers": [{"name": "LinearLR"}, {"name": "OneCycleLR"}], "milestones": [5]},
        "schedulers[1] must name one of none, .* got 'OneCycleLR' (it sets its own lr",
    ),
    (
        "SequentialLR",
        {
            "schedulers": [{"name": "LinearLR"}, {"name": "StepLR", "step_size": 0}],
            "milestones": [5],
        },
        "schedulers[1]: StepLR: 'step_size' must be an integer in [1, 1000000]; got 0",
    ),
]


@pytest.mark.parametrize(("name", "params", "message"), CROSS_CHECKS)
def test_cross_parameter_checks(name, params, message):
    pattern = ".*".join(re.escape(part) for part in message.split(".*"))
    with pytest.raises(ValueError, match=f"{name}: {pattern}"):
        make_schedule(name, 0.1, **params)


def test_onecycle_refuses_steps_past_total_steps():
    schedule = make_schedule("OneCycleLR", 0.1, max_lr=1.0, total_steps=100)
    assert schedule.lr(np.arange(101)).shape == (101,)
    with pytest.raises(ValueError, match="OneCycleLR: step 101 is past 'total_steps' = 100"):
        schedule.lr(np.arange(102))


# ---- properties ------------------------------------------------------------------------------

ALL_DRAWS = {**DRAWS, "SequentialLR": None, "ReduceLROnPlateau": lambda rng, n: {}}


def draw_any(name, rng, n_steps):
    if name != "SequentialLR":
        return ALL_DRAWS[name](rng, n_steps)
    first, second = rng.choice(SEQUENTIAL_CHILDREN, size=2)
    children = [{"name": str(c), **DRAWS[str(c)](rng, n_steps)} for c in (first, second)]
    return {"schedulers": children, "milestones": [int(rng.integers(1, max(n_steps, 2)))]}


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(sorted(ALL_DRAWS)),
    seed=st.integers(0, 2**32 - 1),
    lr0=st.floats(0.0, 10.0),
)
def test_lr_finite_nonnegative_and_params_round_trip(name, seed, lr0):
    rng = np.random.default_rng(seed)
    n_steps = int(rng.integers(1, 2000))
    schedule = make_schedule(name, lr0, **draw_any(name, rng, n_steps))
    steps = np.arange(n_steps)
    lr = schedule.lr(steps)
    assert lr.dtype == np.float64 and lr.shape == (n_steps,)
    assert np.all(np.isfinite(lr)) and np.all(lr >= 0)
    momentum = schedule.momentum(steps)
    if momentum is not None:
        p = schedule.params
        assert np.all(momentum >= p["base_momentum"] - 1e-15)
        assert np.all(momentum <= p["max_momentum"] + 1e-15)
    # RunSpec stores the validated params and validates them again: that must be a no-op
    assert make_schedule(name, lr0, **schedule.params) == schedule
    np.testing.assert_array_equal(schedule.lr(np.int64(n_steps - 1)), lr[-1])
