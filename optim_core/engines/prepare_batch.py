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
from operator import attrgetter

import numpy as np

from ..optimizers import momentum_value
from ..spec import RunSpec
from .prepare import Prepared, _per_step, gradient_noise, prepare

# Runs evaluated together (numpy's cost per call shrinks with more). Measured for Adam, in a
# 1,000-trial search's rounds of 256 with the heap kept (see ``_heap``): the engine's time per
# trial 15.8 us in chunks of 32, 13.7 in 64, 12.2 in 128, 10.3 in 256. (Before the heap was
# kept, the faults on chunks' 1 MiB temporaries made 64 the fastest.)
CHUNK = 256


@dataclass(frozen=True, eq=False)
class Settings:
    """The arrays of ``R`` runs. In ``C``, ``noise`` and ``rho`` the run axis is last, so that
    the lanes of a kernel block (one run each) read theirs side by side.

    The optimizer's per-step constants and then the lr (``k = K``): where each run keeps one
    value (Adam's betas and eps, a constant lr), constant ``k`` is row ``at[k, 0]`` of ``C``,
    one value per run; where it changes with the step (``at[k, 1]`` is 1), it is ``P[k]``,
    a (R, steps) table: a run's values over the steps side by side, as numpy computes them.
    ``P`` is a tuple, so that a batch's tables go to the kernel as they were computed (a
    3-D array took a copy of each: in a search, 0.3-0.5 µs a trial, a tenth of preparing).
    """

    first: Prepared  # a run of this shape's: surface, optimizer, surface parameters, limits
    starts: np.ndarray  # (R, 2)
    s0: np.ndarray  # (R, N_STATE)
    C: np.ndarray  # (rows, R)
    P: tuple  # K + 1 arrays: (R, steps) where at[k, 1], else a placeholder
    at: np.ndarray  # (K + 1, 2) int64
    steps: int
    noise: np.ndarray  # (steps, 2, R), or (1, 2, R) of zeros when no run has noise
    rho: np.ndarray  # (R,) SAM radii


def prepare_settings(specs: Sequence[RunSpec]) -> Settings:
    """The stacked arrays of ``specs``, which share surface, optimizer, steps and tol."""
    first = _shape_of(specs[0])
    runs, steps = len(specs), specs[0].steps
    s0 = np.empty((runs, first.s0.shape[0]))
    parts = []
    for index, alone in _groups(specs):
        if alone:
            for i in index:
                lr, _, _, C, s0[i] = _per_step(specs[i])
                parts.append(([i], [*C, lr]))
            continue
        for lo in range(0, len(index), CHUNK):
            part = index[lo : lo + CHUNK]
            parts.append((part, _group_values([specs[i] for i in part], part, s0)))
    C, P, at = _layout(parts, runs, steps)
    if all(s.noise == 0.0 for s in specs):
        noise = np.zeros((1, 2, runs))
    else:
        noise = np.stack([gradient_noise(s) for s in specs], axis=-1)
    return Settings(
        first=first,
        starts=np.array([s.start for s in specs], dtype=np.float64),
        s0=s0,
        C=C,
        P=P,
        at=at,
        steps=steps,
        noise=noise,
        rho=np.array([s.sam_rho for s in specs], dtype=np.float64),
    )


def _shape_of(spec: RunSpec) -> Prepared:
    """``prepare`` of a run with ``spec``'s surface (and parameters), optimizer, steps and
    tol, which are all that the batch takes from it (kernels, limits, sizes): the first of
    its shape, kept, since ``prepare`` would compute a new run's per-step constants only to
    drop them (~80 µs a batch)."""
    key = (spec.surface, spec.surface_params, spec.formula, spec.domain, spec.optimizer)
    key += (spec.steps, spec.tol)
    found = _SHAPES.get(key)
    if found is None:
        if len(_SHAPES) >= 64:
            _SHAPES.clear()
        found = _SHAPES[key] = prepare(spec)
    return found


_SHAPES: dict[tuple, Prepared] = {}


def _groups(specs: Sequence[RunSpec]):
    """(run indices, alone) per group of runs that share schedule, its parameters and the
    optimizer's flags; ``alone``: its runs are prepared one by one (the schedule cycles the
    momentum or follows the loss). A search's batch is mostly one group: the keys are
    compared before any is hashed."""
    keys = list(map(_SCHEDULE_KEY, specs))
    if keys.count(keys[0]) == len(keys):
        by_schedule = {keys[0]: list(range(len(specs)))}
    else:
        by_schedule = defaultdict(list)
        for i, key in enumerate(keys):
            by_schedule[key].append(i)
    for index in by_schedule.values():
        schedule = specs[index[0]].lr_schedule
        if schedule.plateau or schedule.momentum(np.arange(1)) is not None:
            yield index, True
        else:
            yield from ((part, False) for part in _by_flags(specs, index))


_SCHEDULE_KEY = attrgetter("schedule", "schedule_params")


