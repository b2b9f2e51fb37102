"""Numba kernels: module level (so ``cache=True`` works), arrays and scalars in, arrays out.

The surface's ``f``/``grad`` and the optimizer's ``update`` arrive as jitted functions; Numba
specialises and inlines them, so one kernel source serves every pairing. Kernels release the
GIL (Streamlit runs each browser session in its own thread) and parallelise with ``prange``
over independent runs only.
"""

import numpy as np
from numba import njit, prange

from ..trajectory import CONVERGED, DIVERGED, MAX_STEPS

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
def trajectory(f, grad, update, a, start, s0, C, lr, noise, plateau, limits, out):
    """One run. ``out`` = (positions, loss, lr_used, effective_lr) is filled; returns (status, k).

    ``C[t]`` are the optimizer's per-step constants, ``lr[t]`` the scheduled lr, ``noise[t]``
    the pre-drawn gradient noise (already scaled; zero rows when off), ``plateau`` a plateau
    table or an empty array, ``limits`` = (tol, bound, center_x, center_y).
    """
    pos, loss, lr_used, eff = out
    tol, bound = limits[0], limits[1]
    center = limits[2:4]
    steps = lr.shape[0]
    x, y = start[0], start[1]
    sx = (s0[0], s0[1], s0[2])
    sy = sx
    maximize = plateau.size > 0 and plateau[P_MODE_MAX] != 0.0
    pstate = np.array([-np.inf if maximize else np.inf, 0.0, 0.0])
    plateau_lr = lr[0] if steps else 0.0
    pos[0, 0], pos[0, 1] = x, y
    loss[0] = f(x, y, a)
    if _diverged(x, y, loss[0], center, bound):
        _fill_nan(pos, loss, lr_used, eff, 0)
        return DIVERGED, 0
    for t in range(steps):
        gx, gy = grad(x, y, a)
        gx += noise[t, 0]
        gy += noise[t, 1]
        lr_t = plateau_lr if plateau.size else lr[t]
        c = C[t]
        nx, sx = update(x, gx, sx, lr_t, c)
        ny, sy = update(y, gy, sy, lr_t, c)
        lr_used[t] = lr_t
        eff[t, 0] = -(nx - x) / gx if gx != 0.0 else np.nan
        eff[t, 1] = -(ny - y) / gy if gy != 0.0 else np.nan
        value = f(nx, ny, a)
        pos[t + 1, 0], pos[t + 1, 1], loss[t + 1] = nx, ny, value
        if _diverged(nx, ny, value, center, bound):
            _fill_nan(pos, loss, lr_used, eff, t + 1)
            return DIVERGED, t + 1
        if plateau.size:
            plateau_lr = _plateau_step(loss[t], plateau_lr, pstate, plateau)
        moved = max(abs(nx - x), abs(ny - y))
        x, y = nx, ny
        if max(abs(gx), abs(gy)) <= tol and moved <= tol:
            _hold(pos, loss, lr_used, eff, t + 1)
            return CONVERGED, t + 1
    return MAX_STEPS, steps


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


@njit(cache=True, nogil=True, parallel=True, error_model="numpy")
def batch_paths(f, grad, update, a, starts, s0, C, lr, noise, plateau, limits, out):
    """``trajectory`` for many runs at once, each in its own thread; C, lr, noise have a
    leading run axis of length 1 (shared) or ``len(starts)``; ``out`` arrays too."""
    pos, loss, lr_used, eff = out
    runs = starts.shape[0]
    status = np.empty(runs, np.int8)
    stop = np.empty(runs, np.int64)
    for r in prange(runs):
        rc, rl, rn = min(r, C.shape[0] - 1), min(r, lr.shape[0] - 1), min(r, noise.shape[0] - 1)
        one = (pos[r], loss[r], lr_used[r], eff[r])
        status[r], stop[r] = trajectory(
            f, grad, update, a, starts[r], s0, C[rc], lr[rl], noise[rn], plateau, limits, one
        )
    return status, stop


