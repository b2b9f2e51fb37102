"""From a RunSpec to the arrays every engine consumes (the same for Numba and torch)."""

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from landscapes import Surface

from ..optimizers import OptimizerDef, momentum_value
from ..schedules import Schedule
from ..spec import RunSpec
from ..trajectory import MAX_STEPS, stop_tolerance

# An iterate this many domain-widths away from the plotted domain's centre has diverged.
DIVERGENCE_SPANS = 100.0


@dataclass(frozen=True, eq=False)
class Prepared:
    surface: Surface
    optimizer: OptimizerDef
    a: np.ndarray  # surface parameters
    start: np.ndarray  # (2,)
    s0: np.ndarray  # (N_STATE,) initial optimizer state per coordinate
    lr: np.ndarray  # (steps,) scheduled lr
    momentum: np.ndarray  # (steps,) momentum / beta1 per step (NaN if none)
    C: np.ndarray  # (K, steps) per-step constants of the update rule, one row per constant
    noise: np.ndarray  # (steps, 2) scaled gradient noise (zeros when off)
    sam_rho: float  # SAM radius of the ascent step (0: plain steps)
    plateau: np.ndarray  # plateau table, or empty
    limits: np.ndarray  # (tol, bound, centre_x, centre_y)


def step_constants(opt: OptimizerDef, h: dict, momentum: np.ndarray) -> np.ndarray:
    """``opt.scalars`` over all steps as a (K, steps) array, one row per constant.

    A momentum that does not change is passed on as a scalar, which the rules' ``powers``
    turn into a running product.
    """
    steps = momentum.shape[-1]
    t = np.arange(1, steps + 1, dtype=np.float64)
    if steps and np.all(momentum == momentum[0]):
        momentum = float(momentum[0])
    with np.errstate(all="ignore"):
        consts = opt.scalars(t, momentum, h)
    table = np.empty((len(consts), steps))
    for row, value in zip(table, consts, strict=True):
        row[:] = value
    return table


def schedule_arrays(schedule: Schedule, opt: OptimizerDef, h: dict, steps: int):
    """(lr, momentum, plateau table) per step, as torch's schedulers would set them."""
    t = np.arange(steps)
    lr = np.asarray(schedule.lr(t), dtype=np.float64)
    cycled = schedule.momentum(t)
    constant = momentum_value(opt, h)
    if cycled is not None:
        momentum = np.asarray(cycled, dtype=np.float64)
    else:
        momentum = np.full(steps, np.nan if constant is None else constant)
    plateau = plateau_table(schedule.plateau) if schedule.plateau else np.empty(0)
    return lr, momentum, plateau


def plateau_table(p: dict) -> np.ndarray:
    """ReduceLROnPlateau's parameters in the order the kernel reads them (_kernels.P_*)."""
    return np.array(
        [
            float(p["mode"] == "max"),
            p["factor"],
            p["patience"],
            p["threshold"],
            float(p["threshold_mode"] == "abs"),
            p["cooldown"],
            p["min_lr"],
            p["eps"],
        ],
        dtype=np.float64,
    )


def gradient_noise(spec: RunSpec) -> np.ndarray:
    """(steps, 2) gradient noise; without noise one shared array of zeros (never written)."""
    if spec.noise == 0.0:
        return _zeros(spec.steps)
    return spec.noise * np.random.default_rng(spec.seed).standard_normal((spec.steps, 2))


@lru_cache(maxsize=16)
def _zeros(steps: int) -> np.ndarray:
    return np.zeros((steps, 2))


def momentum_used(momentum: np.ndarray, status: int, stop: int) -> np.ndarray:
    """The momentum of each step the run took, NaN where it took none (as its ``lr``)."""
    used = momentum.copy()
    if status != MAX_STEPS:
        used[stop:] = np.nan
    return used


def limits(spec: RunSpec, surface: Surface, dtype=np.float64) -> np.ndarray:
    """(stop tolerance, box half-width, box centre x, y) for the stop rules of
    ``optim_core.trajectory``, for an engine computing in ``dtype``."""
    (x0, x1), (y0, y1) = surface.domain
    span = max(x1 - x0, y1 - y0)
    tol = stop_tolerance(spec.tol, dtype, span)
    return np.array([tol, DIVERGENCE_SPANS * span, (x0 + x1) / 2, (y0 + y1) / 2])


_PER_STEP: dict[tuple, tuple] = {}
_PER_STEP_ENTRIES = 256


def _per_step(spec: RunSpec):
    """(lr, momentum, plateau, C, s0) of an optimizer + schedule, whatever the surface and
    start: an app rerun that moves the start or changes the surface reuses them. Callers must
    not write into the arrays."""
    key = (spec.optimizer, spec.hyperparameters, spec.schedule, spec.schedule_params, spec.steps)
    found = _PER_STEP.get(key)
    if found is None:
        opt, h = spec.optimizer_def, spec.h
        lr, momentum, plateau = schedule_arrays(spec.lr_schedule, opt, h, spec.steps)
        constant = momentum if not np.isnan(momentum).any() else np.zeros_like(momentum)
        s0 = np.array(opt.init(h), dtype=np.float64)
        found = (lr, momentum, plateau, step_constants(opt, h, constant), s0)
        if len(_PER_STEP) >= _PER_STEP_ENTRIES:  # oldest first (dicts keep insertion order)
            _PER_STEP.pop(next(iter(_PER_STEP)), None)
        _PER_STEP[key] = found
    return found


def prepare(spec: RunSpec) -> Prepared:
    surface = spec.surface_def
    lr, momentum, plateau, C, s0 = _per_step(spec)
    return Prepared(
        surface=surface,
        optimizer=spec.optimizer_def,
        a=np.concatenate([[v for _, v in spec.surface_params], surface.kernel_data]),
        start=np.array(spec.start, dtype=np.float64),
        s0=s0,
        lr=lr,
        momentum=momentum,
        C=C,
        noise=gradient_noise(spec),
        sam_rho=spec.sam_rho,
        plateau=plateau,
        limits=limits(spec, surface),
    )
