"""Numba helpers shared by every (surface, optimizer) pair's kernels (see ``_pair_kernels``)."""

import numpy as np
from numba import njit

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


@njit(cache=True, nogil=True, error_model="numpy")
def _diverged(x, y, value, center, bound):
    # Written so that NaN fails every comparison and counts as diverged.
    inside = abs(x - center[0]) <= bound and abs(y - center[1]) <= bound
    return not (inside and abs(value) < np.inf)


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
