"""The CPU engine: RunSpec in, Trajectory out, through the Numba kernels.

Each (surface, optimizer) pair has kernels of its own, compiled once (about a second) and
cached on disk; ``python -m optim_core.engines.warm`` compiles the app's default race, the
lessons and the formula interpreter of every optimizer at install time. A single run whose
pair this process has not loaded yet is drawn at once through the optimizer's interpreter
(the same result bit for bit, ``surface_program``), while the pair's own kernel compiles or
loads on a background thread; later runs use it.
"""

import time
from collections.abc import Sequence

import numba
import numpy as np

from ..spec import RunSpec
from ..trajectory import BatchResult, Trajectory
from . import background
from ._pair_kernels import WIDTH
from .codegen import interpreter_module, pair_module
from .prepare import Prepared, limits, momentum_used, prepare
from .prepare_batch import prepare_settings
from .surface_program import program

DEFAULT_BLOCK = 256  # runs per task of a thread; the kernel steps them WIDTH at a time
LANES = WIDTH  # the fewest runs per task of run_settings: one full block of the kernel


def _kernels(p: Prepared, sam: bool):
    """The pair's kernels; ``sam``: compiled with SAM, for runs of which some have a radius."""
    opt, surface = p.optimizer, p.surface
    _, bound, cx, cy = p.limits
    check_loss = surface.finite_within < max(abs(cx), abs(cy)) + bound
    n_constants, n_params = p.C.shape[0], p.a.shape[0]
    return pair_module(surface.f, surface.grad, opt.update, n_constants, n_params, check_loss, sam)


def _with_sam(preps: Sequence[Prepared]) -> bool:
    return any(p.sam_rho > 0.0 for p in preps)


def _empty_out(runs: int, steps: int):
    return (
        np.empty((runs, steps + 1, 2)),
        np.empty((runs, steps + 1)),
        np.empty((runs, steps)),
        np.empty((runs, steps, 2)),
    )


def _out(steps: int):
    """(positions, loss, lr_used, effective_lr) of one run, as ``trajectory`` fills them."""
    return tuple(o[0] for o in _empty_out(1, steps))


def _trajectory_args(p: Prepared) -> tuple:
    """``trajectory``'s arguments between ``a`` and ``out``."""
    return p.start, p.s0, p.C, p.lr, p.noise, p.sam_rho, p.plateau, p.limits


def run(spec: RunSpec) -> Trajectory:
    p = prepare(spec)
    pos, loss, lr_used, eff = out = _out(spec.steps)
    own = _kernels(p, p.sam_rho > 0.0).trajectory
    stand_in = None if own.signatures else _stand_in(p)
    if stand_in is None:
        status, stop = own(p.a, *_trajectory_args(p), out)
    else:
        kernel, surface_program = stand_in
        status, stop = kernel(surface_program, *_trajectory_args(p), out)
        # Only now: a compile holds Numba's lock, which loading the stand-in would wait on.
        background.compile_later(own, p.a, *_trajectory_args(p), _out(spec.steps))
    momentum = momentum_used(p.momentum, status, stop)
    return Trajectory(pos, loss, lr_used, momentum, eff, int(status), int(stop), spec)


def _stand_in(p: Prepared):
    """(the interpreter's trajectory kernel, the surface's program) for a built-in surface
    that has a program; None for a custom formula (its own kernels are the interpreter)."""
    surface = p.surface
    if getattr(surface.f, "kernel", None) is not None:
        return None
    found = program(surface, tuple(p.a))
    if found is None:
        return None
    module = interpreter_module(p.optimizer.update, p.C.shape[0], p.sam_rho > 0.0)
    return module.trajectory, found


def run_many(specs: Sequence[RunSpec]) -> list[Trajectory]:
    """Full trajectories of many runs in parallel (noise ensembles, hyperparameter sweeps).

    All specs must share surface, surface parameters, optimizer and steps; hyperparameters,
    schedule, start, noise, seed and SAM radius may differ per run.
    """
    if not specs:
        return []
    _check_same_shape(specs, "run_many")
    preps = [prepare(s) for s in specs]
    plateaus = {p.plateau.tobytes() for p in preps}
    if len(plateaus) > 1 or len({s.tol for s in specs}) > 1:  # one table, one tol per batch
        return [run(s) for s in specs]
    p0 = preps[0]
    out = _empty_out(len(specs), specs[0].steps)
    status, stop = _kernels(p0, _with_sam(preps)).batch_paths(
        p0.a, np.stack([p.start for p in preps]), np.stack([p.s0 for p in preps]),
        np.stack([p.C for p in preps]), np.stack([p.lr for p in preps]),
        np.stack([p.noise for p in preps]), _radii(preps), p0.plateau, p0.limits, out,
    )  # fmt: skip
    pos, loss, lr_used, eff = out
    return [
        Trajectory(
            pos[r],
            loss[r],
            lr_used[r],
            momentum_used(p.momentum, status[r], stop[r]),
            eff[r],
            int(status[r]),
            int(stop[r]),
            s,
        )  # fmt: skip
        for r, (p, s) in enumerate(zip(preps, specs, strict=True))
    ]


def _radii(preps: Sequence[Prepared]) -> np.ndarray:
    return np.array([p.sam_rho for p in preps], dtype=np.float64)


