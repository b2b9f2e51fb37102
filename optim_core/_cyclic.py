"""The schedules that cycle: CosineAnnealingWarmRestarts, CyclicLR, OneCycleLR (registry
entries at the end, with their math above).

CyclicLR and OneCycleLR ignore the optimizer's lr and, with ``cycle_momentum``, move the
momentum (SGD) or ``betas[0]`` (Adam) opposite to the lr, starting at ``max_momentum``. None of
the three is recursive in torch, so these functions repeat torch's ``get_lr`` expressions in
the same order and agree with it bit for bit. Parameters arrive validated (``schedules.py``).
"""

import numpy as np

from common.params import BOOL, FLOAT_POS, UNIT_OPEN_RIGHT, Options, Param, shown

from ._schedule_def import (
    COUNT,
    CYCLE_MOMENTUM,
    DIVISOR,
    ETA_MIN,
    FACTOR,
    REQUIRED,
    UNIT_OPEN,
    ScheduleDef,
)


def bad_value(owner: str, name: str, allowed: str, value) -> ValueError:
    """A cross-parameter error in the one message template of ``common.params``."""
    return ValueError(f"{owner}: {name!r} must be {allowed}; got {shown(value)}")


def check_momenta(owner: str, p: dict) -> None:
    if p["base_momentum"] > p["max_momentum"]:
        raise bad_value(
            owner, "base_momentum", f"<= max_momentum = {p['max_momentum']!r}", p["base_momentum"]
        )


# ---- CosineAnnealingWarmRestarts ---------------------------------------------------------


def warm_restarts_lr(t: np.ndarray, lr0: float, p: dict) -> np.ndarray:
    t0, mult, eta_min = p["T_0"], p["T_mult"], p["eta_min"]
    if mult == 1:
        t_cur, t_i = t % t0, np.full(t.shape, t0)
    else:
        # Restart k starts at T_0 (mult^k - 1) / (mult - 1): few restarts, exact in integers.
        starts = [0]
        while starts[-1] <= (t.max() if t.size else 0):
            starts.append(starts[-1] + t0 * mult ** (len(starts) - 1))
        k = np.searchsorted(starts, t, side="right") - 1
        t_cur, t_i = t - np.array(starts)[k], t0 * mult ** k.astype(np.float64)
    return eta_min + (lr0 - eta_min) * (1 + np.cos(np.pi * t_cur / t_i)) / 2


# ---- CyclicLR -----------------------------------------------------------------------------


def check_cyclic(p: dict) -> dict:
    if p["max_lr"] < p["base_lr"]:
        raise bad_value("CyclicLR", "max_lr", f">= base_lr = {p['base_lr']!r}", p["max_lr"])
    check_momenta("CyclicLR", p)
    if p["step_size_down"] is None:
        return {**p, "step_size_down": p["step_size_up"]}
    return p


def _cyclic_shape(t: np.ndarray, p: dict) -> tuple[np.ndarray, np.ndarray | float]:
    """(triangle height in [0, 1], amplitude scale) at step t."""
    total = float(p["step_size_up"]) + float(p["step_size_down"])
    ratio = p["step_size_up"] / total
    cycle = np.floor(1 + t / total)
    x = 1.0 + t / total - cycle
    height = np.where(x <= ratio, x / ratio, (x - 1) / (ratio - 1))
    # torch ties the scale's argument to the mode (it overrides ``scale_mode`` unless a custom
    # ``scale_fn`` is given): triangular2 halves per cycle, exp_range decays per step.
    if p["mode"] == "triangular":
        return height, 1.0
    if p["mode"] == "triangular2":
        return height, 1 / (2.0 ** (cycle - 1))
    return height, p["gamma"] ** t


def cyclic_lr(t: np.ndarray, lr0: float, p: dict) -> np.ndarray:
    height, scale = _cyclic_shape(t, p)
    return p["base_lr"] + (p["max_lr"] - p["base_lr"]) * height * scale


