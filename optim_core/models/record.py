"""What a model race keeps of its run, chosen so that a figure can be built from it quickly:
weights at ≤ MAX_SNAPSHOTS evenly spread steps, evaluations every ``eval_every`` steps, and
for 2D data the decision function on a small grid at ≤ MAX_GRID_FRAMES steps. Tensors stay on
the device until the race ends."""

import numpy as np
import torch

from landscapes.models.data import Dataset

from .result import DecisionFrames
from .spec import TrainConfig

MAX_SNAPSHOT_FLOATS = 5_000_000  # all racers' snapshots together: 40 MB in float64
GRID_MARGIN = 0.5  # decision grid beyond the data, in standardised units


def even_steps(steps: int, count: int) -> np.ndarray:
    """At most ``count`` steps spread evenly over 0..steps, both ends included."""
    return np.unique(np.round(np.linspace(0, steps, min(count, steps + 1))).astype(np.int64))


def decision_grid(data: Dataset, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(xs, ys): ``size`` points per axis covering every train and validation point."""
    points = np.concatenate([data.x_train, data.x_val])
    low, high = points.min(0) - GRID_MARGIN, points.max(0) + GRID_MARGIN
    return np.linspace(low[0], high[0], size), np.linspace(low[1], high[1], size)


class Recorder:
    def __init__(self, config: TrainConfig, racers: int, n_params: int, grid=None):
        steps = config.steps
        kept = max(2, min(config.snapshots, MAX_SNAPSHOT_FLOATS // (racers * n_params)))
        self.snapshot_at = set(even_steps(steps, kept).tolist())
        self.eval_at = set(range(0, steps + 1, config.eval_every)) | {steps}
        self.frame_at = set(even_steps(steps, config.grid_frames).tolist()) if grid else set()
        self.grid = grid
        self.snapshot_steps, self.snapshots = [], []
        self.eval_steps, self.evals = [], []
        self.frame_steps, self.frame_data = [], []

    def record(self, race, s: int) -> None:
        """Whatever step ``s`` is due to keep of ``race`` (a train._Race at θ_s)."""
        if s in self.snapshot_at:
            self.snapshot_steps.append(s)
            self.snapshots.append(race.theta)  # never written in place: no copy needed
        if s in self.eval_at:
            self.eval_steps.append(s)
            self.evals.append(race.evaluate(s))
        if s in self.frame_at:
            xs, ys = self.grid
            gx, gy = np.meshgrid(xs, ys)  # row i is ys[i]
            points = race.as_t(np.column_stack([gx.ravel(), gy.ravel()]))
            confidence, label = race.model.proba(race.theta, points).max(-1)
            self.frame_steps.append(s)
            self.frame_data.append((label.to(torch.int8), confidence.float()))

    def frames(self, back: np.ndarray) -> DecisionFrames | None:
        if self.grid is None or not self.frame_data:
            return None
        size = len(self.grid[0])
        label = torch.stack([f[0] for f in self.frame_data], 1).cpu().numpy()
        confidence = torch.stack([f[1] for f in self.frame_data], 1).cpu().numpy()
        shape = (label.shape[0], label.shape[1], size, size)
        label, confidence = label.reshape(shape)[back], confidence.reshape(shape)[back]
        label[~np.isfinite(confidence)] = -1
        xs, ys = self.grid
        return DecisionFrames(xs, ys, np.array(self.frame_steps), label, confidence)
