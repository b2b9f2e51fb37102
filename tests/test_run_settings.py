"""``run_settings`` (the batch engine a search runs its trials through) ends every run where
``run`` ends it, bit for bit: random hyperparameters of every optimizer (flags mixed within
one batch), schedules (momentum-cycling ones among them), gradient noise, SAM, starts outside
the box, and runs that diverge or converge."""

import numpy as np
import pytest

from optim_core.engines import numba_engine, prepare
from optim_core.optimizers import OPTIMIZERS
from optim_core.schedules import SCHEDULES
from optim_core.spec import RunSpec
from optim_core.trajectory import CONVERGED, DIVERGED, MAX_STEPS
from tests.test_optimizers import LR_RANGE, random_hyperparameters

STEPS = 300
SURFACE = {  # a different landscape per optimizer, among them ones with many minima
    "SGD": "rosenbrock", "Adagrad": "himmelblau", "RMSprop": "rastrigin", "Adadelta": "bowl",
    "Adam": "rastrigin", "AdamW": "ackley", "NAdam": "rosenbrock", "RAdam": "himmelblau",
    "Adamax": "booth", "Lion": "rastrigin",
}  # fmt: skip
SCHEDULE_NAMES = [n for n, d in SCHEDULES.items() if n != "SequentialLR" and not d.loss_driven]


def settings(name: str, seed: int, n: int = 40) -> list[RunSpec]:
    rng = np.random.default_rng(seed)
    base = RunSpec(surface=SURFACE[name], optimizer=name, steps=STEPS, tol=1e-7)
    (x0, x1), (y0, y1) = base.surface_def.domain
    specs = []
    for i in range(n):
        h = random_hyperparameters(name, rng)
        if i % 5 == 0:  # now and then an lr far too large: the run diverges
            h["lr"] = float(10 ** (LR_RANGE[name][1] + 3))
        schedule = "none" if i % 2 else SCHEDULE_NAMES[i % len(SCHEDULE_NAMES)]
        params = SCHEDULES[schedule].ui_defaults(STEPS, h["lr"])
        if SCHEDULES[schedule].cycles_momentum and OPTIMIZERS[name].momentum is None:
            params["cycle_momentum"] = False
        start = (float(rng.uniform(x0, x1)), float(rng.uniform(y0, y1)))
        if i == 7:  # outside the divergence box: diverged at step 0
            start = (1e9, 0.0)
        specs.append(
            base.with_(
                hyperparameters=h,
                start=start,
                schedule=schedule,
                schedule_params=params,
                noise=float(rng.choice([0.0, 0.0, 0.3])),
                seed=int(rng.integers(0, 1000)),
                sam_rho=float(rng.choice([0.0, 0.0, 0.05])),
            )
        )
    return specs


def assert_same_ends(specs: list[RunSpec]) -> dict:
    numba_engine.warm_settings(specs)  # else a first call would run them one at a time
    batch = numba_engine.run_settings(specs)
    singles = [numba_engine.run(s) for s in specs]
    np.testing.assert_array_equal(batch.status, [t.status for t in singles])
    np.testing.assert_array_equal(batch.stop_step, [t.stop_step for t in singles])
    np.testing.assert_array_equal(batch.final, [t.final_position for t in singles])
    np.testing.assert_array_equal(batch.final_loss, [t.final_loss for t in singles])
    return {int(s) for s in batch.status}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_run_settings_ends_each_run_where_run_does(name):
    statuses = set()
    for seed in (0, 1):
        prepare._PER_STEP.clear()  # the batch's own constants, not ones cached by run()
        statuses |= assert_same_ends(settings(name, seed))
    assert DIVERGED in statuses and statuses & {MAX_STEPS, CONVERGED}  # the cases meant


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_one_group_of_runs_with_their_own_hyperparameters(name):
    """A search's usual batch: one optimizer and its flags, schedule "none", no noise, no
    SAM, every number its own (prepared together, as columns)."""
    rng = np.random.default_rng(3)
    base = RunSpec(surface=SURFACE[name], optimizer=name, steps=500)
    flags = {p.name: p.default for p in OPTIMIZERS[name].params if isinstance(p.default, bool)}
    specs = [
        base.with_(hyperparameters={**random_hyperparameters(name, rng), **flags})
        for _ in range(70)  # more than one chunk
    ]
    prepare._PER_STEP.clear()
    assert_same_ends(specs)


def test_a_constant_lr_is_one_value_per_run_not_a_table():
    """The constant schedule's closed form is a view with stride 0 along the steps: the
    batch keeps one lr per run (a row of C, no (runs, steps) table), while the single-run
    arrays stay contiguous and writable (the kernels' signature)."""
    from optim_core.engines.prepare_batch import prepare_settings

    base = RunSpec(surface="rastrigin", optimizer="Adam", steps=500)
    specs = [base.with_(hyperparameters={"lr": 10.0**-k}) for k in range(1, 5)]
    b = prepare_settings(specs)
    lr_at = b.at[-1]
    assert lr_at[1] == 0 and b.P[-1].size == 1  # no table: the kernel reads row lr_at[0]
    np.testing.assert_array_equal(b.C[lr_at[0]], [10.0**-k for k in range(1, 5)])
    lr = specs[0].lr_schedule.lr(np.arange(500))
    assert lr.flags.c_contiguous and lr.flags.writeable and lr.strides == (8,)
    assert_same_ends(specs)


def test_runs_with_their_own_tolerances():
    """The kernels' stop rules take one tol per batch: runs of several still each stop by
    their own, in run_settings as in run_many."""
    base = RunSpec(surface="bowl", optimizer="SGD", steps=200, hyperparameters={"lr": 0.1})
    specs = [base.with_(tol=tol) for tol in (0.0, 1e-3, 1e-6, 1e-3)]
    stops = assert_same_ends(specs)
    assert stops == {MAX_STEPS, CONVERGED}
    for many, spec in zip(numba_engine.run_many(specs), specs, strict=True):
        np.testing.assert_array_equal(many.positions, numba_engine.run(spec).positions)