def cyclic_momentum(t: np.ndarray, p: dict) -> np.ndarray:
    height, scale = _cyclic_shape(t, p)
    return p["max_momentum"] - (p["max_momentum"] - p["base_momentum"]) * height * scale


# ---- OneCycleLR ---------------------------------------------------------------------------


def check_onecycle(p: dict) -> dict:
    n, pct = p["total_steps"], p["pct_start"]
    # torch divides by each phase's length; a phase of length <= 0 raises ZeroDivisionError
    # or silently skips the warm-up, so ask for phases that each span a step.
    if not float(pct * n) - 1 > 0:
        raise bad_value("OneCycleLR", "pct_start", f"> 1 / total_steps = {1 / n:.6g}", pct)
    if p["three_phase"] and not float(2 * pct * n) - 2 < n - 1:
        bound = (n + 1) / (2 * n)
        raise bad_value(
            "OneCycleLR", "pct_start", f"< (total_steps + 1) / (2 total_steps) = {bound:.6g}", pct
        )
    check_momenta("OneCycleLR", p)
    return p


def check_onecycle_steps(p: dict, steps: int) -> None:
    # A training loop steps the scheduler after every optimizer step, and torch's OneCycleLR
    # raises ("Tried to step ... times") once stepped past total_steps.
    if p["total_steps"] < steps:
        allowed = f">= the run's steps = {steps} (torch raises when stepped past it)"
        raise bad_value("OneCycleLR", "total_steps", allowed, p["total_steps"])


def _onecycle_phases(p: dict) -> tuple[np.ndarray, list, list]:
    """Phase end steps and the lr / momentum at each phase boundary, as torch lays them out."""
    n, pct = p["total_steps"], p["pct_start"]
    initial = p["max_lr"] / p["div_factor"]
    final = initial / p["final_div_factor"]
    hi, lo = p["max_momentum"], p["base_momentum"]
    if p["three_phase"]:
        ends = [float(pct * n) - 1, float(2 * pct * n) - 2, n - 1]
        return np.array(ends), [initial, p["max_lr"], initial, final], [hi, lo, hi, hi]
    ends = [float(pct * n) - 1, n - 1]
    return np.array(ends), [initial, p["max_lr"], final], [hi, lo, hi]


def _onecycle_anneal(t: np.ndarray, p: dict, ends: np.ndarray, points: list) -> np.ndarray:
    if t.size and t.max() > p["total_steps"]:
        raise ValueError(
            f"OneCycleLR: step {int(t.max())} is past 'total_steps' = {p['total_steps']} "
            "(torch raises there too); make total_steps at least the number of steps"
        )
    phase = np.searchsorted(ends[:-1], t, side="left")
    starts = np.concatenate(([0.0], ends[:-1]))
    pct = (t - starts[phase]) / (ends[phase] - starts[phase])
    start, end = np.array(points[:-1])[phase], np.array(points[1:])[phase]
    if p["anneal_strategy"] == "cos":
        return end + (start - end) / 2.0 * (np.cos(np.pi * pct) + 1)
    return (end - start) * pct + start


def onecycle_lr(t: np.ndarray, lr0: float, p: dict) -> np.ndarray:
    ends, lrs, _ = _onecycle_phases(p)
    return _onecycle_anneal(t, p, ends, lrs)


def onecycle_momentum(t: np.ndarray, p: dict) -> np.ndarray:
    ends, _, momenta = _onecycle_phases(p)
    return _onecycle_anneal(t, p, ends, momenta)


# ---- registry entries ------------------------------------------------------------------

_OWNS_LR = (
    "it sets its own lr and momentum: in torch its constructor rewrites the optimizer's"
    " initial lr or momentum for every phase, so the result depends on construction order"
)


