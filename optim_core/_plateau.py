"""ReduceLROnPlateau: its parameter table and a reference of torch's state machine.

The lr depends on the loss, so no closed form exists: the engines run this state machine in
their kernels from :func:`table`, and the tests compare this loop with torch's scheduler.
"""

import math

import numpy as np

from common.params import FLOAT_NONNEG, INT_NONNEG, Interval, Options, Param

from ._cyclic import bad_value

PARAMS = (
    Param("mode", "min", Options(("min", "max")), "min: the watched value is a loss"),
    Param("factor", 0.1, Interval(0.0, 1.0, "neither"), "lr multiplier at each reduction"),
    Param("patience", 10, INT_NONNEG, "bad steps tolerated before reducing"),
    Param("threshold", 1e-4, FLOAT_NONNEG, "smallest change counted as an improvement"),
    Param("threshold_mode", "rel", Options(("rel", "abs")), "threshold relative or absolute"),
    Param("cooldown", 0, INT_NONNEG, "steps after a reduction whose bad steps do not count"),
    Param("min_lr", 0.0, FLOAT_NONNEG, "lower bound of the lr"),
    Param("eps", 1e-8, FLOAT_NONNEG, "reductions smaller than this are skipped"),
)
TABLE_ORDER = tuple(p.name for p in PARAMS)  # mode 0/1 = min/max, threshold_mode 0/1 = rel/abs
_CODES = {"mode": ("min", "max"), "threshold_mode": ("rel", "abs")}


def check(p: dict) -> dict:
    # best * (1 - threshold) <= 0 would make every loss after the first "no improvement"
    if p["threshold_mode"] == "rel" and p["threshold"] >= 1:
        allowed = "< 1 with threshold_mode='rel'"
        raise bad_value("ReduceLROnPlateau", "threshold", allowed, p["threshold"])
    return p


def table(p: dict) -> tuple[float, ...]:
    return tuple(float(_CODES[k].index(p[k])) if k in _CODES else float(p[k]) for k in TABLE_ORDER)


def reference(losses: np.ndarray, lr: float, table: tuple[float, ...]) -> np.ndarray:
    """Mirrors ``ReduceLROnPlateau.step`` line by line, one loss per optimizer step."""
    mode, factor, patience, threshold, rel_abs, cooldown, min_lr, eps = table
    best = math.inf if mode == 0 else -math.inf
    bad = cool = 0
    out = np.empty(len(losses))
    for t, loss in enumerate(np.asarray(losses, np.float64)):
        out[t] = lr
        if mode == 0:
            better = loss < (best * (1.0 - threshold) if rel_abs == 0 else best - threshold)
        else:
            better = loss > (best * (threshold + 1.0) if rel_abs == 0 else best + threshold)
        best, bad = (loss, 0) if better else (best, bad + 1)
        if cool > 0:
            cool, bad = cool - 1, 0
        if bad > patience:
            new = max(lr * factor, min_lr)
            lr = new if lr - new > eps else lr
            cool, bad = cooldown, 0
    return out
