"""SAM on the 2D surfaces (``RunSpec.sam_rho``) against the paper's algorithm written as a plain
torch loop around the real ``torch.optim`` optimizer and scheduler, in every engine.

The reference is Foret et al. (2021), Algorithm 1: g = ∇f(θ) + noise, ε = ρ g / ‖g‖₂ (0 where
g = 0), the gradient at θ + ε plus the same noise, restore θ, ``optimizer.step()``. The loss
the plateau scheduler reads and the stop rules are those of θ; convergence tests the plain g.
"""

import numpy as np
import pytest
import torch

from optim_core.engines import numba_engine, torch_engine
from optim_core.engines.numba_engine import _kernels
from optim_core.engines.prepare import gradient_noise, limits, prepare
from optim_core.spec import RunSpec
from optim_core.trajectory import CONVERGED, DIVERGED, MAX_STEPS
from tests.torch_reference import torch_kwargs, torch_scheduler

STEPS = 200
RTOL, ATOL = 1e-9, 1e-12
FORMULA = "x^2 + 3*y^2 + sin(2*x)*cos(y) + 0.1*x*y"


def sam_reference(spec: RunSpec):
    """(positions (steps+1, 2), lr (steps,), status, stop step) of SAM around torch.optim.

    Stops as the lab does on convergence (|g| and |step| within the stop tolerance, g the
    plain gradient at θ); the cases never diverge."""
    f, a = spec.surface_def.f, tuple(v for _, v in spec.surface_params)
    p = torch.tensor(spec.start, dtype=torch.float64, requires_grad=True)
    optimizer = getattr(torch.optim, spec.optimizer_def.torch_class)([p], **torch_kwargs(spec))
    scheduler = torch_scheduler(optimizer, spec)
    noise = torch.from_numpy(gradient_noise(spec))
    tol = limits(spec, spec.surface_def)[0]
    positions = np.full((spec.steps + 1, 2), np.nan)
    positions[0] = spec.start
    lrs = np.full(spec.steps, np.nan)
    for t in range(spec.steps):
        optimizer.zero_grad()
        loss = f(p[0], p[1], a)
        loss.backward()
        p.grad += noise[t]
        g, theta = p.grad.clone(), p.detach().clone()
        norm = torch.linalg.vector_norm(g)
        scale = spec.sam_rho / norm if norm > 0 else 0.0
        with torch.no_grad():
            p.add_(g * scale)
        optimizer.zero_grad()
        f(p[0], p[1], a).backward()
        with torch.no_grad():
            p.copy_(theta)
        p.grad += noise[t]
        lrs[t] = optimizer.param_groups[0]["lr"]
        optimizer.step()
        if spec.schedule == "ReduceLROnPlateau":
            scheduler.step(loss.item())
        elif scheduler is not None:
            scheduler.step()
        positions[t + 1] = p.detach().numpy()
        step = positions[t + 1] - positions[t]
        if tol > 0 and max(g.abs().max().item(), np.abs(step).max()) <= tol:
            positions[t + 2 :] = positions[t + 1]
            lrs[t + 1 :] = np.nan
            return positions, lrs, CONVERGED, t + 1
    return positions, lrs, MAX_STEPS, spec.steps


# ---- the cases: random hyperparameters, a schedule each, some with gradient noise -----------


def _betas(rng):
    return (float(rng.uniform(0.8, 0.95)), float(rng.uniform(0.95, 0.999)))