@njit(cache=True, nogil=True, parallel=True, error_model="numpy")
def batch_final(f, grad, update, a, starts, s0, C, lr, noise, limits, block):
    """Where each of many runs ends, without recording paths (basin maps, benchmarks).

    Every run shares the per-step constants ``C[t]``, ``lr[t]`` and ``noise[t]``. Runs are
    processed ``block`` at a time per thread (see ``_advance_block``).
    """
    runs, steps = starts.shape[0], lr.shape[0]
    final = np.empty((runs, 2))
    final_loss = np.empty(runs)
    status = np.zeros(runs, np.int8)
    stop = np.full(runs, steps, np.int64)
    for b in prange((runs + block - 1) // block):
        lo = b * block
        hi = min(lo + block, runs)
        work = _advance_block(grad, update, a, starts[lo:hi], s0, C, lr, noise, limits)
        for i in range(hi - lo):
            r = lo + i
            final[r, 0], final[r, 1] = work[_X, i], work[_Y, i]
            status[r], stop[r] = int(work[_STATUS, i]), int(work[_STOP, i])
            final_loss[r] = f(final[r, 0], final[r, 1], a)
            if status[r] == MAX_STEPS and _diverged(final[r, 0], final[r, 1], final_loss[r],
                                                    limits[2:4], limits[1]):  # fmt: skip
                status[r] = DIVERGED
    return final, final_loss, status, stop


# Rows of a block's work array: one array, so the compiler needs no run-time alias checks.
_X, _Y, _SX, _SY, _NX, _NY, _G, _ALIVE, _STOP, _STATUS = 0, 1, 2, 5, 8, 9, 10, 11, 12, 13


@njit(cache=True, nogil=True, error_model="numpy")
def _advance_block(grad, update, a, starts, s0, C, lr, noise, limits):
    """A block of runs, structure of arrays. Each step is two loops over the block: the math,
    then the stop bookkeeping as selects; split, both vectorise (together, neither does)."""
    n, steps = starts.shape[0], lr.shape[0]
    tol, bound, cx, cy = limits[0], limits[1], limits[2], limits[3]
    w = np.zeros((14, n))
    w[_X], w[_Y] = starts[:, 0], starts[:, 1]
    for k in range(3):
        w[_SX + k] = s0[k]
        w[_SY + k] = s0[k]
    w[_ALIVE] = 1.0
    w[_STOP] = steps
    for t in range(steps):
        c, lr_t, ex, ey = C[t], lr[t], noise[t, 0], noise[t, 1]
        for i in range(n):
            gx, gy = grad(w[_X, i], w[_Y, i], a)
            gx += ex
            gy += ey
            nx, (s0x, s1x, s2x) = update(
                w[_X, i], gx, (w[_SX, i], w[_SX + 1, i], w[_SX + 2, i]), lr_t, c
            )
            ny, (s0y, s1y, s2y) = update(
                w[_Y, i], gy, (w[_SY, i], w[_SY + 1, i], w[_SY + 2, i]), lr_t, c
            )
            w[_SX, i], w[_SX + 1, i], w[_SX + 2, i] = s0x, s1x, s2x
            w[_SY, i], w[_SY + 1, i], w[_SY + 2, i] = s0y, s1y, s2y
            w[_NX, i], w[_NY, i], w[_G, i] = nx, ny, max(abs(gx), abs(gy))
        for i in range(n):
            x, y, nx, ny = w[_X, i], w[_Y, i], w[_NX, i], w[_NY, i]
            inside = (abs(nx - cx) <= bound) & (abs(ny - cy) <= bound)
            still = (w[_G, i] <= tol) & (abs(nx - x) <= tol) & (abs(ny - y) <= tol)
            ok = inside * 1.0
            alive = w[_ALIVE, i]
            ends = alive * (1.0 - ok * (1.0 - still * 1.0))
            w[_STOP, i] = ends * (t + 1.0) + (1.0 - ends) * w[_STOP, i]
            w[_STATUS, i] = ends * (2.0 - ok) + (1.0 - ends) * w[_STATUS, i]
            keep = alive * ok
            w[_X, i] = nx if keep > 0.0 else x
            w[_Y, i] = ny if keep > 0.0 else y
            w[_ALIVE, i] = keep * (1.0 - still * 1.0)
    return w
