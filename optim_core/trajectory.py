"""What a run produces: plain numpy arrays and a status, never an exception for bad numbers.

How a run ends is decided by the stop rules below, the one definition every engine calls
(the Numba kernels inline them, the torch engine applies them to tensors):

* diverged: the iterate left the box (``inside``) or its loss is not finite;
* converged: gradient and step both within the stop tolerance on both axes (``still``);
  ``tol = 0`` means never, even where the gradient is exactly zero;
* with SAM (``RunSpec.sam_rho``) the loss and both rules stay those of the iterate θ, and the
  gradient ``still`` tests is the plain one, ∇f(θ) plus the step's noise, not SAM's
  ∇f(θ + ε) that the update took: converged keeps its meaning (a stationary point of f where
  the steps stopped) whatever the optimizer. SAM's gradient does not vanish near a minimum
  (ε keeps length ρ, so it stays near ρ H ĝ), and a test on it would depend on ρ and on the
  minimum's sharpness; SAM's steps must still fall within the tolerance to converge;
* the stop tolerance is the user's ``tol`` raised to the rounding floor of the engine's dtype
  (``stop_tolerance``), so a float32 run (the torch engine on a GPU) converges where a
  float64 run does; in float64 the floor is far below any useful ``tol``.
"""

import math
from dataclasses import dataclass

import numpy as np
from numba.extending import register_jitable

MAX_STEPS, CONVERGED, DIVERGED = 0, 1, 2
STATUS_NAMES = ("max steps", "converged", "diverged")

# The rounding floor of the stop tolerance is STOP_TOL_EPS * eps(dtype) * span, span being the
# domain's larger width (coordinates, and the terms that cancel in a gradient, grow with it).
# In float32 an SGD iterate near a minimum stops moving once lr |g| < ulp(θ) / 2: on
# Himmelblau (span 10) with lr 1e-3 that is |g| ~ 1.2e-4, under the floor 256 eps32 10 = 3e-4,
# so such runs converge instead of running out of steps (test_float32_converges_like_float64).
# In float64 the floor is 5.7e-14 span, far below any useful tol.
STOP_TOL_EPS = 256.0


def stop_tolerance(tol: float, dtype, span: float) -> float:
    """The tolerance the stop rules use: ``max(tol, STOP_TOL_EPS * eps(dtype) * span)``, and
    0 for ``tol = 0`` (never converge). ``dtype`` a numpy or torch float type."""
    if tol == 0.0:
        return 0.0
    size = dtype.itemsize if isinstance(getattr(dtype, "itemsize", None), int) else None
    eps = float(np.finfo(np.dtype(f"f{size}") if size else dtype).eps)
    return max(float(tol), STOP_TOL_EPS * eps * float(span))


@register_jitable(inline="always")
def inside(x, y, loss, bound, cx, cy):
    """The divergence rule: True while ``(x, y)`` is within ``bound`` of ``(cx, cy)`` on both
    axes, edges included (``|x - cx| == bound`` is inside), and ``loss`` is finite. NaN fails
    every comparison, so a NaN coordinate or loss is outside. Floats or tensors."""
    return (abs(x - cx) <= bound) & (abs(y - cy) <= bound) & (abs(loss) < math.inf)


@register_jitable(inline="always")
def still(gx, gy, dx, dy, tol):
    """The convergence rule: the gradient ``(gx, gy)`` that made the step ``(dx, dy)`` and the
    step itself are within ``tol`` on both axes (``|g| == tol`` counts); never for ``tol = 0``.
    ``tol`` comes from ``stop_tolerance``. Floats or tensors."""
    small_g = (abs(gx) <= tol) & (abs(gy) <= tol)
    return (tol > 0.0) & small_g & (abs(dx) <= tol) & (abs(dy) <= tol)


@dataclass(frozen=True, eq=False)
class Trajectory:
    """One optimizer run.

    ``positions[t]`` and ``loss[t]`` are the iterate before step ``t`` (``positions[0]`` is the
    start); ``lr[t]``, ``momentum[t]`` and ``effective_lr[t]`` belong to step ``t``, which moves
    ``positions[t]`` to ``positions[t + 1]``. After a divergence at step k, ``positions[k:]``
    and everything after hold NaN, so plots break the line there (a start that is itself out
    of bounds stays in ``positions[0]`` with stop step 0); after convergence the iterate is
    held still.
    """

    positions: np.ndarray  # (steps + 1, 2)
    loss: np.ndarray  # (steps + 1,)
    lr: np.ndarray  # (steps,) the lr each step used (after plateau reductions)
    momentum: np.ndarray  # (steps,) momentum / beta1 each step used; NaN if the optimizer has none
    effective_lr: np.ndarray  # (steps, 2) -(Δθ / g) per coordinate; NaN where g = 0
    status: int  # MAX_STEPS, CONVERGED or DIVERGED
    stop_step: int  # step at which it converged or diverged; == steps for MAX_STEPS
    spec: object = None  # the RunSpec it came from

    @property
    def steps(self) -> int:
        return len(self.lr)

    @property
    def diverged(self) -> bool:
        return self.status == DIVERGED

    @property
    def converged(self) -> bool:
        return self.status == CONVERGED

    @property
    def message(self) -> str:
        if self.status == MAX_STEPS:
            return f"ran all {self.steps} steps"
        return f"{STATUS_NAMES[self.status]} at step {self.stop_step}"

    @property
    def last_finite(self) -> int:
        """Index of the last finite iterate (the start if it diverged at once)."""
        return max(self.stop_step - 1, 0) if self.diverged else self.steps

    @property
    def final_position(self) -> np.ndarray:
        return self.positions[self.last_finite]

    @property
    def final_loss(self) -> float:
        return float(self.loss[self.last_finite])

    def distance_to(self, points) -> float:
        """Distance from the final iterate to the nearest of ``points`` (inf if none)."""
        points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        if not len(points) or self.diverged:
            return float("inf")
        return float(np.min(np.linalg.norm(points - self.final_position, axis=1)))


@dataclass(frozen=True, eq=False)
class BatchResult:
    """Many runs of one optimizer on one surface: only where each ended."""

    final: np.ndarray  # (runs, 2) last finite iterate
    final_loss: np.ndarray  # (runs,)
    status: np.ndarray  # (runs,) int8
    stop_step: np.ndarray  # (runs,) int64

    def __len__(self) -> int:
        return len(self.status)
