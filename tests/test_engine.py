"""Behaviour of the Numba engine: divergence and convergence as results, the batch kernels
against single runs, reproducibility, thread safety, and the invariants every Trajectory keeps.

Torch parity of each update rule is ``test_optimizers.py``'s job; here the engine is checked
against itself and against the surfaces' own ``f``.
"""

import math
import threading
import warnings
from functools import cache

import numba
import numpy as np
import pytest

import optim_core
from landscapes import get_surface
from optim_core.engines import numba_engine
from optim_core.optimizers import OPTIMIZERS
from optim_core.spec import RunSpec
from optim_core.trajectory import CONVERGED, DIVERGED, MAX_STEPS, Trajectory


def spec(surface: str, optimizer: str, h: dict | None = None, **fields) -> RunSpec:
    """A RunSpec from plain values: ``h`` the hyperparameters, dicts for dict-valued fields."""
    data = {"surface": surface, "optimizer": optimizer, "hyperparameters": h or {}, **fields}
    return RunSpec.from_dict(data)


def run_quietly(s: RunSpec) -> Trajectory:
    """``numba_engine.run`` with every warning turned into an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return numba_engine.run(s)


def assert_same_trajectory(a: Trajectory, b: Trajectory) -> None:
    """Bit-for-bit equal arrays (NaNs in the same places) and the same end."""
    for name in ("positions", "loss", "lr", "momentum", "effective_lr"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert (a.status, a.stop_step) == (b.status, b.stop_step)


# ---- 1. divergence is a result ------------------------------------------------------------

# The saddle x^2 - y^2 with SGD: y_k = y_0 (1 + 2 lr)^k leaves the divergence box
# (DIVERGENCE_SPANS = 100 domain widths = 400 around the origin) at the first k with
# 0.01 * 1.2^k > 400.
SADDLE_K = math.ceil(math.log(400 / 0.01) / math.log(1.2))

DIVERGING = {  # name: (spec, the step it diverges at, if known in closed form)
    "sgd-rosenbrock-lr1": (spec("rosenbrock", "SGD", {"lr": 1.0}, steps=50), None),
    "adam-beale-lr1e3": (spec("beale", "Adam", {"lr": 1e3}, steps=50), None),
    "sgd-lr1e300-overflow": (spec("rosenbrock", "SGD", {"lr": 1e300}, steps=50), 1),
    "start-far-outside": (spec("bowl", "SGD", start=(1e6, 0.0), steps=50), 0),
    "saddle-unbounded-below": (
        spec("saddle", "SGD", {"lr": 0.1}, start=(-1.8, 0.01), steps=200),
        SADDLE_K,
    ),
}


@pytest.mark.parametrize(("s", "expected_k"), list(DIVERGING.values()), ids=list(DIVERGING))
def test_divergence_is_a_result_not_an_exception(s, expected_k):
    traj = run_quietly(s)
    k = traj.stop_step
    assert traj.status == DIVERGED and traj.diverged and not traj.converged
    assert traj.message == f"diverged at step {k}"
    if expected_k is not None:
        assert k == expected_k
    assert 0 <= k <= s.steps
    # A start that is itself out of bounds stays in positions[0]; everything after is NaN.
    first_nan = max(k, 1)
    assert np.isnan(traj.positions[first_nan:]).all()
    assert np.isnan(traj.loss[first_nan:]).all()
    assert (traj.positions[0] == s.start).all()
    assert np.isnan(traj.lr[k:]).all()
    assert np.isnan(traj.effective_lr[k:]).all()
    assert np.isfinite(traj.positions[:k]).all()
    assert np.isfinite(traj.loss[:k]).all()
    assert np.isfinite(traj.lr[: max(k - 1, 0)]).all()
    assert traj.distance_to([(0.0, 0.0)]) == math.inf


def test_saddle_divergence_step_matches_the_closed_form():
    s, _ = DIVERGING["saddle-unbounded-below"]
    traj = run_quietly(s)
    k = traj.stop_step
    ys = 0.01 * 1.2 ** np.arange(k)
    np.testing.assert_allclose(traj.positions[:k, 1], ys, rtol=1e-12)


def test_divergence_at_step_0_reports_the_start_as_last_finite():
    s, _ = DIVERGING["start-far-outside"]
    traj = run_quietly(s)
    assert traj.stop_step == 0
    assert traj.last_finite == 0


# ---- 2. convergence -----------------------------------------------------------------------

BOWL_SGD = spec("bowl", "SGD", {"lr": 0.1}, surface_params={"kappa": 2.0}, steps=500)


def test_converges_and_holds_still():
    traj = run_quietly(BOWL_SGD)
    k = traj.stop_step
    assert traj.status == CONVERGED and traj.converged
    assert 0 < k < BOWL_SGD.steps
    assert traj.message == f"converged at step {k}"
    assert (traj.positions[k:] == traj.positions[k]).all()
    assert (traj.loss[k:] == traj.loss[k]).all()
    assert np.isfinite(traj.positions).all()
    np.testing.assert_array_equal(traj.final_position, traj.positions[k])
    assert traj.distance_to(get_surface("bowl").minima) < 1e-5
    assert np.isnan(traj.lr[k:]).all() and (traj.lr[:k] == 0.1).all()


def test_tol_zero_runs_every_step():
    traj = run_quietly(BOWL_SGD.with_(tol=0.0))
    assert traj.status == MAX_STEPS
    assert traj.stop_step == BOWL_SGD.steps
    assert traj.message == f"ran all {BOWL_SGD.steps} steps"
    assert np.isfinite(traj.positions).all() and (traj.lr == 0.1).all()
    assert traj.distance_to([(0.0, 0.0)]) < 1e-12


# ---- 3. batch kernel (run_starts) against single runs -------------------------------------

N_STARTS = 50
# Five (surface, optimizer) pairs, each kernel compiled once; noise, lrs and starts vary.
BATCH_CASES = {
    "adam-rosenbrock": spec("rosenbrock", "Adam", {"lr": 0.05}),
    "adam-rosenbrock-noise": spec("rosenbrock", "Adam", {"lr": 0.02}, noise=0.3, seed=3),
    "sgd-momentum-rosenbrock": spec("rosenbrock", "SGD", {"lr": 1e-3, "momentum": 0.9}),
    "sgd-momentum-rosenbrock-noise": spec(
        "rosenbrock", "SGD", {"lr": 1e-3, "momentum": 0.9}, noise=0.5, seed=11
    ),
    "sgd-momentum-rosenbrock-faint-noise": spec(
        "rosenbrock", "SGD", {"lr": 1e-3, "momentum": 0.9}, noise=1e-9, seed=2
    ),
    "rmsprop-centered-rosenbrock": spec(
        "rosenbrock", "RMSprop", {"lr": 0.01, "centered": True, "momentum": 0.5}
    ),
    "adagrad-bowl": spec("bowl", "Adagrad", {"lr": 0.5}),
    "lion-bowl": spec("bowl", "Lion", {"lr": 1e-3}),
    "lion-bowl-noise": spec(
        "bowl", "Lion", {"lr": 0.02}, surface_params={"kappa": 100.0}, noise=1.0, seed=5
    ),
}
BATCH_CASES = {name: s.with_(steps=200) for name, s in BATCH_CASES.items()}


def batch_starts(s: RunSpec, n: int = N_STARTS, seed: int = 0) -> np.ndarray:
    """Random starts over 1.5x the domain, the minimum itself and a point beside it."""
    surface = get_surface(s.surface)
    rng = np.random.default_rng(seed)
    (x0, x1), (y0, y1) = surface.domain
    cx, cy, wx, wy = (x0 + x1) / 2, (y0 + y1) / 2, 0.75 * (x1 - x0), 0.75 * (y1 - y0)
    random = rng.uniform((cx - wx, cy - wy), (cx + wx, cy + wy), size=(n - 2, 2))
    m = np.array(surface.minima[0])
    return np.vstack([random, m, m + 1e-9])


def assert_batch_matches_runs(s: RunSpec, starts: np.ndarray, batch) -> None:
    assert len(batch) == len(starts)
    for i, start in enumerate(starts):
        one = numba_engine.run(s.with_(start=tuple(map(float, start))))
        where = f"start {i} = {tuple(start)}: {one.message}"
        assert batch.status[i] == one.status, where
        assert batch.stop_step[i] == one.stop_step, where
        close = {"rtol": 1e-12, "atol": 1e-300, "err_msg": where}
        np.testing.assert_allclose(batch.final[i], one.final_position, **close)
        np.testing.assert_allclose(batch.final_loss[i], one.final_loss, **close)


@cache
def batch_result(name: str, block: int = numba_engine.DEFAULT_BLOCK):
    s = BATCH_CASES[name]
    starts = batch_starts(s)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return starts, numba_engine.run_starts(s, starts, block=block)


@pytest.mark.parametrize("name", list(BATCH_CASES))
def test_run_starts_matches_single_runs(name):
    starts, batch = batch_result(name)
    assert_batch_matches_runs(BATCH_CASES[name], starts, batch)


def test_batch_table_sees_every_status():
    seen = set()
    for name in BATCH_CASES:
        seen |= set(batch_result(name)[1].status.tolist())
    assert seen == {MAX_STEPS, CONVERGED, DIVERGED}


@pytest.mark.parametrize("block", [1, 7, 128])
@pytest.mark.parametrize("name", ["sgd-momentum-rosenbrock", "lion-bowl-noise"])
def test_run_starts_any_block_size(name, block):
    starts, batch = batch_result(name, block)
    assert_batch_matches_runs(BATCH_CASES[name], starts, batch)
    _, default = batch_result(name)
    np.testing.assert_array_equal(batch.final, default.final)
    np.testing.assert_array_equal(batch.stop_step, default.stop_step)


def test_run_starts_with_plateau_falls_back_to_full_runs():
    s = BATCH_CASES["sgd-momentum-rosenbrock"].with_(
        schedule="ReduceLROnPlateau",
        schedule_params={"patience": 3, "factor": 0.5, "threshold": 0.05},
    )
    starts = batch_starts(s, n=20)
    assert_batch_matches_runs(s, starts, numba_engine.run_starts(s, starts))


def test_run_starts_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"shape \(runs, 2\)"):
        numba_engine.run_starts(BOWL_SGD, np.zeros((3, 3)))


def test_run_starts_when_the_cheap_stop_test_fires_without_a_stop():
    # On the saddle's ridge x = 0 the x-gradient is exactly 0, so the block's cheap test
    # (both gradients within tol) fires at every step while some run there still has a small
    # y: runs slide along y at different speeds, some still inside after 300 steps, some out
    # of the box; the exact pass must stop only those, at the right step, and leave the rest.
    s = spec("saddle", "SGD", {"lr": 0.01, "momentum": 0.5}, steps=300, tol=1e-3)
    ys = np.concatenate([np.geomspace(1e-12, 1.0, 12), -np.geomspace(1e-9, 0.5, 5)])
    starts = np.column_stack([np.zeros(len(ys)), ys])
    starts = np.vstack([starts, [(0.0, 0.0), (1e-4, 0.0), (0.3, 1e-7)]])
    batch = numba_engine.run_starts(s, starts, block=8)
    assert_batch_matches_runs(s, starts, batch)
    assert {MAX_STEPS, CONVERGED, DIVERGED} <= set(batch.status.tolist())
    assert len(set(batch.stop_step[batch.status == DIVERGED].tolist())) > 3


def test_run_starts_stops_where_a_custom_loss_overflows_inside_the_box():
    # -exp(x) overflows to -inf at x ~ 710, well inside this domain's box (2000 wide): single
    # runs stop there as diverged, so the batch kernel must test the loss at every step.
    s = spec("custom", "SGD", {"lr": 1.0}, formula="-exp(x) + y^2", steps=20, tol=0.0)
    s = s.with_(domain=((-10.0, 10.0), (-10.0, 10.0)))
    starts = np.array([(6.6, 0.0), (6.0, 1.0), (5.0, -2.0), (-3.0, 0.5), (6.55, 0.0)])
    batch = numba_engine.run_starts(s, starts, block=2)
    assert_batch_matches_runs(s, starts, batch)
    assert (batch.status == DIVERGED).sum() >= 3
    assert (batch.stop_step[batch.status == DIVERGED] == 1).any()


def test_run_starts_agrees_on_a_start_outside_the_box():
    s = BATCH_CASES["adagrad-bowl"]
    starts = np.array([DIVERGING["start-far-outside"][0].start, (0.5, 0.5)])
    assert_batch_matches_runs(s, starts, numba_engine.run_starts(s, starts))


# ---- 4. run_many against run --------------------------------------------------------------

RUN_MANY_BASE = spec("rosenbrock", "SGD", steps=150)
RUN_MANY_SPECS = [
    RUN_MANY_BASE,
    RUN_MANY_BASE.with_(hyperparameters={"lr": 2e-3, "momentum": 0.9}, start=(0.0, 2.5)),
    RUN_MANY_BASE.with_(hyperparameters={"lr": 1e-3, "nesterov": True, "momentum": 0.8}),
    RUN_MANY_BASE.with_(schedule="StepLR", schedule_params={"step_size": 30, "gamma": 0.5}),
    RUN_MANY_BASE.with_(
        hyperparameters={"lr": 1e-3, "momentum": 0.9},
        schedule="OneCycleLR",
        schedule_params={"max_lr": 2e-3, "total_steps": 150},
    ),
    RUN_MANY_BASE.with_(schedule="CosineAnnealingLR", schedule_params={"T_max": 50}),
    RUN_MANY_BASE.with_(noise=0.3, seed=1),
    RUN_MANY_BASE.with_(noise=0.3, seed=2, start=(1.5, -0.5)),
    RUN_MANY_BASE.with_(hyperparameters={"lr": 1.0}),  # diverges
    RUN_MANY_BASE.with_(start=(1.0, 1.0)),  # converges at once
    RUN_MANY_BASE.with_(hyperparameters={"lr": 1e-3, "weight_decay": 0.1}, tol=0.0),
]


def test_run_many_equals_run_of_each_spec():
    many = numba_engine.run_many(RUN_MANY_SPECS)
    assert len(many) == len(RUN_MANY_SPECS)
    assert {t.status for t in many} == {MAX_STEPS, CONVERGED, DIVERGED}
    for s, batched in zip(RUN_MANY_SPECS, many, strict=True):
        assert batched.spec == s
        assert_same_trajectory(batched, numba_engine.run(s))


def test_run_many_with_different_plateau_settings_equals_run():
    specs = [
        RUN_MANY_BASE.with_(schedule="ReduceLROnPlateau", schedule_params={"patience": p})
        for p in (0, 2)
    ] + [RUN_MANY_BASE]
    for s, batched in zip(specs, numba_engine.run_many(specs), strict=True):
        assert_same_trajectory(batched, numba_engine.run(s))


def test_run_many_of_nothing_is_nothing():
    assert numba_engine.run_many([]) == []


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"surface": "bowl"}, "bowl"),
        ({"optimizer": "Adam", "hyperparameters": {}}, "Adam"),
        ({"steps": 151}, "151"),
        ({"surface": "bowl", "surface_params": {"kappa": 3.0}}, "surface_params"),
    ],
    ids=["surface", "optimizer", "steps", "surface_params"],
)
def test_run_many_rejects_mismatched_specs(change, named):
    first = RUN_MANY_BASE.with_(surface="bowl") if "surface_params" in change else RUN_MANY_BASE
    with pytest.raises(ValueError, match="run_many") as err:
        numba_engine.run_many([first, RUN_MANY_BASE.with_(**change)])
    assert named in str(err.value)


# ---- 5. reproducibility -------------------------------------------------------------------


def test_same_spec_gives_identical_arrays():
    s = RUN_MANY_BASE.with_(noise=0.5, seed=4)
    assert_same_trajectory(numba_engine.run(s), numba_engine.run(s))
    assert_same_trajectory(numba_engine.run(s), numba_engine.run(RunSpec.from_json(s.to_json())))


def test_seed_changes_the_noisy_path_only():
    noisy = [numba_engine.run(RUN_MANY_BASE.with_(noise=0.5, seed=seed)) for seed in (0, 1)]
    assert not np.array_equal(noisy[0].positions, noisy[1].positions)
    assert_same_trajectory(noisy[0], numba_engine.run(RUN_MANY_BASE.with_(noise=0.5, seed=0)))
    quiet = [numba_engine.run(RUN_MANY_BASE.with_(seed=seed)) for seed in (0, 1, 12345)]
    for other in quiet[1:]:
        assert_same_trajectory(quiet[0], other)


# ---- 6. thread safety ---------------------------------------------------------------------

# A pair no other test here uses, so its kernels are first compiled inside the threads.
THREAD_SPECS = [
    spec("six_hump_camel", "Adamax", steps=150),
    spec("six_hump_camel", "Adamax", {"lr": 0.05}, steps=150),
    spec("six_hump_camel", "Adamax", noise=0.2, seed=1, steps=150),
    spec("six_hump_camel", "Adamax", {"lr": 0.5}, steps=150),
]
ROUNDS = 3


def _work(s: RunSpec):
    starts = batch_starts(s, n=64, seed=1)
    return numba_engine.run_starts(s, starts, block=4), numba_engine.run(s)


def test_concurrent_threads_match_sequential_results():
    barrier = threading.Barrier(len(THREAD_SPECS))
    results: dict[tuple[int, int], tuple] = {}
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            barrier.wait()
            for r in range(ROUNDS):
                results[i, r] = _work(THREAD_SPECS[i])
        except BaseException as err:  # re-raised below, in the main thread
            errors.append(err)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(THREAD_SPECS))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a worker thread hung"
    assert not errors, errors
    assert numba.threading_layer() != "workqueue"
    for i, s in enumerate(THREAD_SPECS):
        batch, traj = _work(s)
        for r in range(ROUNDS):
            got_batch, got_traj = results[i, r]
            for field in ("final", "final_loss", "status", "stop_step"):
                np.testing.assert_array_equal(getattr(got_batch, field), getattr(batch, field))
            assert_same_trajectory(got_traj, traj)


def test_threading_layer_is_not_workqueue():
    numba_engine.run_starts(BATCH_CASES["adagrad-bowl"], np.zeros((4, 2)))
    assert numba.threading_layer() in ("omp", "tbb")


# ---- 7. effective learning rate -----------------------------------------------------------


def test_effective_lr_of_plain_sgd_is_the_lr():
    s = spec("rosenbrock", "SGD", {"lr": 1e-3}, steps=300)
    traj = run_quietly(s)
    assert traj.status == MAX_STEPS
    np.testing.assert_allclose(traj.effective_lr, 1e-3, rtol=1e-9)
    stepped = run_quietly(s.with_(schedule="StepLR", schedule_params={"step_size": 100}))
    assert stepped.lr[0] == 1e-3 and stepped.lr[-1] == pytest.approx(1e-5)
    np.testing.assert_allclose(stepped.effective_lr.T, [stepped.lr, stepped.lr], rtol=1e-9)


def test_effective_lr_is_nan_where_the_gradient_is_zero():
    # On the x-axis the saddle's y-gradient is exactly zero: y never moves.
    s = spec("saddle", "SGD", {"lr": 0.1}, start=(-1.8, 0.0), steps=20)
    traj = run_quietly(s)
    assert np.isnan(traj.effective_lr[:, 1]).all()
    np.testing.assert_allclose(traj.effective_lr[:, 0], 0.1, rtol=1e-9)


def test_effective_lr_of_adam_differs_per_coordinate():
    s = spec("rosenbrock", "Adam", {"lr": 0.01}, steps=300)
    eff = run_quietly(s).effective_lr
    assert np.isfinite(eff).all()
    assert not np.allclose(eff[:, 0], eff[:, 1], rtol=0.5)
    assert not np.allclose(eff, 0.01, rtol=0.5)


# ---- 8. invariants of every (surface, optimizer) pair -------------------------------------

INVARIANT_SURFACES = ("rosenbrock", "himmelblau", "bowl")
INVARIANT_STEPS = 300


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
@pytest.mark.parametrize("surface", INVARIANT_SURFACES)
def test_trajectory_invariants(surface, optimizer):
    s = spec(surface, optimizer, steps=INVARIANT_STEPS)
    traj = run_quietly(s)
    n = INVARIANT_STEPS
    assert traj.positions.shape == (n + 1, 2) and traj.loss.shape == (n + 1,)
    assert traj.lr.shape == traj.momentum.shape == (n,) and traj.effective_lr.shape == (n, 2)
    assert traj.steps == n and traj.spec is s
    assert tuple(traj.positions[0]) == s.start == get_surface(surface).starts[0]

    surf = get_surface(surface)
    a = np.array([v for _, v in s.surface_params], dtype=np.float64)
    finite = np.isfinite(traj.loss)
    expected = surf.f(traj.positions[finite, 0], traj.positions[finite, 1], a)
    np.testing.assert_allclose(traj.loss[finite], expected, rtol=1e-12, atol=1e-300)

    k = traj.stop_step
    if traj.status == MAX_STEPS:
        assert k == n and finite.all()
    elif traj.status == CONVERGED:
        assert 0 < k <= n and finite.all() and (traj.positions[k:] == traj.positions[k]).all()
    else:
        assert traj.status == DIVERGED and not finite[k:].any() and finite[:k].all()
    assert np.isfinite(traj.lr[: max(k - 1, 0)]).all()
    if OPTIMIZERS[optimizer].momentum is None:
        assert np.isnan(traj.momentum).all()


# ---- 9. the convenience API ---------------------------------------------------------------


def test_optim_core_run_takes_torch_names():
    traj = optim_core.run("rastrigin", "SGD", lr=1e-3, momentum=0.9, steps=100)
    assert isinstance(traj, Trajectory) and traj.steps == 100
    assert traj.spec == spec("rastrigin", "SGD", {"lr": 1e-3, "momentum": 0.9}, steps=100)
    assert (traj.momentum == 0.9).all() and (traj.lr == 1e-3).all()
    assert_same_trajectory(traj, numba_engine.run(traj.spec))


def test_optim_core_run_with_schedule_and_bad_values():
    cosine = {"schedule": "CosineAnnealingLR", "schedule_params": {"T_max": 60}}
    bowl = {"surface_params": {"kappa": 4.0}, "start": (1.0, -1.0)}
    traj = optim_core.run("bowl", "Adam", lr=0.05, steps=60, **cosine, **bowl)
    assert traj.lr[0] == 0.05 and traj.lr[30] == pytest.approx(0.025)
    assert traj.positions[0].tolist() == [1.0, -1.0]
    with pytest.raises(ValueError, match="momentum"):
        optim_core.run("rastrigin", "SGD", momentum=-0.5)
    with pytest.raises(ValueError, match="learning_rate"):
        optim_core.run("rastrigin", "SGD", learning_rate=0.1)


def test_warm_up_returns_seconds():
    seconds = numba_engine.warm_up()
    assert isinstance(seconds, float) and seconds >= 0.0
    assert numba_engine.warm_up([BATCH_CASES["lion-bowl"]]) >= 0.0