def _hyperparameters(optimizer: str, rng, scale: float) -> dict:
    """Random settings of ``optimizer``; ``scale`` shrinks the lr of the non-adaptive ones on
    steep surfaces."""
    log_uniform = lambda lo, hi: float(np.exp(rng.uniform(np.log(lo), np.log(hi))))  # noqa: E731
    if optimizer == "SGD":
        momentum = float(rng.uniform(0.3, 0.9))
        nesterov = bool(rng.integers(2))
        return {
            "lr": scale * log_uniform(2e-3, 1e-2), "momentum": momentum, "nesterov": nesterov,
            "dampening": 0.0 if nesterov else float(rng.uniform(0, 0.5)),
            "weight_decay": float(rng.uniform(0, 0.01)),
        }  # fmt: skip
    if optimizer == "Adagrad":
        return {
            "lr": log_uniform(0.05, 0.3), "lr_decay": float(rng.uniform(0, 0.01)),
            "initial_accumulator_value": float(rng.uniform(0, 0.1)),
            "weight_decay": float(rng.uniform(0, 0.01)),
        }  # fmt: skip
    if optimizer == "RMSprop":
        return {
            "lr": log_uniform(1e-3, 5e-3), "alpha": float(rng.uniform(0.9, 0.99)),
            "momentum": float(rng.uniform(0, 0.8)), "centered": bool(rng.integers(2)),
            "weight_decay": float(rng.uniform(0, 0.01)),
        }  # fmt: skip
    h = {"lr": log_uniform(5e-3, 3e-2), "betas": _betas(rng)}
    h["weight_decay"] = float(rng.uniform(0, 0.05))
    if optimizer in ("Adam", "AdamW"):
        h["amsgrad"] = bool(rng.integers(2))
    if optimizer in ("NAdam", "RAdam"):
        h["decoupled_weight_decay"] = bool(rng.integers(2))
    return h


def _schedule(kind: str, rng, lr: float) -> tuple[str, dict]:
    return kind, {
        "StepLR": {"step_size": int(rng.integers(20, 80)), "gamma": float(rng.uniform(0.3, 0.9))},
        "ExponentialLR": {"gamma": float(rng.uniform(0.98, 0.999))},
        "CosineAnnealingLR": {"T_max": STEPS, "eta_min": 0.1 * lr},
        "OneCycleLR": {"max_lr": 2 * lr, "total_steps": STEPS, "cycle_momentum": False},
        "ReduceLROnPlateau": {"patience": int(rng.integers(2, 6)), "factor": 0.5},
        "LinearLR": {"start_factor": float(rng.uniform(0.1, 0.5)), "total_iters": 50},
    }[kind]


SURFACES = {  # surface: (fields of the spec, lr scale of SGD, optimizers raced on it)
    "rosenbrock": ({"start": (-1.2, 1.0)}, 0.05, ("SGD", "Adam", "RMSprop")),
    "himmelblau": ({"start": (-0.5, -1.0)}, 1.0, ("Adagrad", "AdamW", "NAdam")),
    "custom": ({"formula": FORMULA, "start": (1.5, 1.0)}, 3.0, ("SGD", "RAdam", "Adamax")),
}
SCHEDULES = ("StepLR", "CosineAnnealingLR", "ReduceLROnPlateau", "ExponentialLR", "OneCycleLR")


def _cases() -> dict[str, RunSpec]:
    cases = {}
    for i, (surface, (fields, scale, optimizers)) in enumerate(SURFACES.items()):
        for j, optimizer in enumerate(optimizers):
            rng = np.random.default_rng(100 * i + j)
            h = _hyperparameters(optimizer, rng, scale)
            kind = SCHEDULES[(3 * i + j) % len(SCHEDULES)]
            schedule, params = _schedule(kind, rng, h["lr"])
            spec = RunSpec.from_dict(
                {
                    "surface": surface, **fields, "optimizer": optimizer, "hyperparameters": h,
                    "schedule": schedule, "schedule_params": params, "steps": STEPS, "tol": 0.0,
                    "sam_rho": float(rng.uniform(0.02, 0.2)),
                    "noise": 0.1 if j == 1 else 0.0, "seed": 7,
                }
            )  # fmt: skip
            cases[f"{surface}-{optimizer}-{schedule}"] = spec
    return cases


CASES = _cases()


def _variants(spec: RunSpec) -> list[RunSpec]:
    """The case, another radius, no SAM at all, and other starts and seeds: one batch.

    Radii stay moderate: where ‖g‖ is small, ε turns with g and amplifies rounding by about
    ρ / ‖g‖ per step (the reference's as much as the engines'), and a radius large against
    the valley makes 200 steps chaotic, beyond any rtol."""
    x, y = spec.start
    return [
        spec,
        spec.with_(sam_rho=spec.sam_rho / 2, start=(x + 0.1, y - 0.1), seed=8),
        spec.with_(sam_rho=0.0),
        spec.with_(start=(x - 0.2, y), seed=9),
    ]


def assert_matches_reference(spec: RunSpec, positions: np.ndarray, lr=None) -> None:
    expected, expected_lr, _, _ = sam_reference(spec)
    np.testing.assert_allclose(positions, expected, rtol=RTOL, atol=ATOL)
    if lr is not None:
        np.testing.assert_allclose(lr, expected_lr, rtol=1e-12)


