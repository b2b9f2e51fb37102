"""What a model race is made of: racers (optimizer + schedule) and the training settings.

Both are frozen, hashable and valid once constructed, like ``RunSpec``: a :class:`Racer`
resolves its optimizer and schedule through the lab's own ``check_hyperparameters`` and
``make_schedule`` (the same messages as the surface mode), and :class:`TrainConfig` checks its
sizes against the tables below. A racer also offers the ``h`` / ``schedule`` /
``schedule_params`` attributes that ``tests/torch_reference.py`` reads from a ``RunSpec``.

A racer with ``sam_rho > 0`` wraps its optimizer in sharpness-aware minimisation (SAM, Foret
et al. 2021): each step's gradient is taken at the weights pushed uphill by ρ (``sam.py``).
"""

import math
from dataclasses import dataclass, field

import numpy as np

from common.limits import STEPS
from common.params import INT_NONNEG, Interval, Param, validate
from landscapes.models.data import MAX_ROWS

from ..optimizers import OptimizerDef, check_hyperparameters, get_optimizer, momentum_value
from ..schedules import Schedule, make_schedule
from ..spec import SAM_RHO, ResolvedOnce, clean_label, freeze, thaw_dict

MAX_SNAPSHOTS = 200  # weight vectors kept per racer (paths on the loss plane)
MAX_GRID_FRAMES = 60  # decision-function frames kept per racer (2D data only)
MAX_GRID_SIZE = 120  # grid points per axis of a decision-function frame


@dataclass(frozen=True)
class Racer(ResolvedOnce):
    """One optimizer with its hyperparameters and lr schedule, in torch's names, optionally
    wrapped in SAM (``sam_rho > 0``). The default label is the optimizer's name, "SAM-" first
    for a SAM racer."""

    optimizer: str = "Adam"
    hyperparameters: tuple = ()
    schedule: str = "none"
    schedule_params: tuple = ()
    label: str = field(default="", compare=False)
    sam_rho: float = 0.0

    def __post_init__(self):
        optimizer = get_optimizer(self.optimizer)
        h = check_hyperparameters(self.optimizer, thaw_dict(self.hyperparameters))
        schedule = make_schedule(self.schedule, h["lr"], **thaw_dict(self.schedule_params))
        if schedule.momentum(np.arange(1)) is not None and momentum_value(optimizer, h) is None:
            raise ValueError(
                f"{self.schedule}: cycle_momentum=True needs an optimizer with momentum or betas; "
                f"{self.optimizer} has neither (set cycle_momentum=False)"
            )
        set_ = object.__setattr__
        set_(self, "hyperparameters", freeze(h))
        set_(self, "schedule_params", freeze(schedule.params))
        set_(self, "sam_rho", SAM_RHO.check("SAM", self.sam_rho))
        default_label = f"SAM-{self.optimizer}" if self.sam_rho else self.optimizer
        set_(self, "label", clean_label(self.label) or default_label)
        set_(self, "_entries", (optimizer, schedule))

    @classmethod
    def make(
        cls, optimizer: str, schedule="none", schedule_params=None, label="", sam_rho=0.0, **h
    ):
        """``Racer.make("SGD", lr=0.1, momentum=0.9)``: hyperparameters as keywords."""
        return cls(optimizer, freeze(h), schedule, freeze(schedule_params or {}), label, sam_rho)

    @property
    def optimizer_def(self) -> OptimizerDef:
        return self._entries[0]

    @property
    def lr_schedule(self) -> Schedule:
        return self._entries[1]

    @property
    def h(self) -> dict:
        return thaw_dict(self.hyperparameters)


_CONFIG = (
    STEPS,
    Param("batch_size", None, Interval(1, MAX_ROWS, integer=True), "None: the full batch"),
    Param("seed", 0, INT_NONNEG, "seed of the initial weights, batch order and dropout"),
    Param("eval_every", 10, Interval(1, STEPS.constraint.high, integer=True), "steps per eval"),
    Param("patience", None, Interval(1, math.inf, "left", integer=True), "early stopping"),
    Param("snapshots", MAX_SNAPSHOTS, Interval(2, MAX_SNAPSHOTS, integer=True), "weights kept"),
    Param("grid_frames", 40, Interval(0, MAX_GRID_FRAMES, integer=True), "decision frames"),
    Param("grid_size", 60, Interval(2, MAX_GRID_SIZE, integer=True), "decision grid per axis"),
)


@dataclass(frozen=True)
class TrainConfig:
    """How the racers train: steps, batches, evaluation and what is recorded.

    ``batch_size=None`` is full-batch gradient descent; otherwise every racer sees the same
    mini-batches in the same seeded order (``train.minibatches``). Early stopping (Keras,
    Lightning): a racer stops after ``patience`` evaluations in a row (every ``eval_every``
    steps) without a lower validation loss; None never stops early. ``snapshots`` and
    ``grid_frames`` are spread evenly over the run, both ends included.
    """

    steps: int = 500
    batch_size: int | None = None
    seed: int = 0
    eval_every: int = 10
    patience: int | None = None
    snapshots: int = MAX_SNAPSHOTS
    grid_frames: int = 40
    grid_size: int = 60

    def __post_init__(self):
        given = {p.name: getattr(self, p.name) for p in _CONFIG}
        optional = {"batch_size", "patience"}
        table = tuple(p for p in _CONFIG if not (p.name in optional and given[p.name] is None))
        checked = validate("training", table, {p.name: given[p.name] for p in table})
        for name, value in checked.items():
            object.__setattr__(self, name, value)
