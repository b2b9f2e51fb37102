"""Numba helpers shared by every (surface, optimizer) pair's kernels (see ``_pair_kernels``)."""

import numpy as np
from numba import njit
from numba.extending import register_jitable

from common.xmath import sqrt

# Plateau table layout (see ``plateau_table``) and the state the kernel keeps for it.
P_MODE_MAX, P_FACTOR, P_PATIENCE, P_THRESHOLD, P_ABS, P_COOLDOWN, P_MIN_LR, P_EPS = range(8)


@njit(cache=True, nogil=True, error_model="numpy")
def _plateau_step(metric, lr, state, table):
    """torch's ReduceLROnPlateau.step(metric); ``state`` = [best, bad_epochs, cooldown_left]."""
    best = state[0]
    maximize = table[P_MODE_MAX] != 0.0
    sign = -1.0 if maximize else 1.0
    if table[P_ABS] != 0.0:
        better = sign * metric < sign * best - table[P_THRESHOLD]
    else:
        better = sign * metric < sign * best * (1.0 - sign * table[P_THRESHOLD])
    if better:
        state[0] = metric
        state[1] = 0.0
    else:
        state[1] += 1.0
    if state[2] > 0.0:
        state[2] -= 1.0
        state[1] = 0.0
    if state[1] > table[P_PATIENCE]:
        new_lr = max(lr * table[P_FACTOR], table[P_MIN_LR])
        if lr - new_lr > table[P_EPS]:
            lr = new_lr
        state[2] = table[P_COOLDOWN]
        state[1] = 0.0
    return lr


def plateau_start(runs: int, table: np.ndarray) -> np.ndarray:
    """The (runs, 3) plateau state before the first step: best = +inf (min) or -inf (max)."""
    state = np.zeros((runs, 3))
    state[:, 0] = -np.inf if table[P_MODE_MAX] != 0.0 else np.inf
    return state


@njit(cache=True, nogil=True, error_model="numpy")
def plateau_steps(metrics, lrs, states, table):
    """``_plateau_step`` for many runs (the torch engine's plateau, one call per step):
    ``lrs`` and ``states`` (runs, 3) are updated in place."""
    for r in range(metrics.shape[0]):
        lrs[r] = _plateau_step(metrics[r], lrs[r], states[r], table)


@register_jitable(inline="always")
def _may_converge(gx, gy, tol):
    """The batch block loop's cheap half of ``trajectory.still``: true wherever ``still`` is
    (tests/test_stop_rules.py holds it to that), from the gradient alone."""
    return (tol > 0.0) & (max(abs(gx), abs(gy)) <= tol)


@register_jitable(inline="always")
def ascent_point(x, y, gx, gy, rho):
    r"""SAM's ascent point :math:`\theta + \hat\epsilon`, :math:`\hat\epsilon = \rho\, g /
    \lVert g \rVert_2` over (x, y) (Foret et al. 2021, Algorithm 1; see ``RunSpec.sam_rho``).

    Floats (inlined into the kernels) or tensors (the torch engine, ``rho`` a float or one per
    run). ``‖g‖ = 0`` only where g = 0 (bar underflow), so dividing by 1 there gives
    :math:`\hat\epsilon = 0` without a branch; a non-finite g gives a non-finite point, which
    the step carries into a divergence as it would without SAM.
    """
    norm = sqrt(gx * gx + gy * gy)
    scale = rho / (norm + (norm == 0.0))
    return x + scale * gx, y + scale * gy


@njit(cache=True, nogil=True, error_model="numpy")
def _fill_nan(pos, loss, lr_used, eff, k):
    pos[k:] = np.nan
    loss[k:] = np.nan
    lr_used[k:] = np.nan
    eff[k:] = np.nan


@njit(cache=True, nogil=True, error_model="numpy")
def _hold(pos, loss, lr_used, eff, k):
    pos[k + 1 :] = pos[k]
    loss[k + 1 :] = loss[k]
    lr_used[k:] = np.nan
    eff[k:] = np.nan
