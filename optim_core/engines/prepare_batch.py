"""``prepare`` for a batch of runs with their own settings, in one pass per group of runs.

A search evaluates hundreds of trials per call; preparing each alone (``prepare``) cost ~40
µs a trial, three times its kernel. Runs that share optimizer, flags and schedule form a
group: their hyperparameters become columns (one row per run), and the optimizer's
``scalars`` and the schedule's closed form are evaluated once for the whole group by numpy
broadcasting. A hyperparameter equal across the group stays a scalar, so every constant is
computed by the same operations as ``prepare`` would, and equals it bit for bit (a test
holds ``run_settings`` equal to ``run``). Runs whose schedule cycles the momentum (its
powers then follow the per-step beta) are prepared one by one.
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numba import njit

from ..optimizers import momentum_value
from ..spec import RunSpec
from .prepare import Prepared, _per_step, gradient_noise, prepare

# Runs evaluated together: each temporary (CHUNK, steps) array of a 500-step run stays below
# malloc's 128 KiB mmap threshold and in cache; the temporaries of a whole batch of 256 (1 MB
# each, fresh pages at every call) made the constants 3x as slow.
CHUNK = 32


@dataclass(frozen=True, eq=False)
class Settings:
    """The arrays of ``R`` runs; in those read at every step the run axis is last, so that
    the lanes of a kernel block (one run each) read them side by side."""

    first: Prepared  # the first run's: surface, optimizer, surface parameters, limits
    starts: np.ndarray  # (R, 2)
    s0: np.ndarray  # (R, N_STATE)
    C: np.ndarray  # (K, steps, R)
    lr: np.ndarray  # (steps, R)
    noise: np.ndarray  # (steps, 2, R)
    rho: np.ndarray  # (R,) SAM radii


def prepare_settings(specs: Sequence[RunSpec]) -> Settings:
    """The stacked arrays of ``specs``, which share surface, optimizer, steps and tol."""
    first = prepare(specs[0])
    runs, steps = len(specs), specs[0].steps
    C = np.empty((first.C.shape[0], steps, runs))
    lr = np.empty((runs, steps))
    s0 = np.empty((runs, first.s0.shape[0]))
    groups, alone = defaultdict(list), {}
    for i, spec in enumerate(specs):
        groups[_group(spec, alone)].append(i)
    for key, index in groups.items():
        if key is None:
            for i in index:
                lr[i], _, _, C[:, :, i], s0[i] = _per_step(specs[i])
            continue
        for lo in range(0, len(index), CHUNK):
            part = index[lo : lo + CHUNK]
            _fill_group([specs[i] for i in part], part, C, lr, s0)
    if all(s.noise == 0.0 for s in specs):
        noise = np.zeros((steps, 2, runs))
    else:
        noise = np.stack([gradient_noise(s) for s in specs], axis=-1)
    return Settings(
        first=first,
        starts=np.array([s.start for s in specs], dtype=np.float64),
        s0=s0,
        C=C,
        lr=np.ascontiguousarray(lr.T),
        noise=noise,
        rho=np.array([s.sam_rho for s in specs], dtype=np.float64),
    )


def _group(spec: RunSpec, alone: dict):
    """What runs of one group share (optimizer, flags, schedule), or None for a run to
    prepare alone (its schedule cycles the momentum or follows the loss); ``alone`` caches
    that per schedule."""
    key = spec.schedule, spec.schedule_params
    if key not in alone:
        schedule = spec.lr_schedule
        alone[key] = bool(schedule.plateau) or schedule.momentum(np.arange(1)) is not None
    if alone[key]:
        return None
    # the names too: _columns reads the runs' (name, value) pairs position by position
    flags = tuple((k, v) if isinstance(v, bool) else k for k, v in spec.hyperparameters)
    return spec.optimizer, flags, *key


def _fill_group(members: list[RunSpec], index: list[int], C, lr, s0) -> None:
    """The group's rows of C, lr and s0, each evaluated once over (runs, steps)."""
    first = members[0]
    opt, schedule, steps = first.optimizer_def, first.lr_schedule, first.steps
    h = _columns([m.hyperparameters for m in members])
    t = np.arange(steps)
    rows = slice(index[0], index[-1] + 1) if index[-1] - index[0] == len(index) - 1 else index
    lr[rows] = _lrs(schedule.definition.lr_fn, t, [m.lr_schedule for m in members])
    # prepare's momentum: the constant one (a scalar where the whole group shares it), or 0
    # for an optimizer without momentum
    momentum = momentum_value(opt, h)
    with np.errstate(all="ignore"):
        consts = opt.scalars(t + 1.0, 0.0 if momentum is None else momentum, h)
    for k, value in enumerate(consts):
        if np.shape(value) == (len(members), steps):
            # numpy's copy runs its inner loop along the 32 runs, 500 times per row
            _put(C[k], np.asarray(index), np.ascontiguousarray(value))
        else:  # a scalar, a row over the steps or a column over the runs
            C[k][:, rows] = np.broadcast_to(value, (len(members), steps)).T
    for k, value in enumerate(opt.init(h)):
        s0[rows, k] = np.ravel(value) if np.ndim(value) else value


def _lrs(lr_fn, t: np.ndarray, schedules: list):
    """Each run's lr per step: the closed form evaluated once over a column of base lrs,
    or once per run where it takes only one (it raises, or its shape says so)."""
    lr0 = _column([s.lr0 for s in schedules])
    try:
        out = lr_fn(t, lr0, schedules[0].params)
        if np.shape(out) in ((len(schedules), t.shape[0]), t.shape):
            return out
    except (TypeError, ValueError):
        pass
    return np.stack([lr_fn(t, s.lr0, s.params) for s in schedules])


def _columns(rows: list[tuple]) -> dict:
    """One dict of hyperparameters for the group, from each run's (name, value) pairs (a
    RunSpec's ``hyperparameters``: every name, in one order): a value all runs share stays
    as it is (a scalar, so the constants are computed as for one run); others become (runs,
    1) columns, and a pair (betas) is a pair of those."""
    out = {}
    for j, (key, value) in enumerate(rows[0]):
        values = [row[j][1] for row in rows]
        if isinstance(value, tuple):
            out[key] = tuple(_column([v[i] for v in values]) for i in range(len(value)))
        else:
            out[key] = _column(values)
    return out


@njit(cache=True, nogil=True)
def _put(Ck, index, value):
    """``Ck[:, index[g]] = value[g]``: a (runs, steps) table into a (steps, R) row of C."""
    for t in range(value.shape[1]):
        for g in range(value.shape[0]):
            Ck[t, index[g]] = value[g, t]


def _column(values: list):
    first = values[0]
    if all(v == first for v in values):
        return first
    return np.array(values, dtype=np.float64)[:, None]
