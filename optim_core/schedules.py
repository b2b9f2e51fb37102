r"""Learning-rate (and momentum) schedules as pure, vectorised closed forms of the step number.

Registry keys, parameter names, defaults and semantics are ``torch.optim.lr_scheduler``'s,
plus ``none`` and ``InverseTimeLR``. ``Schedule.lr(t)`` is the lr that ``optimizer.step()``
number t (t = 0, 1, ...) uses: the param group's lr *before* that step, i.e. after t calls of
``scheduler.step()``. The optimizer's lr is the base lr :math:`\eta_0`, as in torch, except in
CyclicLR and OneCycleLR, which set their own. Torch steps most schedules recursively
(``lr *= ...``) and so drifts from these closed forms by a few ulps per step.

Notation shared by every ``latex``: :math:`\eta_t` lr at step :math:`t`, :math:`\eta_0` the
optimizer's lr, :math:`\mu_t` momentum (Adam: :math:`\beta_1`) at step :math:`t`, other
symbols are torch's parameter names.

Validation (once, in :func:`make_schedule`) is stricter than torch's where torch accepts
values that crash later or mean nothing: integer step counts in [1, MAX_SCHEDULE_INT], no zero
factors, momenta ordered, OneCycleLR phases that each span a step, strictly increasing
SequentialLR milestones; :meth:`Schedule.check_steps` says whether it can run a run's steps.

Each :class:`ScheduleDef` carries what other modules need to know about it (its sidebar
defaults, its PyTorch source, whether it may follow a warm-up, whether it follows the loss),
so nothing outside its definition looks at its name.
"""

from dataclasses import dataclass, replace

import numpy as np

from common.limits import SCHEDULE_COUNT0
from common.params import (
    BOOL,
    FLOAT_NONNEG,
    FLOAT_POS,
    INT_NONNEG,
    INT_POS,
    UNIT_CLOSED,
    Param,
    Sequence,
    lookup,
    validate,
)

from . import _cyclic, _plateau
from ._schedule_def import COUNT, ETA_MIN, FACTOR, REQUIRED, Range, ScheduleDef, step_count
from ._sequential import (
    ScheduleList,
    check_phase_steps,
    check_sequential,
    sequential_lr,
    sequential_source,
)
from ._torch_text import lambda_lr

PLATEAU_TABLE_ORDER = _plateau.TABLE_ORDER
_LR = Param("lr", REQUIRED, FLOAT_NONNEG, "the optimizer's lr, the base lr eta_0")


@dataclass(frozen=True)
class Schedule:
    name: str
    params: dict  # validated, defaults filled
    lr0: float  # the optimizer's lr

    @property
    def definition(self) -> ScheduleDef:
        return SCHEDULES[self.name]

    def lr(self, steps) -> np.ndarray:
        """The lr used by ``optimizer.step()`` number t, for each t in ``steps`` (float64)."""
        t = _steps(steps)
        # contiguous and writable, whatever the closed form returns (a broadcast view)
        return np.array(self.definition.lr_fn(t, self.lr0, self.params), np.float64)

    def momentum(self, steps) -> np.ndarray | None:
        """Momentum (or beta1) used at step t when the schedule cycles it, else None."""
        fn = self.definition.momentum_fn
        if fn is None or not self.params["cycle_momentum"]:
            return None
        return np.asarray(fn(_steps(steps), self.params), np.float64)

    @property
    def plateau(self) -> dict | None:
        """The validated params of a schedule that follows the loss (ReduceLROnPlateau): the
        engine applies them from the loss."""
        return dict(self.params) if self.definition.loss_driven else None

    def check_steps(self, steps: int) -> None:
        """ValueError, in the standard message, unless it can run ``steps`` optimizer steps
        (torch's OneCycleLR raises when stepped past ``total_steps``)."""
        steps = _RUN_STEPS.check(self.name, steps)
        if self.definition.steps_check is not None:
            self.definition.steps_check(self.params, steps)


_RUN_STEPS = Param("steps", 1, INT_POS, "optimizer steps of the run")


