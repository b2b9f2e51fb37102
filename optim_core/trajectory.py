"""What a run produces: plain numpy arrays and a status, never an exception for bad numbers."""

from dataclasses import dataclass

import numpy as np

MAX_STEPS, CONVERGED, DIVERGED = 0, 1, 2
STATUS_NAMES = ("max steps", "converged", "diverged")


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
