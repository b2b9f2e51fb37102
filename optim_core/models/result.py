"""What a model race produces: plain numpy arrays, racer first, and a status per racer.

Steps are counted as in the surface mode: step t (1-based) computes the loss at the weights
θ_{t-1}, then moves to θ_t. ``train_loss[:, t-1]`` and ``lr[:, t-1]`` belong to step t; the
recorded weights and evaluations are at θ_s for the listed ``s`` (0 is the common start).
After a racer stops, its per-step arrays hold NaN so curves break cleanly; a diverged racer's
weights are NaN from its stop step on, an early-stopped racer's are held.
"""

from dataclasses import dataclass

import numpy as np

from landscapes.models.mlp import MLP

from ..trajectory import DIVERGED, MAX_STEPS
from .spec import Racer, TrainConfig

EARLY_STOPPED = 3  # beside trajectory's MAX_STEPS (0), CONVERGED (1), DIVERGED (2)


@dataclass(frozen=True, eq=False)
class DecisionFrames:
    """The model's prediction over the input plane (2D data): what the boundary looks like."""

    xs: np.ndarray  # (G,) grid along the first (standardised) feature
    ys: np.ndarray  # (G,) along the second
    steps: np.ndarray  # (F,) the step of each frame
    label: np.ndarray  # (R, F, G, G) int8 argmax class, row = ys; -1 where weights are NaN
    confidence: np.ndarray  # (R, F, G, G) float32 probability of that class


@dataclass(frozen=True, eq=False)
class ModelRace:
    racers: tuple[Racer, ...]
    model: MLP
    config: TrainConfig
    start: np.ndarray  # (P,) the common initial weights
    final: np.ndarray  # (R, P) weights at the stop (NaN for a diverged racer)
    train_loss: np.ndarray  # (R, steps) loss of step t's batch at θ_{t-1}
    lr: np.ndarray  # (R, steps) lr used by step t
    momentum: np.ndarray  # (R, steps) momentum / beta1 used by step t (NaN if none)
    eval_steps: np.ndarray  # (E,) steps s of the evaluations at θ_s
    eval_train_loss: np.ndarray  # (R, E) loss on the whole training set
    eval_train_accuracy: np.ndarray  # (R, E)
    val_loss: np.ndarray  # (R, E) NaN without a validation set
    val_accuracy: np.ndarray  # (R, E)
    snapshot_steps: np.ndarray  # (S,) steps s of the recorded weights
    weights: np.ndarray  # (R, S, P) θ_s
    frames: DecisionFrames | None  # None unless the data has 2 features
    status: np.ndarray  # (R,) int8: MAX_STEPS, DIVERGED or EARLY_STOPPED
    stop_step: np.ndarray  # (R,) last step taken (steps when it ran to the end)
    best_step: np.ndarray  # (R,) evaluation step with the lowest validation loss (-1: none)

    def message(self, r: int) -> str:
        k = int(self.stop_step[r])
        if self.status[r] == DIVERGED:
            return f"diverged at step {k}"
        if self.status[r] == EARLY_STOPPED:
            return f"stopped early at step {k} (best validation loss at step {self.best_step[r]})"
        return f"ran {k} steps"

    @property
    def diverged(self) -> np.ndarray:
        return self.status == DIVERGED


def blank_after_stop(race: dict, status: np.ndarray, stop: np.ndarray) -> None:
    """NaN in every per-step and per-evaluation array past each racer's stop (in place)."""
    for r in np.flatnonzero(status != MAX_STEPS):
        k = int(stop[r])  # steps 1..k were taken; a diverged racer's step k is its blow-up
        for name in ("train_loss", "lr", "momentum"):
            race[name][r, k:] = np.nan
        late = race["eval_steps"] > k
        for name in ("eval_train_loss", "eval_train_accuracy", "val_loss", "val_accuracy"):
            race[name][r, late] = np.nan
