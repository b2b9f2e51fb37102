r"""LR range test (Smith 2017, "Cyclical Learning Rates", section 3.3; fastai's ``lr_find``).

One run whose lr grows every step, from ``lr_min`` to ``lr_max``: exponentially (an
``ExponentialLR`` from ``lr_min`` with :math:`\gamma = (\eta_{\max}/\eta_{\min})^{1/(n-1)}`)
or linearly (a ``LinearLR`` from ``lr_max`` with ``start_factor = lr_min / lr_max``). Both are
schedules of the registry, so the sweep is an ordinary ``RunSpec`` through the engine.

The loss paired with ``lr[t]`` is the loss *after* step t, the first one that step affects.
It is smoothed by a bias-corrected exponential moving average
:math:`\bar L_t = \mathrm{EMA}_\beta(L)_t / (1 - \beta^{t+1})` and the curve is cut where
:math:`\bar L_t > \text{diverge\_factor} \cdot \min_{s \le t} \bar L_s` (or where the run
diverged). Suggestions, all on the kept part:

* ``steepest``: the lr where :math:`d\bar L / d\log\eta` is most negative, past the first
  ``skip_start`` steps (as torch-lr-finder and fastai's plot skip them: the average has seen
  only a few losses there, and its first slope is the start-up of the run). The derivative is
  taken against :math:`\log\eta`, not the step index: on a linear sweep the index is
  proportional to :math:`\eta`, and ``argmin`` of :math:`d\bar L/dt` favours small lrs by a
  factor :math:`\eta` (:math:`d/d\log\eta = \eta\, d/d\eta`); against :math:`\log\eta` both
  sweeps suggest the same lr.
* ``valley``: fastai's valley — the longest strictly decreasing subsequence of the smoothed
  loss, and the lr half-way into its middle third (indices ``start + k + k // 2``,
  ``k = (end - start) // 3``).
* ``min_over_10``: the lr of the smallest smoothed loss, divided by 10.
"""

import math
from dataclasses import dataclass

import numpy as np

from common.limits import STEPS
from common.params import FLOAT_POS, UNIT_OPEN_RIGHT, Interval, Options, Param, validate

from .engines import numba_engine
from .spec import RunSpec

_PARAMS = (
    Param("lr_min", 1e-6, FLOAT_POS, "lr of the first step"),
    Param("lr_max", 10.0, FLOAT_POS, "lr of the last step (> lr_min)"),
    Param("steps", 200, Interval(2, STEPS.constraint.high, integer=True), "steps of the sweep"),
    Param("mode", "exp", Options(("exp", "linear")), "how the lr grows"),
    Param("smoothing", 0.98, UNIT_OPEN_RIGHT, "beta of the loss's moving average"),
    Param("diverge_factor", 4.0, Interval(1.0, math.inf, "neither"), "cut-off ratio"),
    Param("skip_start", 10, Interval(0, STEPS.constraint.high, integer=True),
          "first steps left out of the steepest suggestion"),
)  # fmt: skip


@dataclass(frozen=True, eq=False)
class LRFinderResult:
    """The kept part of a range test (``lr``, ``loss``, ``smoothed`` have one length) and its
    suggestions. ``spec`` is the sweep's run (its schedule is the sweep)."""

    lr: np.ndarray  # lr of each kept step
    loss: np.ndarray  # loss after that step
    smoothed: np.ndarray  # bias-corrected EMA of ``loss``
    steepest: float
    valley: float
    min_over_10: float
    spec: RunSpec

    @property
    def suggestion(self) -> float:
        return self.steepest


def sweep_spec(spec: RunSpec, lr_min: float, lr_max: float, steps: int, mode: str) -> RunSpec:
    """``spec`` with its lr schedule replaced by the range test's sweep."""
    if mode == "exp":
        gamma = (lr_max / lr_min) ** (1.0 / (steps - 1))
        lr0, schedule, params = lr_min, "ExponentialLR", {"gamma": gamma}
    else:
        factor = {"start_factor": lr_min / lr_max, "end_factor": 1.0, "total_iters": steps - 1}
        lr0, schedule, params = lr_max, "LinearLR", factor
    return spec.with_(
        hyperparameters={**spec.h, "lr": lr0},
        schedule=schedule,
        schedule_params=params,
        steps=steps,
        tol=0.0,  # a converged run would hold the loss still and hide the larger lrs
    )


