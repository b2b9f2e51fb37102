"""ReduceLROnPlateau through the engines against torch's scheduler, with random parameters.

Each engine's run records the losses it stepped the plateau state machine on and the lr each
step used; torch's ``ReduceLROnPlateau`` stepped on those same losses must give the same lrs.
Random cooldown, mode, threshold mode, min_lr and eps reach every branch of the state machine
(a kernel that kept counting bad steps during cooldown passed the earlier tests).
"""

import numpy as np
import pytest
import torch

from optim_core.engines import numba_engine, torch_engine
from optim_core.schedules import plateau_reference
from optim_core.spec import RunSpec

DRAWS = 12
STEPS = 160


def random_plateau(rng) -> dict:
    return {
        "mode": str(rng.choice(["min", "max"])),
        "factor": float(rng.uniform(0.2, 0.9)),
        "patience": int(rng.integers(0, 5)),
        "threshold": float(10 ** rng.uniform(-4, -1.5)),
        "threshold_mode": str(rng.choice(["rel", "abs"])),
        "cooldown": int(rng.integers(1, 8)),
        "min_lr": float(rng.choice([0.0, 10 ** rng.uniform(-5, -3.5)])),
        "eps": float(rng.choice([1e-8, 10 ** rng.uniform(-5, -4)])),
    }


def random_specs(draw: int, runs: int = 3) -> list[RunSpec]:
    """Noisy SGD runs sharing one plateau setting, so losses stall and recover at random."""
    rng = np.random.default_rng(draw)
    base = RunSpec.from_dict({
        "surface": "himmelblau", "optimizer": "SGD", "steps": STEPS, "tol": 0.0,
        "schedule": "ReduceLROnPlateau", "schedule_params": random_plateau(rng),
    })  # fmt: skip
    return [
        base.with_(
            hyperparameters={"lr": float(10 ** rng.uniform(-3, -2.3))},
            start=tuple(rng.uniform(-4, 4, 2).tolist()),
            noise=float(rng.choice([0.0, 3.0])),
            seed=int(rng.integers(0, 1000)),
        )
        for _ in range(runs)
    ]


def torch_lrs(losses: np.ndarray, lr0: float, params: dict) -> np.ndarray:
    """The lr of each step of a torch loop whose scheduler steps on ``losses``."""
    p = torch.zeros(1, requires_grad=True)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(torch.optim.SGD([p], lr=lr0), **params)
    out = np.empty(len(losses))
    for t, loss in enumerate(losses):
        out[t] = scheduler.optimizer.param_groups[0]["lr"]
        scheduler.step(float(loss))
    return out


def assert_lrs_match_torch(traj) -> None:
    k = traj.stop_step
    params = dict(traj.spec.schedule_params)
    expected = torch_lrs(traj.loss[:k], traj.spec.h["lr"], params)
    np.testing.assert_array_equal(traj.lr[:k], expected)
    np.testing.assert_array_equal(
        plateau_reference(traj.loss[:k], traj.spec.h["lr"], **params), expected
    )


def engines():
    return {
        "numba.run": lambda specs: [numba_engine.run(s) for s in specs],
        "numba.run_many": numba_engine.run_many,
        "torch.run_many": lambda specs: torch_engine.run_many(specs, device="cpu"),
    }


@pytest.mark.parametrize("engine", list(engines()))
@pytest.mark.parametrize("draw", range(DRAWS))
def test_plateau_lrs_match_torch_through_the_engines(engine, draw):
    specs = random_specs(draw)
    trajs = engines()[engine](specs)
    for traj in trajs:
        assert_lrs_match_torch(traj)


def test_random_draws_cut_the_lr_often():
    cuts = 0
    for draw in range(DRAWS):
        for traj in numba_engine.run_many(random_specs(draw)):
            lr = traj.lr[: traj.stop_step]
            cuts += int(np.count_nonzero(lr[1:] < lr[:-1]))
    assert cuts > 5 * DRAWS


def test_torch_engine_final_points_with_plateau_match_numba():
    specs = random_specs(3, runs=6)
    starts = np.array([s.start for s in specs])
    a = numba_engine.run_starts(specs[0], starts)
    b = torch_engine.run_starts(specs[0], starts, device="cpu")
    np.testing.assert_array_equal(a.status, b.status)
    np.testing.assert_allclose(a.final, b.final, rtol=1e-9, atol=1e-12)
    a, b = numba_engine.run_settings(specs), torch_engine.run_settings(specs, device="cpu")
    np.testing.assert_allclose(a.final, b.final, rtol=1e-9, atol=1e-12)
