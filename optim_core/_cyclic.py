"""The math of the schedules that cycle: CosineAnnealingWarmRestarts, CyclicLR, OneCycleLR.

CyclicLR and OneCycleLR ignore the optimizer's lr and, with ``cycle_momentum``, move the
momentum (SGD) or ``betas[0]`` (Adam) opposite to the lr, starting at ``max_momentum``. None of
the three is recursive in torch, so these functions repeat torch's ``get_lr`` expressions in
the same order and agree with it bit for bit. Parameters arrive validated (``schedules.py``).
"""

import numpy as np


def bad_value(owner: str, name: str, allowed: str, value) -> ValueError:
    """A cross-parameter error in the one message template of ``common.params``."""
    return ValueError(f"{owner}: {name!r} must be {allowed}; got {value!r}")


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