def lr_range_test(
    spec: RunSpec,
    lr_min: float = 1e-6,
    lr_max: float = 10.0,
    steps: int = 200,
    mode: str = "exp",
    smoothing: float = 0.98,
    diverge_factor: float = 4.0,
    skip_start: int = 10,
) -> LRFinderResult:
    """Run the sweep on ``spec``'s surface, optimizer and start, and suggest lrs."""
    args = validate(
        "lr_range_test",
        _PARAMS,
        dict(lr_min=lr_min, lr_max=lr_max, steps=steps, mode=mode, smoothing=smoothing,
             diverge_factor=diverge_factor, skip_start=skip_start),
    )  # fmt: skip
    if args["lr_min"] >= args["lr_max"]:
        raise ValueError(
            f"lr_range_test: 'lr_max' must be > lr_min = {args['lr_min']:g}; got {args['lr_max']:g}"
        )
    sweep = sweep_spec(spec, args["lr_min"], args["lr_max"], args["steps"], args["mode"])
    traj = numba_engine.run(sweep)
    taken = traj.stop_step if traj.diverged else traj.steps
    lr, loss = traj.lr[:taken], traj.loss[1 : taken + 1]
    finite = np.isfinite(loss)
    taken = int(np.argmin(finite)) if not finite.all() else taken
    smoothed = smooth(loss[:taken], args["smoothing"])
    keep = cut_off(smoothed, args["diverge_factor"])
    if keep < 2:
        raise ValueError(
            f"lr_range_test: the loss blew up within {keep} step(s) of lr_min = "
            f"{args['lr_min']:g}; lower lr_min"
        )
    lr, loss, smoothed = lr[:keep], loss[:keep], smoothed[:keep]
    return LRFinderResult(
        lr=lr,
        loss=loss,
        smoothed=smoothed,
        steepest=float(lr[steepest_index(lr, smoothed, args["skip_start"])]),
        valley=float(lr[valley_index(smoothed)]),
        min_over_10=float(lr[np.argmin(smoothed)] / 10.0),
        spec=sweep,
    )


def smooth(loss: np.ndarray, beta: float) -> np.ndarray:
    """Bias-corrected exponential moving average (fastai's ``SmoothenValue``)."""
    out = np.empty_like(loss)
    avg = 0.0
    for t, value in enumerate(loss):
        avg = beta * avg + (1.0 - beta) * value
        out[t] = avg / (1.0 - beta ** (t + 1))
    return out


def cut_off(smoothed: np.ndarray, factor: float) -> int:
    """How many values to keep: up to (excluding) the first above ``factor`` × the best so far."""
    over = smoothed > factor * np.minimum.accumulate(smoothed)
    return int(np.argmax(over)) if over.any() else len(smoothed)


def steepest_index(lr: np.ndarray, smoothed: np.ndarray, skip_start: int = 0) -> int:
    """Index of the most negative :math:`d\\bar L / d\\log\\eta`, past the first
    ``skip_start`` (fewer when the curve is short: at least its last three points count)."""
    slope = np.gradient(smoothed, np.log(lr))
    skip = min(skip_start, max(len(slope) - 3, 0))
    return skip + int(np.argmin(slope[skip:]))


def valley_index(smoothed: np.ndarray) -> int:
    """fastai's valley: the longest decreasing run of losses, half-way into its middle third."""
    n = len(smoothed)
    longest = np.ones(n, dtype=np.int64)  # longest decreasing subsequence ending at i
    start = end = 0
    for i in range(1, n):
        higher = smoothed[:i] > smoothed[i]
        if higher.any():
            longest[i] = longest[:i][higher].max() + 1
        if longest[i] > longest[end]:
            end = i
            start = end - longest[end]
    start = max(start, 0)
    third = (end - start) // 3
    return min(start + third + third // 2, n - 1)