def _by_flags(specs: Sequence[RunSpec], index: list[int]) -> list[list[int]]:
    """``index`` split by the values of the optimizer's flags where they differ. The runs of
    a batch share their optimizer, hence the names of their hyperparameters and the order
    of them (a RunSpec keeps every parameter of its optimizer, sorted by name), which
    _columns reads position by position."""
    rows = [specs[i].hyperparameters for i in index]
    flags = _FLAGS.get(specs[index[0]].optimizer)
    if flags is None:
        flags = [j for j, (_, v) in enumerate(rows[0]) if isinstance(v, bool)]
        _FLAGS[specs[index[0]].optimizer] = flags
    mixed = []
    for j in flags:
        values = [row[j][1] for row in rows]
        if values.count(values[0]) != len(values):
            mixed.append(j)
    if not mixed:
        return [index]
    parts = defaultdict(list)
    for i, row in zip(index, rows, strict=True):
        parts[tuple([row[j][1] for j in mixed])].append(i)
    return list(parts.values())


_FLAGS: dict[str, list] = {}  # the positions of the flags among an optimizer's parameters


def _group_values(members: list[RunSpec], index: list[int], s0) -> list:
    """The group's constants and lr (each a scalar, a column over the runs, a row over the
    steps or a (runs, steps) table), each evaluated once; its rows of ``s0`` written."""
    first = members[0]
    opt, schedule, steps = first.optimizer_def, first.lr_schedule, first.steps
    h = _columns([m.hyperparameters for m in members])
    t = np.arange(steps)
    lr = _lrs(schedule.definition.lr_fn, t, [m.lr_schedule for m in members])
    # a constant lr (a table equal along the steps): one value per run, a column; a closed
    # form that returns a view with stride 0 along the steps is one already (see _layout)
    if _per_step_value(lr, steps) and (lr == lr[..., :1]).all():
        lr = lr[..., :1]
    # prepare's momentum: the constant one (a scalar where the whole group shares it), or 0
    # for an optimizer without momentum
    momentum = momentum_value(opt, h)
    with np.errstate(all="ignore"):
        consts = opt.scalars(t + 1.0, 0.0 if momentum is None else momentum, h)
    rows = _rows(index)
    for k, value in enumerate(opt.init(h)):
        s0[rows, k] = np.ravel(value) if np.ndim(value) else value
    return [*consts, lr]


def _per_step_value(value, steps: int) -> bool:
    """Whether a constant changes with the step: it has a steps axis that is no broadcast."""
    return steps > 1 and np.shape(value)[-1:] == (steps,) and np.asarray(value).strides[-1] != 0


def _layout(parts: list, runs: int, steps: int) -> tuple[np.ndarray, tuple, np.ndarray]:
    """``Settings.C``, ``Settings.P`` and ``Settings.at`` from each part's (run indices,
    values): a constant is a table where some part's value changes with the step, else a
    row of ``C``. Where one part holds every run in order (a search's usual batch), its
    tables are P's as they are: no copy."""
    n = len(parts[0][1])
    per_step = [any(_per_step_value(values[k], steps) for _, values in parts) for k in range(n)]
    at = np.zeros((n, 2), np.int64)
    at[:, 1] = per_step
    at[:, 0] = np.cumsum([not p for p in per_step]) - 1  # the rows of C, where constant
    C = np.empty((n - sum(per_step), runs))
    whole = len(parts) == 1 and _rows(parts[0][0]) == slice(0, runs)
    P = [_NO_TABLE] * n
    for k in range(n):
        if per_step[k]:
            P[k] = _as_table(parts[0][1][k], runs, steps) if whole else np.empty((runs, steps))
    for index, values in parts:
        rows = _rows(index)
        for k, value in enumerate(values):
            table = np.broadcast_to(value, (len(index), steps))
            if not per_step[k]:
                C[at[k, 0], rows] = table[:, 0]
            elif not whole:
                P[k][rows] = table
    return C, tuple(P), at


_NO_TABLE = np.zeros((1, 1))  # P's entry for a constant: the kernel never reads it


def _as_table(value, runs: int, steps: int) -> np.ndarray:
    """``value`` as a (runs, steps) table of the kernels' type (C-ordered, writable float64):
    itself where it is one already."""
    if (
        type(value) is np.ndarray
        and value.shape == (runs, steps)
        and value.dtype == np.float64
        and value.flags.c_contiguous
        and value.flags.writeable
    ):
        return value
    return np.array(np.broadcast_to(value, (runs, steps)), dtype=np.float64, order="C")


def _rows(index: list[int]):
    """The runs ``index`` as a slice where they are consecutive (a view, not a copy)."""
    return slice(index[0], index[-1] + 1) if index[-1] - index[0] == len(index) - 1 else index


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


def _column(values: list):
    first = values[0]
    if values.count(first) == len(values):  # (all(v == first ...) took 30x as long)
        return first
    return np.array(values, dtype=np.float64)[:, None]
