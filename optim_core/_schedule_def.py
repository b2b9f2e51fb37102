"""What one schedule is: a :class:`ScheduleDef` registry entry, and the constraints entries share.

An entry carries everything other modules need to know about its schedule (closed forms,
checks, sidebar defaults, PyTorch source, whether it may follow a warm-up, whether it follows
the loss, what a search varies), so nothing outside its definition looks at its name.
``schedules.SCHEDULES`` holds the entries.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from common.limits import SCHEDULE_COUNT
from common.params import BOOL, FLOAT_NONNEG, Interval, Param

from ._torch_text import scheduler_call


class _Required:
    """Default of a parameter torch requires (StepLR's step_size): it must be given."""

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED = _Required()
# Every integer schedule parameter is a count of steps, at most MAX_SCHEDULE_INT (see
# common.limits). T_mult needs no tighter bound: the restart period that holds step t is at
# most t * (1 + T_mult) steps, exact in int64 and float64 for any run (<= 1e5 steps).
COUNT = SCHEDULE_COUNT

FACTOR = Interval(0.0, 1.0, "right")  # a multiplier of the lr that may not be 0
UNIT_OPEN = Interval(0.0, 1.0, "neither")
DIVISOR = Interval(1.0, math.inf, "left")


def _no_defaults(steps: int, lr: float) -> dict:
    return {}


class Range(NamedTuple):
    """A searched parameter's default range, [low, high]: log-scaled or not, int or float."""

    low: float
    high: float
    log: bool = False
    integer: bool = False


def step_count(steps: int, low: float, high: float, log: bool = True) -> Range:
    """A count of steps from a fraction ``low`` to a fraction ``high`` of a run of ``steps``
    (at least 1; a short run's ends may coincide: one value, then)."""
    first = max(1, round(steps * low))
    return Range(first, max(first, round(steps * high)), log, integer=True)


@dataclass(frozen=True)
class ScheduleDef:
    name: str  # torch class name, the registry key
    params: tuple[Param, ...]  # torch names and defaults; lr only where the scheduler owns it
    latex: str
    description: str
    lr_fn: Callable  # (t, lr0, params) -> lr[t]
    momentum_fn: Callable | None = None  # (t, params) -> momentum[t], if it can cycle momentum
    check: Callable | None = None  # cross-parameter checks: params -> params (normalised)
    # (steps, lr) -> starting values that show the schedule's shape within a run of ``steps``
    # with base lr ``lr`` (torch has no default for T_max, step_size, ...)
    ui_defaults: Callable[[int, float], dict] = _no_defaults
    # (params, indent, child) -> its torch source, where torch has no class of this name
    source: Callable | None = None
    steps_check: Callable | None = None  # (params, steps): raises if it cannot run that long
    not_a_phase: str = ""  # why it cannot be a SequentialLR phase, "" if it can
    loss_driven: bool = False  # the lr follows the loss: engines run it from each step's loss
    sets_own_lr: bool = False  # its params set the lr (max_lr, ...): the optimizer's is unused
    # (steps, lr_low, lr_high) -> {parameter: Range, or a value every trial uses}: what a
    # search varies for a run of ``steps`` whose lr the user searches in [lr_low, lr_high]
    # (a schedule that sets its own lr takes that range for it). None: not worth searching.
    search_ranges: Callable[[int, float, float], dict] | None = None

    @property
    def cycles_momentum(self) -> bool:
        return self.momentum_fn is not None

    @property
    def warmup_ok(self) -> bool:
        """Whether it may follow a LinearLR warm-up, i.e. be a later phase of SequentialLR."""
        return not self.not_a_phase

    def torch_source(self, params: dict, indent: int, child: bool = False) -> str:
        """The torch.optim.lr_scheduler object for validated ``params`` as Python source, on
        a variable ``optimizer``, laid out for a line indented by ``indent``; ``child``: as a
        phase of SequentialLR (where "none" must still be a scheduler)."""
        if self.source is not None:
            return self.source(params, indent, child)
        return scheduler_call(self.name, self.params, params, indent)


ETA_MIN = Param("eta_min", 0.0, FLOAT_NONNEG, "lowest lr of the cosine")
CYCLE_MOMENTUM = Param("cycle_momentum", True, BOOL, "move momentum / beta1 opposite to lr")