def _steps(steps) -> np.ndarray:
    t = np.asarray(steps)
    if t.dtype.kind not in "iu" or (t.size and t.min() < 0):
        raise ValueError(f"steps must be integers >= 0; got {t.dtype} array {t!r}")
    return t.astype(np.int64)


def make_schedule(name: str, lr: float, /, **params) -> Schedule:
    """The schedule ``name`` with base lr ``lr``, validated once (raises ValueError)."""
    definition = lookup("schedule", SCHEDULES, name)
    return Schedule(name, validated_params(definition, params), _LR.check(name, lr))


def validated_params(definition: ScheduleDef, values: dict) -> dict:
    """Defaults filled in and every value checked; a None default means "derived from others"."""
    name, table = definition.name, definition.params
    if set(values) - {p.name for p in table}:
        validate(name, table, values)  # a misspelt name is reported before a missing one
    for p in table:
        if p.default is REQUIRED and values.get(p.name) is None:
            raise ValueError(f"{name}: {p.name!r} is required: {p.constraint.describe()}")
    derived = {p.name for p in table if p.default is None and values.get(p.name) is None}
    checked = validate(
        name,
        tuple(p for p in table if p.name not in derived),
        {k: v for k, v in values.items() if k not in derived},
    )
    params = {p.name: checked.get(p.name) for p in table}
    return definition.check(params) if definition.check else params


def plateau_table(params: dict) -> tuple[float, ...]:
    """ReduceLROnPlateau's params as floats for an engine kernel, in ``PLATEAU_TABLE_ORDER``:
    (mode, factor, patience, threshold, threshold_mode, cooldown, min_lr, eps), with mode
    0 = min, 1 = max and threshold_mode 0 = rel, 1 = abs."""
    return _plateau.table(validated_params(SCHEDULES["ReduceLROnPlateau"], params))


def plateau_reference(losses: np.ndarray, lr0: float, **params) -> np.ndarray:
    """The lr used at each step when torch's ReduceLROnPlateau is stepped with ``losses[t]``
    after optimizer step t (so the lr of step 0 is lr0). A plain loop: the kernels' reference."""
    schedule = make_schedule("ReduceLROnPlateau", lr0, **params)
    return _plateau.reference(losses, schedule.lr0, _plateau.table(schedule.params))


# ---- closed forms --------------------------------------------------------------------------


def _inverse_time(t: np.ndarray, lr0: float, p: dict) -> np.ndarray:
    k = t // p["decay_steps"] if p["staircase"] else t / p["decay_steps"]
    return lr0 / (1 + p["decay_rate"] * k)


def _inverse_time_source(p: dict, indent: int, child: bool) -> str:
    k = "t // {}" if p["staircase"] else "t / {}"
    return lambda_lr(f"1 / (1 + {p['decay_rate']!r} * ({k.format(p['decay_steps'])}))")


def _none_source(p: dict, indent: int, child: bool) -> str:
    # A SequentialLR phase "none" keeps the base lr: a LambdaLR with factor 1.
    return lambda_lr("1.0") if child else "None"


def _linear(t: np.ndarray, p: dict) -> np.ndarray:
    s, e, n = p["start_factor"], p["end_factor"], p["total_iters"]
    # fraction first, so that end_factor = 0 gives exactly 0 (not -1 ulp) from total_iters on
    return s + (e - s) * (np.minimum(n, t) / n)


def _constant(t: np.ndarray, lr0, p: dict) -> np.ndarray:
    """lr0 at every step, as a read-only view whose steps axis has stride 0 (the batch
    engine keeps one value per run of such an lr instead of a table of them). lr0 may be a
    column of base lrs (a batch of runs: engines.prepare_batch)."""
    lr0 = np.asarray(lr0, np.float64)
    return np.broadcast_to(lr0, np.broadcast_shapes(lr0.shape, t.shape))


