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
values that crash later or mean nothing: integer step counts >= 1, no zero factors, momenta
ordered, OneCycleLR phases that each span a step, strictly increasing SequentialLR milestones.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from common.params import (
    BOOL,
    FLOAT_NONNEG,
    FLOAT_POS,
    INT_POS,
    UNIT_CLOSED,
    UNIT_OPEN_RIGHT,
    Interval,
    Options,
    Param,
    Sequence,
    lookup,
    validate,
)

from . import _cyclic, _plateau
from ._sequential import ScheduleList, check_sequential, sequential_lr


class _Required:
    """Default of a parameter torch requires (StepLR's step_size): it must be given."""

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED = _Required()
PLATEAU_TABLE_ORDER = _plateau.TABLE_ORDER

FACTOR = Interval(0.0, 1.0, "right")
UNIT_OPEN = Interval(0.0, 1.0, "neither")
_LR = Param("lr", REQUIRED, FLOAT_NONNEG, "the optimizer's lr, the base lr eta_0")


@dataclass(frozen=True)
class ScheduleDef:
    name: str  # torch class name, the registry key
    params: tuple[Param, ...]  # torch names and defaults; lr only where the scheduler owns it
    latex: str
    description: str
    lr_fn: Callable  # (t, lr0, params) -> lr[t]
    momentum_fn: Callable | None = None  # (t, params) -> momentum[t], if it can cycle momentum
    check: Callable | None = None  # cross-parameter checks: params -> params (normalised)

    @property
    def cycles_momentum(self) -> bool:
        return self.momentum_fn is not None


@dataclass(frozen=True)
class Schedule:
    name: str
    params: dict  # validated, defaults filled
    lr0: float  # the optimizer's lr

    def lr(self, steps) -> np.ndarray:
        """The lr used by ``optimizer.step()`` number t, for each t in ``steps`` (float64)."""
        t = _steps(steps)
        return np.asarray(SCHEDULES[self.name].lr_fn(t, self.lr0, self.params), np.float64)

    def momentum(self, steps) -> np.ndarray | None:
        """Momentum (or beta1) used at step t when the schedule cycles it, else None."""
        fn = SCHEDULES[self.name].momentum_fn
        if fn is None or not self.params["cycle_momentum"]:
            return None
        return np.asarray(fn(_steps(steps), self.params), np.float64)

    @property
    def plateau(self) -> dict | None:
        """ReduceLROnPlateau's validated params; the engine applies them from the loss."""
        return dict(self.params) if self.name == "ReduceLROnPlateau" else None


def _steps(steps) -> np.ndarray:
    t = np.asarray(steps)
    if t.dtype.kind not in "iu" or (t.size and t.min() < 0):
        raise ValueError(f"steps must be integers >= 0; got {t.dtype} array {t!r}")
    return t.astype(np.int64)


def make_schedule(name: str, lr: float, **params) -> Schedule:
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


def _linear(t: np.ndarray, p: dict) -> np.ndarray:
    s, e, n = p["start_factor"], p["end_factor"], p["total_iters"]
    # fraction first, so that end_factor = 0 gives exactly 0 (not -1 ulp) from total_iters on
    return s + (e - s) * (np.minimum(n, t) / n)


def _constant(t: np.ndarray, lr0: float, p: dict) -> np.ndarray:
    return np.full(t.shape, lr0, np.float64)


GAMMA = Param("gamma", 0.1, FLOAT_POS, "lr multiplier at each decay (> 1 grows the lr)")
TOTAL_ITERS = Param("total_iters", 5, INT_POS, "steps until the factor reaches its end value")
ETA_MIN = Param("eta_min", 0.0, FLOAT_NONNEG, "lowest lr of the cosine")
CYCLE_MOMENTUM = Param("cycle_momentum", True, BOOL, "move momentum / beta1 opposite to lr")