WARM_RESTARTS = ScheduleDef(
    "CosineAnnealingWarmRestarts",
    (
        Param("T_0", REQUIRED, COUNT, "steps until the first restart, e.g. 100"),
        Param("T_mult", 1, COUNT, "each period is T_mult times the previous one"),
        ETA_MIN,
    ),
    r"\eta_t = \eta_{\min} + \tfrac12 (\eta_0 - \eta_{\min})"
    r" \left(1 + \cos \frac{\pi T_{cur}}{T_i}\right),\ T_i = T_0 T_{mult}^{\,i}"
    r" \text{ in period } i,\ T_{cur} = t - \textstyle\sum_{j < i} T_j",
    "Cosine annealing that jumps back to the full lr at each restart (SGDR).",
    warm_restarts_lr,
    ui_defaults=lambda steps, lr: {"T_0": max(1, steps // 4), "T_mult": 1, "eta_min": 0.0},
)


CYCLIC = ScheduleDef(
    "CyclicLR",
    (
        Param("base_lr", REQUIRED, FLOAT_POS, "lowest lr; the cycle starts here"),
        Param("max_lr", REQUIRED, FLOAT_POS, "highest lr, reached mid-cycle"),
        Param("step_size_up", 2000, COUNT, "steps of the rising half"),
        Param("step_size_down", None, COUNT, "steps of the falling half (None: up)"),
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
    cyclic_lr,
    momentum_fn=cyclic_momentum,
    check=check_cyclic,
    ui_defaults=lambda steps, lr: {
        "base_lr": lr / 5,
        "max_lr": lr * 2,
        "step_size_up": max(1, steps // 8),
    },
    not_a_phase=_OWNS_LR,
    sets_own_lr=True,
)


ONE_CYCLE = ScheduleDef(
    "OneCycleLR",
    (
        Param("max_lr", REQUIRED, FLOAT_POS, "peak lr"),
        Param("total_steps", REQUIRED, COUNT, "length of the cycle in steps"),
        Param("pct_start", 0.3, UNIT_OPEN, "fraction of the cycle spent warming up"),
        Param("anneal_strategy", "cos", Options(("cos", "linear"))),
        CYCLE_MOMENTUM,
        Param("base_momentum", 0.85, UNIT_OPEN_RIGHT, "momentum at the lr peak"),
        Param("max_momentum", 0.95, UNIT_OPEN_RIGHT, "momentum at start and end"),
        Param("div_factor", 25.0, DIVISOR, "start lr = max_lr / this"),
        Param("final_div_factor", 1e4, DIVISOR, "end lr = start / this"),
        Param("three_phase", False, BOOL, "warm up, cool down symmetrically, then anneal"),
    ),
    r"\eta_t = a\!\left(\eta^{(k)}, \eta^{(k+1)}, \tfrac{t - t_k}{t_{k+1} - t_k}\right)"
    r" \text{ for } t_k < t \le t_{k+1},\ a(s, e, x) = e + \tfrac12 (s - e)(1 + \cos\pi x)"
    r" \text{ or } s + (e - s)x,\ \eta^{(k)}: \tfrac{\text{max\_lr}}{\text{div\_factor}}"
    r" \to \text{max\_lr} \to \tfrac{\text{max\_lr}}{\text{div\_factor}\cdot"
    r"\text{final\_div\_factor}},\ \mu^{(k)}: \text{max\_mom} \to \text{base\_mom} \to"
    r" \text{max\_mom},\ t_1 = \text{pct\_start} \cdot \text{total\_steps} - 1",
    "Warm up to max_lr, then anneal far below the start: the 1cycle policy.",
    onecycle_lr,
    momentum_fn=onecycle_momentum,
    check=check_onecycle,
    # 4 steps at least: a 30% warm-up must span a step (check_onecycle)
    ui_defaults=lambda steps, lr: {"max_lr": lr * 2, "total_steps": max(4, steps)},
    steps_check=check_onecycle_steps,
    not_a_phase=_OWNS_LR,
    sets_own_lr=True,
)