# ---- every engine against the reference --------------------------------------------------


def test_the_cases_cover_what_they_claim():
    specs = list(CASES.values())
    assert {s.schedule for s in specs} == set(SCHEDULES)
    assert len({s.optimizer for s in specs}) >= 7
    assert any(s.noise for s in specs) and any(not s.noise for s in specs)


@pytest.mark.parametrize("case", sorted(CASES))
def test_numba_run_is_the_papers_loop_around_torch_optim(case):
    spec = CASES[case]
    traj = numba_engine.run(spec)
    assert traj.status == MAX_STEPS
    assert_matches_reference(spec, traj.positions, traj.lr)
    np.testing.assert_allclose(
        traj.loss, spec.surface_def.f(*traj.positions.T, ()), rtol=1e-12, atol=1e-15
    )  # the loss of θ, not of the ascent point
    plain = numba_engine.run(spec.with_(sam_rho=0.0)).positions[-1]
    assert np.max(np.abs(traj.positions[-1] - plain)) > 1e-3  # SAM did change the path


@pytest.mark.parametrize("case", sorted(CASES))
def test_numba_batches_equal_single_runs(case):
    """run_many (one batch mixing radii, and a plain run), run_settings and run_starts give the
    single runs' results bit for bit, so the reference holds for them too."""
    specs = _variants(CASES[case])
    singles = [numba_engine.run(s) for s in specs]
    for traj, single in zip(numba_engine.run_many(specs), singles, strict=True):
        for name in ("positions", "loss", "lr", "effective_lr"):
            np.testing.assert_array_equal(getattr(traj, name), getattr(single, name), name)
    assert_matches_reference(specs[1], singles[1].positions)
    settings = numba_engine.run_settings(specs)
    np.testing.assert_array_equal(settings.final, [t.final_position for t in singles])
    starts = np.array([s.start for s in specs[:2]])
    spec = specs[0]
    ends = numba_engine.run_starts(spec, starts)
    at = [numba_engine.run(spec.with_(start=tuple(s))).final_position for s in starts]
    np.testing.assert_array_equal(ends.final, at)
    np.testing.assert_array_equal(ends.status, MAX_STEPS)


@pytest.mark.parametrize("case", sorted(CASES))
def test_torch_engine_is_the_papers_loop_around_torch_optim(case):
    specs = _variants(CASES[case])
    trajs = torch_engine.run_many(specs, device="cpu", dtype=torch.float64)
    for spec, traj in zip(specs, trajs, strict=True):
        assert_matches_reference(spec, traj.positions, traj.lr)
    starts = np.array([s.start for s in specs[:2]])
    ends = torch_engine.run_starts(specs[0], starts, device="cpu", dtype=torch.float64)
    at = [sam_reference(specs[0].with_(start=tuple(s)))[0][-1] for s in starts]
    np.testing.assert_allclose(ends.final, at, rtol=RTOL, atol=ATOL)
    settings = torch_engine.run_settings(specs, device="cpu", dtype=torch.float64)
    np.testing.assert_allclose(settings.final, [t.positions[-1] for t in trajs], rtol=RTOL)


# ---- the stop rules and the edge cases ----------------------------------------------------

# SGD on a quadratic bowl: SAM's gradient is g + ρ H g / ‖g‖, larger than g by about ρ λ, so
# testing it instead of g would stop the run several steps later.
CONVERGING = RunSpec.from_dict(
    {
        "surface": "custom", "formula": "x^2 + 2*y^2", "start": (1.0, -0.7), "steps": 400,
        "optimizer": "SGD", "hyperparameters": {"lr": 0.05}, "tol": 1e-6, "sam_rho": 1e-7,
    }
)  # fmt: skip