SCHEDULES: dict[str, ScheduleDef] = {
    d.name: d
    for d in (
        ScheduleDef("none", (), r"\eta_t = \eta_0", "A constant learning rate.", _constant),
        ScheduleDef(
            "StepLR",
            (Param("step_size", REQUIRED, INT_POS, "steps between decays, e.g. 100"), GAMMA),
            r"\eta_t = \eta_0\,\gamma^{\lfloor t / \text{step\_size} \rfloor}",
            "Multiply the lr by gamma every step_size steps: a staircase.",
            lambda t, lr0, p: lr0 * p["gamma"] ** (t // p["step_size"]),
        ),
        ScheduleDef(
            "MultiStepLR",
            (Param("milestones", REQUIRED, Sequence(INT_POS), "steps of the decays"), GAMMA),
            r"\eta_t = \eta_0\,\gamma^{\#\{m \in \text{milestones}\,:\,m \le t\}}",
            "Multiply the lr by gamma at each milestone (twice at a repeated one).",
            lambda t, lr0, p: lr0 * p["gamma"] ** np.searchsorted(p["milestones"], t, "right"),
        ),
        ScheduleDef(
            "ConstantLR",
            (Param("factor", 1.0 / 3, FACTOR, "lr multiplier until total_iters"), TOTAL_ITERS),
            r"\eta_t = \eta_0 \cdot \begin{cases} \text{factor} & t < \text{total\_iters} \\"
            r" 1 & t \ge \text{total\_iters} \end{cases}",
            "Hold the lr at a fraction of itself for the first steps, then at full value.",
            lambda t, lr0, p: np.where(t < p["total_iters"], lr0 * p["factor"], lr0),
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
        ),
        ScheduleDef(
            "ExponentialLR",
            (Param("gamma", REQUIRED, FLOAT_POS, "lr multiplier per step, e.g. 0.99"),),
            r"\eta_t = \eta_0\,\gamma^{t}",
            "Multiply the lr by gamma at every step.",
            lambda t, lr0, p: lr0 * p["gamma"] ** t,
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
        ),
        ScheduleDef(
            "CosineAnnealingLR",
            (Param("T_max", REQUIRED, INT_POS, "steps from eta_0 down to eta_min"), ETA_MIN),
            r"\eta_t = \eta_{\min} + \tfrac12 (\eta_0 - \eta_{\min})"
            r" \left(1 + \cos \frac{\pi t}{T_{\max}}\right)",
            "Follow a cosine from the lr down to eta_min in T_max steps (and back up after).",
            lambda t, lr0, p: (
                p["eta_min"] + (lr0 - p["eta_min"]) * (1 + np.cos(np.pi * t / p["T_max"])) / 2
            ),
        ),
        ScheduleDef(
            "CosineAnnealingWarmRestarts",
            (
                Param("T_0", REQUIRED, INT_POS, "steps until the first restart, e.g. 100"),
                Param("T_mult", 1, INT_POS, "each period is T_mult times the previous one"),
                ETA_MIN,
            ),
            r"\eta_t = \eta_{\min} + \tfrac12 (\eta_0 - \eta_{\min})"
            r" \left(1 + \cos \frac{\pi T_{cur}}{T_i}\right),\ T_i = T_0 T_{mult}^{\,i}"
            r" \text{ in period } i,\ T_{cur} = t - \textstyle\sum_{j < i} T_j",
            "Cosine annealing that jumps back to the full lr at each restart (SGDR).",
            _cyclic.warm_restarts_lr,
        ),
        ScheduleDef(
            "CyclicLR",
            (
                Param("base_lr", REQUIRED, FLOAT_POS, "lowest lr; the cycle starts here"),
                Param("max_lr", REQUIRED, FLOAT_POS, "highest lr, reached mid-cycle"),
                Param("step_size_up", 2000, INT_POS, "steps of the rising half"),
                Param("step_size_down", None, INT_POS, "steps of the falling half (None: up)"),
                Param("mode", "triangular", Options(("triangular", "triangular2", "exp_range"))),
                Param("gamma", 1.0, FACTOR, "exp_range: amplitude times gamma**t"),
                CYCLE_MOMENTUM,
                Param("base_momentum", 0.8, UNIT_OPEN_RIGHT, "momentum at the lr peak"),
                Param("max_momentum", 0.9, UNIT_OPEN_RIGHT, "momentum at the cycle start"),
            ),
            r"\eta_t = \text{base\_lr} + (\text{max\_lr} - \text{base\_lr})\,h_t s_t,\ \mu_t ="
            r" \text{max\_mom} - (\text{max\_mom} - \text{base\_mom})\,h_t s_t,\ h_t ="
            r" \begin{cases} x / r & x \le r \\ (1 - x)/(1 - r) & x > r \end{cases},"
            r"\ x = \tfrac{t}{u + d} \bmod 1,\ r = \tfrac{u}{u + d},\ s_t = 1,\ 2^{-\lfloor t"
            r" / (u + d) \rfloor} \text{ or } \gamma^t",
            "Bounce the lr between base_lr and max_lr in triangles (the optimizer's lr is unused).",
            _cyclic.cyclic_lr,
            momentum_fn=_cyclic.cyclic_momentum,
            check=_cyclic.check_cyclic,
        ),
        ScheduleDef(
            "OneCycleLR",
            (
                Param("max_lr", REQUIRED, FLOAT_POS, "peak lr"),
                Param("total_steps", REQUIRED, INT_POS, "length of the cycle in steps"),
                Param("pct_start", 0.3, UNIT_OPEN, "fraction of the cycle spent warming up"),
                Param("anneal_strategy", "cos", Options(("cos", "linear"))),
                CYCLE_MOMENTUM,
                Param("base_momentum", 0.85, UNIT_OPEN_RIGHT, "momentum at the lr peak"),
                Param("max_momentum", 0.95, UNIT_OPEN_RIGHT, "momentum at start and end"),
                Param("div_factor", 25.0, Interval(1.0, math.inf), "start lr = max_lr / this"),
                Param("final_div_factor", 1e4, Interval(1.0, math.inf), "end lr = start / this"),
                Param("three_phase", False, BOOL, "warm up, cool down symmetrically, then anneal"),
            ),
            r"\eta_t = a\!\left(\eta^{(k)}, \eta^{(k+1)}, \tfrac{t - t_k}{t_{k+1} - t_k}\right)"
            r" \text{ for } t_k < t \le t_{k+1},\ a(s, e, x) = e + \tfrac12 (s - e)(1 + \cos\pi x)"
            r" \text{ or } s + (e - s)x,\ \eta^{(k)}: \tfrac{\text{max\_lr}}{\text{div\_factor}}"
            r" \to \text{max\_lr} \to \tfrac{\text{max\_lr}}{\text{div\_factor}\cdot"
            r"\text{final\_div\_factor}},\ \mu^{(k)}: \text{max\_mom} \to \text{base\_mom} \to"
            r" \text{max\_mom},\ t_1 = \text{pct\_start} \cdot \text{total\_steps} - 1",
            "Warm up to max_lr, then anneal far below the start: the 1cycle policy.",
            _cyclic.onecycle_lr,
            momentum_fn=_cyclic.onecycle_momentum,
            check=_cyclic.check_onecycle,
        ),
        ScheduleDef(
            "SequentialLR",
            (
                Param("schedulers", REQUIRED, ScheduleList(), "the phases"),
                Param("milestones", REQUIRED, Sequence(INT_POS), "steps where the next starts"),
            ),
            r"\eta_t = \eta^{(k)}_{t - m_k},\ k = \#\{i \ge 1 : m_i \le t\},\ m_0 = 0",
            "Run one schedule after another; each starts afresh at its milestone.",
            lambda t, lr0, p: sequential_lr(t, lr0, p, SCHEDULES),
            check=lambda p: check_sequential(p, _child_params),
        ),
        ScheduleDef(
            "ReduceLROnPlateau",
            _plateau.PARAMS,
            r"\eta_{t+1} = \begin{cases} \max(\text{factor}\cdot\eta_t, \text{min\_lr}) &"
            r" \text{patience} + 1 \text{ steps without improvement} \\ \eta_t &"
            r" \text{otherwise} \end{cases}",
            "Cut the lr by factor when the loss has stopped improving for patience steps.",
            _constant,
            check=_plateau.check,
        ),
        ScheduleDef(
            "InverseTimeLR",
            (
                Param("decay_rate", 0.01, FLOAT_NONNEG, "lr is halved at t = decay_steps / this"),
                Param("decay_steps", 1, INT_POS, "steps per unit of decay"),
                Param("staircase", False, BOOL, "decay in whole units of decay_steps"),
            ),
            r"\eta_t = \frac{\eta_0}{1 + \text{decay\_rate} \cdot t / \text{decay\_steps}}"
            r"\ (\text{staircase: } \lfloor t / \text{decay\_steps} \rfloor)",
            "Decay the lr like 1/t (torch's LambdaLR with this factor; Keras InverseTimeDecay).",
            _inverse_time,
        ),
    )
}


def _child_params(name: str, values: dict) -> dict:
    return validated_params(SCHEDULES[name], values)