def _tenth(steps: int) -> int:
    return max(1, steps // 10)


# ---- what a search varies (ScheduleDef.search_ranges) ----------------------------------------
# Counts of steps scale with the run. A schedule that cycles momentum keeps it still in a
# search (cycle_momentum=False): the trial's own momentum / beta1, searched or not, then
# means what it says, and optimizers without momentum (Adagrad) can draw the schedule too.
# MultiStepLR and SequentialLR have none: a list (of milestones, of phases) is no search
# dimension, and StepLR and a LinearLR warm-up search the shapes they make.


def _cyclic_ranges(steps: int, lo: float, hi: float) -> dict:
    # CyclicLR ignores the optimizer's lr: the lr range is its max_lr. base_lr must stay
    # <= max_lr in every trial, and a space cannot draw one value relative to another, so
    # base_lr is searched just below the range, [lo / 10, lo]: never above any max_lr.
    return {
        "base_lr": Range(lo / 10, lo, log=True),
        "max_lr": Range(lo, hi, log=True),
        "step_size_up": step_count(steps, 1 / 20, 1 / 2),
        "cycle_momentum": False,
    }


def _one_cycle_ranges(steps: int, lo: float, hi: float) -> dict:
    # OneCycleLR ignores the optimizer's lr: the lr range is its max_lr. The cycle spans the
    # run; its warm-up must span a step (check_onecycle), so short runs start it later.
    return {
        "max_lr": Range(lo, hi, log=True),
        "total_steps": steps,
        "pct_start": Range(min(0.5, max(0.1, 2 / steps)), 0.5),
        "div_factor": Range(5.0, 100.0, log=True),
        "cycle_momentum": False,
    }


def _warm_restarts_ranges(steps: int, lo: float, hi: float) -> dict:
    return {"T_0": step_count(steps, 1 / 10, 1 / 2), "T_mult": Range(1, 2, integer=True)}


# The cycling entries are defined in _cyclic; their search ranges join them here.
_SEARCHED_CYCLIC = (
    replace(_cyclic.WARM_RESTARTS, search_ranges=_warm_restarts_ranges),
    replace(_cyclic.CYCLIC, search_ranges=_cyclic_ranges),
    replace(_cyclic.ONE_CYCLE, search_ranges=_one_cycle_ranges),
)


GAMMA = Param("gamma", 0.1, FLOAT_POS, "lr multiplier at each decay (> 1 grows the lr)")
TOTAL_ITERS = Param("total_iters", 5, COUNT, "steps until the factor reaches its end value")


def _plateau_params() -> tuple[Param, ...]:
    # _plateau's table with patience and cooldown bounded like every count of steps here
    bounded = {INT_NONNEG: SCHEDULE_COUNT0}
    return tuple(
        replace(p, constraint=bounded.get(p.constraint, p.constraint)) for p in _plateau.PARAMS
    )


SCHEDULES: dict[str, ScheduleDef] = {
    d.name: d
    for d in (
        ScheduleDef(
            "none",
            (),
            r"\eta_t = \eta_0",
            "A constant learning rate.",
            _constant,
            source=_none_source,
            search_ranges=lambda steps, lo, hi: {},
        ),
        ScheduleDef(
            "StepLR",
            (Param("step_size", REQUIRED, COUNT, "steps between decays, e.g. 100"), GAMMA),
            r"\eta_t = \eta_0\,\gamma^{\lfloor t / \text{step\_size} \rfloor}",
            "Multiply the lr by gamma every step_size steps: a staircase.",
            lambda t, lr0, p: lr0 * p["gamma"] ** (t // p["step_size"]),
            ui_defaults=lambda steps, lr: {"step_size": max(1, steps // 4), "gamma": 0.5},
            search_ranges=lambda steps, lo, hi: {
                "step_size": step_count(steps, 1 / 20, 1 / 2),
                "gamma": Range(0.05, 0.9, log=True),
            },
        ),
        ScheduleDef(
            "MultiStepLR",
            (Param("milestones", REQUIRED, Sequence(COUNT), "steps of the decays"), GAMMA),
            r"\eta_t = \eta_0\,\gamma^{\#\{m \in \text{milestones}\,:\,m \le t\}}",
            "Multiply the lr by gamma at each milestone (twice at a repeated one).",
            lambda t, lr0, p: lr0 * p["gamma"] ** np.searchsorted(p["milestones"], t, "right"),
            ui_defaults=lambda steps, lr: {
                "milestones": [max(1, steps // 2), max(2, 3 * steps // 4)],
                "gamma": 0.3,
            },
        ),
        ScheduleDef(
            "ConstantLR",
            (Param("factor", 1.0 / 3, FACTOR, "lr multiplier until total_iters"), TOTAL_ITERS),
            r"\eta_t = \eta_0 \cdot \begin{cases} \text{factor} & t < \text{total\_iters} \\"
            r" 1 & t \ge \text{total\_iters} \end{cases}",
            "Hold the lr at a fraction of itself for the first steps, then at full value.",
            lambda t, lr0, p: np.where(t < p["total_iters"], lr0 * p["factor"], lr0),
            ui_defaults=lambda steps, lr: {"factor": 0.3, "total_iters": _tenth(steps)},
            search_ranges=lambda steps, lo, hi: {
                "factor": Range(0.05, 0.9, log=True),
                "total_iters": step_count(steps, 1 / 20, 1 / 2),
            },
        ),
        ScheduleDef(
            "LinearLR",
            (
                Param("start_factor", 1.0 / 3, FACTOR, "lr multiplier at step 0"),
                Param("end_factor", 1.0, UNIT_CLOSED, "lr multiplier from total_iters on"),
                TOTAL_ITERS,
            ),
            r"\eta_t = \eta_0 \left(s + (e - s) \frac{\min(t, T)}{T}\right),\ s ="
            r" \text{start\_factor},\ e = \text{end\_factor},\ T = \text{total\_iters}",
            "Warm-up: ramp the lr linearly from start_factor to end_factor times its value.",
            lambda t, lr0, p: lr0 * _linear(t, p),
            ui_defaults=lambda steps, lr: {
                "start_factor": 0.01,
                "end_factor": 1.0,
                "total_iters": _tenth(steps),
            },
            # a warm-up to the full lr: how low it starts and how long it takes
            search_ranges=lambda steps, lo, hi: {
                "start_factor": Range(0.01, 0.5, log=True),
                "total_iters": step_count(steps, 1 / 20, 1 / 2),
            },
        ),
        ScheduleDef(
            "ExponentialLR",
            (Param("gamma", REQUIRED, FLOAT_POS, "lr multiplier per step, e.g. 0.99"),),
            r"\eta_t = \eta_0\,\gamma^{t}",
            "Multiply the lr by gamma at every step.",
            lambda t, lr0, p: lr0 * p["gamma"] ** t,
            ui_defaults=lambda steps, lr: {"gamma": round(0.01 ** (1 / max(steps, 1)), 6)},
            # gamma for a run of this length: the lr halves 0.5 to 10 times by its end (a
            # fixed range in gamma would decay to nothing or not at all in most runs)
            search_ranges=lambda steps, lo, hi: {
                "gamma": Range(0.5 ** (10 / steps), 0.5 ** (0.5 / steps)),
            },
        ),
        ScheduleDef(
            "PolynomialLR",
            (TOTAL_ITERS, Param("power", 1.0, FLOAT_NONNEG, "exponent of the decay")),
            r"\eta_t = \eta_0 \left(1 - \frac{\min(t, T)}{T}\right)^{\text{power}},\ T ="
            r" \text{total\_iters}",
            "Decay the lr polynomially to zero at total_iters, then stay at zero.",
            lambda t, lr0, p: (
                lr0 * (1.0 - np.minimum(t, p["total_iters"]) / p["total_iters"]) ** p["power"]
            ),
            ui_defaults=lambda steps, lr: {"total_iters": steps, "power": 2.0},
            # the lr is 0 from total_iters on: a run ending sooner wastes its last steps
            search_ranges=lambda steps, lo, hi: {
                "total_iters": step_count(steps, 1 / 2, 1, log=False),
                "power": Range(0.5, 3.0),
            },
        ),
        ScheduleDef(
            "CosineAnnealingLR",
            (Param("T_max", REQUIRED, COUNT, "steps from eta_0 down to eta_min"), ETA_MIN),
            r"\eta_t = \eta_{\min} + \tfrac12 (\eta_0 - \eta_{\min})"
            r" \left(1 + \cos \frac{\pi t}{T_{\max}}\right)",
            "Follow a cosine from the lr down to eta_min in T_max steps (and back up after).",
            lambda t, lr0, p: (
                p["eta_min"] + (lr0 - p["eta_min"]) * (1 + np.cos(np.pi * t / p["T_max"])) / 2
            ),
            ui_defaults=lambda steps, lr: {"T_max": steps, "eta_min": 0.0},
            search_ranges=lambda steps, lo, hi: {"T_max": step_count(steps, 1 / 4, 1, log=False)},
        ),
        *_SEARCHED_CYCLIC,
        ScheduleDef(
            "SequentialLR",
            (
                Param("schedulers", REQUIRED, ScheduleList(), "the phases"),
                Param("milestones", REQUIRED, Sequence(COUNT), "steps where the next starts"),
            ),
            r"\eta_t = \eta^{(k)}_{t - m_k},\ k = \#\{i \ge 1 : m_i \le t\},\ m_0 = 0",
            "Run one schedule after another; each starts afresh at its milestone.",
            lambda t, lr0, p: sequential_lr(t, lr0, p, SCHEDULES),
            check=lambda p: check_sequential(p, SCHEDULES, _phase_params),
            source=lambda p, indent, child: sequential_source(p, indent, SCHEDULES),
            steps_check=lambda p, steps: check_phase_steps(p, steps, SCHEDULES),
            not_a_phase="torch cannot restart a nested SequentialLR at a milestone",
        ),
        ScheduleDef(
            "ReduceLROnPlateau",
            _plateau_params(),
            r"\eta_{t+1} = \begin{cases} \max(\text{factor}\cdot\eta_t, \text{min\_lr}) &"
            r" \text{patience} + 1 \text{ steps without improvement} \\ \eta_t &"
            r" \text{otherwise} \end{cases}",
            "Cut the lr by factor when the loss has stopped improving for patience steps.",
            _constant,
            check=_plateau.check,
            ui_defaults=lambda steps, lr: {"patience": max(1, steps // 50), "factor": 0.5},
            search_ranges=lambda steps, lo, hi: {
                "factor": Range(0.1, 0.9),
                "patience": step_count(steps, 1 / 100, 1 / 10),
            },
            not_a_phase="it needs the loss; torch rejects it too",
            loss_driven=True,
        ),
        ScheduleDef(
            "InverseTimeLR",
            (
                Param("decay_rate", 0.01, FLOAT_NONNEG, "lr is halved at t = decay_steps / this"),
                Param("decay_steps", 1, COUNT, "steps per unit of decay"),
                Param("staircase", False, BOOL, "decay in whole units of decay_steps"),
            ),
            r"\eta_t = \frac{\eta_0}{1 + \text{decay\_rate} \cdot t / \text{decay\_steps}}"
            r"\ (\text{staircase: } \lfloor t / \text{decay\_steps} \rfloor)",
            "Decay the lr like 1/t (torch's LambdaLR with this factor; Keras InverseTimeDecay).",
            _inverse_time,
            ui_defaults=lambda steps, lr: {
                "decay_rate": round(10 / max(steps, 1), 6),
                "decay_steps": 1,
            },
            # by the run's end the lr is 1.1 to 101 times smaller
            search_ranges=lambda steps, lo, hi: {
                "decay_rate": Range(0.1 / steps, 100 / steps, log=True),
            },
            source=_inverse_time_source,
        ),
    )
}


def _phase_params(name: str, values: dict) -> dict:
    return validated_params(SCHEDULES[name], values)