def test_convergence_tests_the_plain_gradient_in_every_engine():
    expected, _, status, stop = sam_reference(CONVERGING)
    assert status == CONVERGED
    grown = CONVERGING.with_(sam_rho=1e-6)
    assert sam_reference(grown)[3] != stop  # the radius matters for when the steps stop
    for traj in (
        numba_engine.run(CONVERGING),
        numba_engine.run_many([CONVERGING, CONVERGING.with_(sam_rho=0)])[0],
        torch_engine.run(CONVERGING, device="cpu"),
    ):
        assert (traj.status, traj.stop_step) == (CONVERGED, stop)
        np.testing.assert_allclose(traj.positions, expected, rtol=RTOL, atol=ATOL)
    for engine in (numba_engine, torch_engine):
        ends = engine.run_starts(CONVERGING, np.array([CONVERGING.start]))
        assert (ends.status[0], ends.stop_step[0]) == (CONVERGED, stop)


def test_batch_stops_are_the_single_runs_stops():
    """Many starts, some converging, some diverging (a large radius on a steep surface): the
    block kernel's stop pass with SAM reports each run as ``trajectory`` does."""
    spec = RunSpec.from_dict(
        {
            "surface": "rosenbrock", "optimizer": "SGD", "steps": 300, "tol": 1e-4,
            "hyperparameters": {"lr": 2e-3, "momentum": 0.5}, "sam_rho": 0.5,
        }
    )  # fmt: skip
    rng = np.random.default_rng(3)
    starts = np.column_stack([rng.uniform(-2, 2, 64), rng.uniform(-1, 3, 64)])
    ends = numba_engine.run_starts(spec, starts, block=16)
    singles = [numba_engine.run(spec.with_(start=tuple(s))) for s in starts]
    np.testing.assert_array_equal(ends.status, [t.status for t in singles])
    np.testing.assert_array_equal(ends.stop_step, [t.stop_step for t in singles])
    np.testing.assert_array_equal(ends.final, [t.final_position for t in singles])
    assert {DIVERGED, MAX_STEPS} <= set(ends.status.tolist())


def test_a_zero_gradient_gives_no_ascent_step():
    """At a minimum g = 0, so ε = 0 (not 0/0 = NaN): the run stays where it started."""
    spec = RunSpec(surface="himmelblau", optimizer="Adam", start=(3.0, 2.0), steps=5, sam_rho=0.1)
    for traj in (numba_engine.run(spec), torch_engine.run(spec, device="cpu")):
        np.testing.assert_array_equal(traj.positions, np.full((6, 2), [3.0, 2.0]))


def test_a_zero_radius_is_the_plain_run_bit_for_bit():
    """``sam_rho = 0`` is the default and the plain kernels; inside a batch compiled with SAM
    (beside a SAM run) a radius of 0 steps exactly as the plain kernels do."""
    case = CASES["rosenbrock-Adam-CosineAnnealingLR"]
    plain = case.with_(sam_rho=0.0)
    assert plain == RunSpec.from_dict({k: v for k, v in plain.to_dict().items() if k != "sam_rho"})
    alone = numba_engine.run(plain)
    beside = numba_engine.run_many([case, plain])[1]
    for name in ("positions", "loss", "lr", "momentum", "effective_lr"):
        np.testing.assert_array_equal(getattr(beside, name), getattr(alone, name), name)
    torch_alone = torch_engine.run(plain, device="cpu")
    torch_beside = torch_engine.run_many([case, plain], device="cpu")[1]
    np.testing.assert_array_equal(torch_beside.positions, torch_alone.positions)


def test_only_sam_runs_compile_sam_in():
    p = prepare(CASES["rosenbrock-SGD-StepLR"])
    assert _kernels(p, False).SAM == 0 and _kernels(p, True).SAM == 1
    assert _kernels(p, False) is not _kernels(p, True)


# ---- the field ----------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [-1, -1e-9, float("nan"), float("inf"), "0.1", True, None])
def test_sam_rho_is_validated_like_every_scalar(bad):
    with pytest.raises(ValueError, match=r"run: 'sam_rho' must be a float in \[0, inf\); got "):
        RunSpec(sam_rho=bad)


def test_sam_rho_is_serialised():
    spec = CASES["himmelblau-AdamW-OneCycleLR"]
    assert spec.to_dict()["sam_rho"] == spec.sam_rho > 0
    assert RunSpec.from_json(spec.to_json()) == spec
    assert spec != spec.with_(sam_rho=0.0) and RunSpec(sam_rho=1).sam_rho == 1.0
    assert type(RunSpec(sam_rho=1).sam_rho) is float
    assert "sam_rho" not in spec.h  # SAM wraps the optimizer; it is none of its hyperparameters
