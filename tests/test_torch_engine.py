"""The torch engine against the Numba engine: same update rules, same stop semantics.

On the CPU both run float64 and must agree to rounding (rtol 1e-9 over 200 steps). A GPU run
is float32, whose rounding grows along a path: there the check is that every run ends the same
way and near the same point, and that convergence counts and basins stay close to float64's.
The float32 checks also run on the CPU, so the GPU path's numerics are tested without a GPU.
"""

import numpy as np
import pytest
import torch

from landscapes import get_surface
from optim_core.engines import numba_engine, torch_engine
from optim_core.optimizers import OPTIMIZERS
from optim_core.schedules import SCHEDULES
from optim_core.spec import RunSpec
from optim_core.trajectory import CONVERGED
from tests.test_optimizers import SCHEDULES as SCHEDULE_CASES
from tests.test_optimizers import random_spec

CUDA = torch.cuda.is_available()
FLOAT32_RTOL = 1e-3  # float32 on a 200-step path, relative to the domain's size


def assert_same(a, b, rtol=1e-9):
    assert (a.status, a.stop_step) == (b.status, b.stop_step), (a.message, b.message)
    k = a.last_finite + 1
    scale = 1 + np.abs(a.positions[:k])
    assert np.all(np.abs(a.positions[:k] - b.positions[:k]) <= rtol * scale)
    np.testing.assert_array_equal(np.isnan(a.positions), np.isnan(b.positions))
    np.testing.assert_allclose(a.lr, b.lr, rtol=1e-12)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
@pytest.mark.parametrize("draw", range(3))
def test_every_optimizer_matches_numba_on_cpu(name, draw):
    spec = random_spec(name, draw)
    assert_same(numba_engine.run(spec), torch_engine.run(spec, device="cpu"))


CLOSED_FORM = [n for n in SCHEDULE_CASES if n != "ReduceLROnPlateau"]


@pytest.mark.parametrize("schedule", CLOSED_FORM)
@pytest.mark.parametrize("name", ["SGD", "Adam", "NAdam"])
def test_schedules_match_numba_on_cpu(name, schedule):
    spec = random_spec(name, 5, schedule=schedule, schedule_params=SCHEDULE_CASES[schedule])
    assert_same(numba_engine.run(spec), torch_engine.run(spec, device="cpu"))


REMAINING = {
    "MultiStepLR": {"milestones": [30, 30, 90], "gamma": 0.5},
    "ConstantLR": {"factor": 0.5, "total_iters": 40},
    "LinearLR": {"start_factor": 0.1, "total_iters": 50},
    "ExponentialLR": {"gamma": 0.99},
    "PolynomialLR": {"total_iters": 150, "power": 2.0},
    "CosineAnnealingWarmRestarts": {"T_0": 40, "T_mult": 2},
    "InverseTimeLR": {"decay_rate": 0.05},
    "none": {},
}


def test_every_schedule_kind_is_covered():
    # ReduceLROnPlateau is the one schedule the torch engine hands to the numba engine.
    covered = set(CLOSED_FORM) | set(REMAINING) | {"ReduceLROnPlateau"}
    missing = set(SCHEDULES) - covered
    assert not missing, f"never run through the torch engine: {missing}"


@pytest.mark.parametrize(("schedule", "params"), list(REMAINING.items()), ids=list(REMAINING))
def test_remaining_schedules_match_numba_on_cpu(schedule, params):
    spec = random_spec("RMSprop", 2, schedule=schedule, schedule_params=params)
    assert_same(numba_engine.run(spec), torch_engine.run(spec, device="cpu"))


def test_divergence_and_convergence_are_the_same_result():
    diverging = RunSpec(optimizer="SGD", hyperparameters=(("lr", 1.0),), steps=50)
    converging = RunSpec(surface="bowl", optimizer="SGD", hyperparameters=(("lr", 0.1),), steps=400)
    far = RunSpec(surface="bowl", optimizer="SGD", start=(1e6, 0.0), steps=20)
    for spec in (diverging, converging, far):
        assert_same(numba_engine.run(spec), torch_engine.run(spec, device="cpu"))


def test_batches_match_numba_on_cpu():
    spec = RunSpec(
        surface="himmelblau", optimizer="Adam", hyperparameters=(("lr", 0.05),), steps=200
    )
    starts = np.random.default_rng(1).uniform(-5, 5, (300, 2))
    a, b = (
        numba_engine.run_starts(spec, starts),
        torch_engine.run_starts(spec, starts, device="cpu"),
    )
    np.testing.assert_array_equal(a.status, b.status)
    np.testing.assert_array_equal(a.stop_step, b.stop_step)
    np.testing.assert_allclose(a.final, b.final, rtol=1e-9, atol=1e-12)
    settings = [spec.with_(hyperparameters={"lr": lr}) for lr in np.logspace(-3, -1, 20)]
    a, b = numba_engine.run_settings(settings), torch_engine.run_settings(settings, device="cpu")
    np.testing.assert_array_equal(a.status, b.status)
    np.testing.assert_allclose(a.final, b.final, rtol=1e-9, atol=1e-12)


FLOAT32_DEVICES = [
    "cpu",
    pytest.param("cuda", marks=pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")),
]


@pytest.mark.parametrize("device", FLOAT32_DEVICES)
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_float32_ends_like_numba(name, device):
    spec = random_spec(name, 0)
    ours = numba_engine.run(spec)
    f32 = torch_engine.run(spec, device=device, dtype=torch.float32)
    assert f32.status == ours.status
    k = ours.last_finite
    (x0, x1), (y0, y1) = get_surface(spec.surface).domain
    assert np.max(np.abs(f32.positions[k] - ours.positions[k])) <= FLOAT32_RTOL * max(
        x1 - x0, y1 - y0
    )


@pytest.mark.parametrize("device", FLOAT32_DEVICES)
@pytest.mark.parametrize(("optimizer", "lr"), [("SGD", 1e-3), ("Adam", 1e-2)])
def test_float32_converges_like_float64(optimizer, lr, device):
    # In float32 an SGD iterate stops moving at |g| ~ 1e-4 here; before the stop tolerance
    # had a float32 floor none of these runs converged (all ran out of steps).
    spec = RunSpec(
        surface="himmelblau", optimizer=optimizer, hyperparameters=(("lr", lr),), steps=1000
    )
    starts = np.random.default_rng(0).uniform(-5, 5, (512, 2))
    f64 = numba_engine.run_starts(spec, starts)
    f32 = torch_engine.run_starts(spec, starts, device=device, dtype=torch.float32)
    counts64, counts32 = (np.bincount(r.status, minlength=3) for r in (f64, f32))
    assert counts64[CONVERGED] > 300
    assert abs(int(counts32[CONVERGED]) - int(counts64[CONVERGED])) <= 0.1 * len(starts)
    minima = np.array(get_surface("himmelblau").minima)
    basin = lambda r: np.argmin(np.linalg.norm(r.final[:, None] - minima, axis=2), axis=1)  # noqa: E731
    assert np.mean(basin(f32) == basin(f64)) >= 0.98


def test_engine_names_say_where_they_run():
    assert torch_engine.describe("cpu") == "torch-cpu"
    assert torch_engine.default_device() in ("cpu", "cuda")