def _check_same_shape(specs: Sequence[RunSpec], who: str) -> None:
    first = specs[0]
    key = (first.surface, first.surface_params, first.formula, first.optimizer, first.steps)
    for s in specs:
        if (s.surface, s.surface_params, s.formula, s.optimizer, s.steps) != key:
            raise ValueError(
                f"{who}: every spec needs the same surface, surface_params, optimizer and "
                f"steps; got {_shape(s)} beside {_shape(first)}"
            )


def _shape(spec: RunSpec) -> str:
    params = dict(spec.surface_params)
    return f"{spec.surface}{params or ''}/{spec.optimizer}/{spec.steps} steps"


def run_starts(spec: RunSpec, starts: np.ndarray, block: int = DEFAULT_BLOCK) -> BatchResult:
    """One optimizer setting from many start points; only the end of each run is kept.

    The gradient-noise sequence (if any) is the spec's one sequence, shared by every start.
    """
    starts = np.ascontiguousarray(starts, dtype=np.float64)
    if starts.ndim != 2 or starts.shape[1] != 2:
        raise ValueError(f"run_starts: 'starts' must have shape (runs, 2); got {starts.shape}")
    p = prepare(spec)
    if p.plateau.size:
        trajs = run_many([spec.with_(start=tuple(map(float, s))) for s in starts])
        return _batch_from_trajectories(trajs)
    final, final_loss, status, stop = _kernels(p, p.sam_rho > 0.0).batch_final(
        p.a, starts, p.s0, p.C, p.lr, p.noise, p.sam_rho, limits(spec, p.surface), block,
    )  # fmt: skip
    return BatchResult(final, final_loss, status, stop)


def run_settings(specs: Sequence[RunSpec]) -> BatchResult:
    """Where each of many runs with their own settings ends (final points only).

    Specs share surface, optimizer and steps (as in ``run_many``); hyperparameters,
    schedules, starts, seeds, SAM radii and tol differ. The arrays are prepared a group of
    runs at a time (``prepare_batch``) and the kernel steps blocks of runs, one per vector
    lane. ReduceLROnPlateau falls back to ``run_many``.
    """
    if not specs:
        return BatchResult(
            np.empty((0, 2)), np.empty(0), np.empty(0, np.int8), np.empty(0, np.int64)
        )
    _check_same_shape(specs, "run_settings")
    tols = {s.tol for s in specs}
    if len(tols) > 1:  # the kernel's stop rules take one tol: a batch per tol
        return _per_tol(specs, tols)
    if any(s.lr_schedule.plateau for s in specs):
        return _batch_from_trajectories(run_many(specs))
    b = prepare_settings(specs)
    kernel = _batch_kernel(b)
    if not kernel.signatures:
        # This process has not loaded the pair's batch kernel yet: compiling it takes ~4 s
        # (loading it from the disk cache ~0.5 s), which a first search would wait for. The
        # runs go one at a time meanwhile (the same ends bit for bit) and the kernel compiles
        # on the background thread, after them (see ``run``); later calls use it.
        result = _batch_from_trajectories([run(s) for s in specs])
        background.compile_later(kernel, *_batch_args(prepare_settings(specs[:1])))
        return result
    final, final_loss, status, stop = kernel(*_batch_args(b))
    return BatchResult(final, final_loss, status, stop)


def _batch_kernel(b):
    return _kernels(b.first, bool((b.rho > 0.0).any())).batch_final_each


def _batch_args(b) -> tuple:
    """``batch_final_each``'s arguments for the prepared runs ``b``."""
    runs = b.starts.shape[0]
    # blocks of at most DEFAULT_BLOCK lanes, at least two per thread so that threads balance
    block = min(DEFAULT_BLOCK, max(LANES, -(-runs // (2 * numba.get_num_threads()))))
    p0 = b.first
    return p0.a, b.starts, b.s0, b.C, b.P, b.at, b.steps, b.noise, b.rho, p0.limits, block


def warm_settings(specs: Sequence[RunSpec]) -> None:
    """Load (or compile) the batch kernel ``run_settings`` takes for these specs, here and
    now (tests, benchmarks)."""
    b = prepare_settings(specs)
    _batch_kernel(b)(*_batch_args(b))


def _per_tol(specs: Sequence[RunSpec], tols: set) -> BatchResult:
    index = {tol: [i for i, s in enumerate(specs) if s.tol == tol] for tol in tols}
    final, final_loss = np.empty((len(specs), 2)), np.empty(len(specs))
    status, stop = np.empty(len(specs), np.int8), np.empty(len(specs), np.int64)
    for rows in index.values():
        part = run_settings([specs[i] for i in rows])
        final[rows], final_loss[rows] = part.final, part.final_loss
        status[rows], stop[rows] = part.status, part.stop_step
    return BatchResult(final, final_loss, status, stop)


def _batch_from_trajectories(trajs: list[Trajectory]) -> BatchResult:
    return BatchResult(
        np.stack([t.final_position for t in trajs]),
        np.array([t.final_loss for t in trajs]),
        np.array([t.status for t in trajs], dtype=np.int8),
        np.array([t.stop_step for t in trajs], dtype=np.int64),
    )


def warm_up(specs: Sequence[RunSpec] = ()) -> float:
    """Load (or compile) the single-run kernels of these specs' pairs, here and now, with no
    stand-in: a page that draws them next finds them ready. Seconds taken."""
    began = time.perf_counter()
    for spec in specs or (RunSpec(steps=2),):
        p = prepare(spec.with_(steps=2))
        _kernels(p, p.sam_rho > 0.0).trajectory(p.a, *_trajectory_args(p), _out(2))
    return time.perf_counter() - began
