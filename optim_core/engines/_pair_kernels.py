"""The kernels of one (surface, optimizer) pair: arrays and scalars in, arrays out.

This file is a template. ``codegen.pair_module`` writes a copy per pair with the bindings
block below rewritten, so ``f``, ``grad`` and ``update`` are module globals: Numba then
compiles them into the kernels, and its file-based ``cache=True`` works across processes,
which it does not for functions passed as arguments. As it stands the file is the
Rosenbrock / Adam pair, so it imports, lints and runs like any module.

A pair compiled with ``SAM = 1`` steps with sharpness-aware minimisation around the optimizer
(``RunSpec.sam_rho``, radius ``rho`` per run; a run with ``rho = 0`` steps as without it);
with ``SAM = 0`` that branch is compiled out, so plain runs pay nothing for it.

Kernels release the GIL (Streamlit runs each browser session in its own thread) and
parallelise with ``prange`` over independent runs only.
"""

import numpy as np
from numba import njit, prange
from numba.np.unsafe.ndarray import to_fixed_tuple

from optim_core.engines._kernels import (
    P_MODE_MAX,
    _fill_nan,
    _hold,
    _may_converge,
    _plateau_step,
    ascent_point,
)
from optim_core.trajectory import CONVERGED, DIVERGED, MAX_STEPS, inside, still

# isort: split
# <bindings>
from landscapes._functions import rosenbrock as _f
from landscapes._functions import rosenbrock_grad as _grad
from optim_core.optimizers.adam import _adam_update as _update

f = njit(cache=True, nogil=True, error_model="numpy")(_f)
grad = njit(cache=True, nogil=True, error_model="numpy")(_grad)
update = njit(cache=True, nogil=True, error_model="numpy")(_update)
N_CONSTANTS = 8
N_SURFACE_PARAMS = 0
CHECK_LOSS = 0
SAM = 0


@njit(cache=True, nogil=True, error_model="numpy", forceinline=True)
def _column(w, i):
    return (
        w[_NOW + 0, i],
        w[_NOW + 1, i],
        w[_NOW + 2, i],
        w[_NOW + 3, i],
        w[_NOW + 4, i],
        w[_NOW + 5, i],
        w[_NOW + 6, i],
        w[_NOW + 7, i],
    )


# </bindings>


@njit(cache=True, nogil=True, error_model="numpy")
def trajectory(a, start, s0, C, lr, noise, rho, plateau, limits, out):
    """One run. ``out`` = (positions, loss, lr_used, effective_lr) is filled; returns (status, k).

    ``C[:, t]`` are the optimizer's per-step constants, ``lr[t]`` the scheduled lr, ``noise[t]``
    the pre-drawn gradient noise (already scaled; zero rows when off), ``rho`` the SAM radius
    (read only where ``SAM``), ``plateau`` a plateau table or an empty array, ``limits`` =
    (tol, bound, center_x, center_y). The stop rules are ``optim_core.trajectory``'s; the
    effective lr is relative to the gradient the update took (SAM's, with SAM).
    """
    pos, loss, lr_used, eff = out
    tol, bound, cx, cy = limits[0], limits[1], limits[2], limits[3]
    steps = lr.shape[0]
    x, y = start[0], start[1]
    sx = (s0[0], s0[1], s0[2])
    sy = sx
    maximize = plateau.size > 0 and plateau[P_MODE_MAX] != 0.0
    pstate = np.array([-np.inf if maximize else np.inf, 0.0, 0.0])
    plateau_lr = lr[0] if steps else 0.0
    pos[0, 0], pos[0, 1] = x, y
    loss[0] = f(x, y, a)
    if not inside(x, y, loss[0], bound, cx, cy):
        # The start itself is out of bounds: keep it (it is what the user chose), stop there.
        _fill_nan(pos, loss, lr_used, eff, 1)
        lr_used[:] = np.nan
        eff[:] = np.nan
        return DIVERGED, 0
    for t in range(steps):
        gx, gy, ux, uy = _gradients(x, y, a, noise[t, 0], noise[t, 1], rho)
        lr_t = plateau_lr if plateau.size else lr[t]
        c = _constants(C, t)
        nx, sx = update(x, ux, sx, lr_t, c)
        ny, sy = update(y, uy, sy, lr_t, c)
        lr_used[t] = lr_t
        eff[t, 0] = -(nx - x) / ux if ux != 0.0 else np.nan
        eff[t, 1] = -(ny - y) / uy if uy != 0.0 else np.nan
        value = f(nx, ny, a)
        pos[t + 1, 0], pos[t + 1, 1], loss[t + 1] = nx, ny, value
        if not inside(nx, ny, value, bound, cx, cy):
            _fill_nan(pos, loss, lr_used, eff, t + 1)
            return DIVERGED, t + 1
        if plateau.size:
            plateau_lr = _plateau_step(loss[t], plateau_lr, pstate, plateau)
        dx, dy = nx - x, ny - y
        x, y = nx, ny
        if still(gx, gy, dx, dy, tol):
            _hold(pos, loss, lr_used, eff, t + 1)
            return CONVERGED, t + 1
    return MAX_STEPS, steps


@njit(cache=True, nogil=True, parallel=True, error_model="numpy")
def batch_paths(a, starts, s0, C, lr, noise, rho, plateau, limits, out):
    """``trajectory`` for many runs at once, each in its own thread; ``s0`` is (runs, 3) and
    ``rho`` (runs,); C, lr, noise have a leading run axis of length 1 (shared) or ``runs``;
    ``out`` too."""
    pos, loss, lr_used, eff = out
    runs = starts.shape[0]
    status = np.empty(runs, np.int8)
    stop = np.empty(runs, np.int64)
    shared_c, shared_lr, shared_noise = C.shape[0] == 1, lr.shape[0] == 1, noise.shape[0] == 1
    for r in prange(runs):
        r = np.int64(r)  # prange's index is unsigned; mixed with 0 it would unify to float
        rc = 0 if shared_c else r
        rl = 0 if shared_lr else r
        rn = 0 if shared_noise else r
        one = (pos[r], loss[r], lr_used[r], eff[r])
        status[r], stop[r] = trajectory(
            a, starts[r], s0[r], C[rc], lr[rl], noise[rn], rho[r], plateau, limits, one
        )
    return status, stop


@njit(cache=True, nogil=True, parallel=True, error_model="numpy")
def batch_final(a, starts, s0, C, lr, noise, rho, limits, block):
    """Where each of many runs ends, without recording paths (basin maps, benchmarks).

    Every run shares the per-step constants ``C[:, t]``, ``lr[t]``, ``noise[t]`` and the SAM
    radius ``rho``. Each thread takes ``block`` runs at a time and steps them ``WIDTH`` at a
    time (see ``_advance_block``).
    """
    runs, steps = starts.shape[0], lr.shape[0]
    final = np.empty((runs, 2))
    final_loss = np.empty(runs)
    status = np.zeros(runs, np.int8)
    stop = np.full(runs, steps, np.int64)
    for b in prange((runs + block - 1) // block):
        for lo in range(b * block, min(b * block + block, runs), WIDTH):
            hi = min(lo + WIDTH, b * block + block, runs)
            work = _advance_block(a, starts, s0, C, lr, noise, rho, limits, lo, hi)
            _collect(a, starts, limits, work, lo, hi, final, final_loss, status, stop)
    return final, final_loss, status, stop


@njit(cache=True, nogil=True, parallel=True, error_model="numpy")
def batch_final_each(a, starts, s0, C, P, at, steps, noise, rho, limits, block):
    """``batch_final`` where every run has its own constants (a search's trials), laid out as
    ``prepare_batch.Settings`` describes: the constants and the lr each a row of ``C`` (rows,
    R) or, where they change with the step, a table ``P[k]`` (R, steps), as ``at``
    (N_CONSTANTS + 1, 2) says; ``noise`` (steps or 1, 2, R); ``s0`` (R, 3), ``rho`` (R,)."""
    runs = starts.shape[0]
    final = np.empty((runs, 2))
    final_loss = np.empty(runs)
    status = np.zeros(runs, np.int8)
    stop = np.full(runs, steps, np.int64)
    for b in prange((runs + block - 1) // block):
        for lo in range(b * block, min(b * block + block, runs), WIDTH):
            hi = min(lo + WIDTH, b * block + block, runs)
            work = _advance_lanes(a, starts, s0, C, P, at, steps, noise, rho, limits, lo, hi)
            _collect(a, starts, limits, work, lo, hi, final, final_loss, status, stop)
    return final, final_loss, status, stop


@njit(cache=True, nogil=True, error_model="numpy")
def _collect(a, starts, limits, work, lo, hi, final, final_loss, status, stop):
    """Runs ``lo:hi``'s ends from their block's work array into the outputs."""
    for i in range(hi - lo):
        r = lo + i
        final[r, 0], final[r, 1] = work[_FX, i], work[_FY, i]
        status[r], stop[r] = int(work[_STATUS, i]), int(work[_STOP, i])
        _settle(a, starts, limits, r, final, final_loss, status, stop)


@njit(cache=True, nogil=True, error_model="numpy")
def _settle(a, starts, limits, r, final, final_loss, status, stop):
    """Run ``r``'s end as ``trajectory`` reports it: a start outside the box diverged at step
    0 and stays there; a last iterate outside it (the block loop never tests the start, and
    tests the loss only where ``CHECK_LOSS``) diverged."""
    bound, cx, cy = limits[1], limits[2], limits[3]
    x0, y0 = starts[r, 0], starts[r, 1]
    if not inside(x0, y0, f(x0, y0, a), bound, cx, cy):
        final[r, 0], final[r, 1] = x0, y0
        status[r], stop[r] = DIVERGED, 0
    final_loss[r] = f(final[r, 0], final[r, 1], a)
    if status[r] == MAX_STEPS and not inside(
        final[r, 0], final[r, 1], final_loss[r], bound, cx, cy
    ):
        status[r] = DIVERGED


@njit(cache=True, nogil=True, error_model="numpy")
def _gradients(x, y, a, ex, ey, rho):
    """(g, the gradient the update takes): ∇f(θ) plus the step's noise (ex, ey), and where
    ``SAM`` the same at SAM's ascent point, else g again. The stop rules read g (see
    ``optim_core.trajectory``), the update reads the other."""
    gx, gy = grad(x, y, a)
    gx += ex
    gy += ey
    if not SAM:
        return gx, gy, gx, gy
    sx, sy = ascent_point(x, y, gx, gy, rho)
    ux, uy = grad(sx, sy, a)
    return gx, gy, ux + ex, uy + ey


@njit(cache=True, nogil=True, error_model="numpy")
def _constants(C, t):
    """Step ``t``'s constants as a tuple: values, not loads, so that stores into the work
    arrays do not make the compiler reload them in every lane (they could alias ``C``)."""
    return to_fixed_tuple(C[:, t], N_CONSTANTS)


@njit(cache=True, nogil=True, error_model="numpy")
def _surface(a):
    """The surface parameters as a tuple, for the same reason as ``_constants``."""
    if N_SURFACE_PARAMS < 0:  # the surface reads ``a`` whole: a custom formula's program
        return a
    return to_fixed_tuple(a, N_SURFACE_PARAMS)


# A block's work array: WIDTH runs, one per column ("lane"), and one row per quantity: the
# positions before and after the step (the rare exact pass below needs both), the optimizer
# state of x and of y, per run its alive flag, stop step, status and final position, and,
# for ``batch_final_each``, each run's constants of the step (the lr last), noise of the step
# and SAM radius. One array with a fixed number of lanes, so that every row is a constant
# distance from every other: LLVM then proves the lane loop free of aliasing and vectorises
# it (with a run-time width, or rows in other arrays, it needs more run-time checks than it
# will emit and leaves the loop scalar: 4-8x slower).
WIDTH = 32
_POS, _PREV, _SX, _SY, _ALIVE, _STOP, _STATUS, _FX, _FY = 0, 2, 4, 7, 10, 11, 12, 13, 14
_NOW = 15
_NOISE = _NOW + N_CONSTANTS + 1
_RHO = _NOISE + 2
_ROWS = _RHO + 1


@njit(cache=True, nogil=True, error_model="numpy")
def _start(w, starts, lo, hi, steps):
    """Fill a block's new work array ``w`` for runs ``lo:hi`` at their starts. Lanes past
    ``hi - lo`` (the last block of a batch) repeat the last run, never alive: every lane
    computes finite numbers, and none of theirs is read. (``w`` is allocated by the caller,
    so that LLVM sees its shape there.)"""
    for i in range(WIDTH):
        r = lo + min(i, hi - lo - 1)
        w[_POS, i], w[_POS + 1, i] = starts[r, 0], starts[r, 1]
        w[_ALIVE, i] = 1.0 if i < hi - lo else 0.0
        w[_STOP, i] = steps


@njit(cache=True, nogil=True, error_model="numpy")
def _advance_block(a, starts, s0, C, lr, noise, rho, limits, lo, hi):
    """Runs ``lo:hi`` (at most WIDTH) of ``batch_final`` as one block, returning its work
    array (rows above).

    Each step is one loop over the lanes, which LLVM vectorises: the update, plus a cheap
    test that is true whenever a run may stop at this step (it left the box, its loss is not
    finite, or its gradient is within ``tol``; the loss is evaluated only for surfaces that
    may overflow inside the box, see ``CHECK_LOSS``). Only at the steps where that test fires
    for some live run does a second, exact pass apply ``trajectory``'s stop rules (so
    results are the same bit for bit); on most steps nothing but the update runs.
    """
    steps = lr.shape[0]
    box = (limits[0], limits[1], limits[2], limits[3])
    params = _surface(a)
    w = np.zeros((_ROWS, WIDTH))
    _start(w, starts, lo, hi, steps)
    for k in range(3):
        w[_SX + k] = s0[k]
        w[_SY + k] = s0[k]
    for t in range(steps):
        c, lr_t, ex, ey = _constants(C, t), lr[t], noise[t, 0], noise[t, 1]
        maybe = 0
        for i in range(WIDTH):
            maybe += _lane_step(w, i, params, c, lr_t, ex, ey, rho, box)
        if maybe:
            _stop_runs(a, w, noise[t].reshape((2, 1)), limits, t)
    _finish(w)
    return w


@njit(cache=True, nogil=True, error_model="numpy")
def _advance_lanes(a, starts, s0, C, P, at, steps, noise, rho, limits, lo, hi):
    """``_advance_block`` for runs ``lo:hi`` of ``batch_final_each``, each lane with its own
    constants, lr, noise and SAM radius (the same stop rules, the same work array).

    The step's constants go into the work array's rows ``_NOW``: a constant that each run
    keeps is copied there once, one that changes with the step at every step; the step's
    noise likewise. Lanes past the block's runs keep the last run's first values."""
    n = hi - lo
    box = (limits[0], limits[1], limits[2], limits[3])
    params = _surface(a)
    w = np.zeros((_ROWS, WIDTH))
    _start(w, starts, lo, hi, steps)
    for i in range(WIDTH):
        r = lo + min(i, n - 1)
        for k in range(3):
            w[_SX + k, i] = s0[r, k]
            w[_SY + k, i] = s0[r, k]
        for k in range(at.shape[0]):
            w[_NOW + k, i] = P[k][r, 0] if at[k, 1] else C[at[k, 0], r]
        w[_NOISE, i], w[_NOISE + 1, i] = noise[0, 0, r], noise[0, 1, r]
        w[_RHO, i] = rho[r]
    noisy = noise.shape[0] > 1
    for t in range(steps):
        if t > 0:
            for k in range(at.shape[0]):
                if at[k, 1]:
                    table = P[k]
                    for i in range(n):
                        w[_NOW + k, i] = table[lo + i, t]
            if noisy:
                w[_NOISE, :n], w[_NOISE + 1, :n] = noise[t, 0, lo:hi], noise[t, 1, lo:hi]
        maybe = 0
        for i in range(WIDTH):
            c, lr_t = _column(w, i), w[_NOW + N_CONSTANTS, i]
            ex, ey = w[_NOISE, i], w[_NOISE + 1, i]
            maybe += _lane_step(w, i, params, c, lr_t, ex, ey, w[_RHO, i], box)
        if maybe:
            _stop_runs(a, w, w[_NOISE : _NOISE + 2], limits, t)
    _finish(w)
    return w


@njit(cache=True, nogil=True, error_model="numpy", forceinline=True)
def _lane_step(w, i, params, c, lr_t, ex, ey, rho, box):
    """Lane ``i`` of a block takes one step: its position and optimizer state in ``w`` move
    on (the position before goes to ``_PREV``); returns the cheap test that is true whenever
    the run may stop here. ``box`` is ``limits`` as a tuple (values: see ``_constants``).

    Inlined by LLVM, not by Numba: Numba's inlining would pass ``w`` into the loop body as a
    new reference, counted up and down in every lane, and those calls keep the loop scalar."""
    tol, bound, cx, cy = box
    x, y = w[_POS, i], w[_POS + 1, i]
    gx, gy, ux, uy = _gradients(x, y, params, ex, ey, rho)
    nx, (s0x, s1x, s2x) = update(x, ux, (w[_SX, i], w[_SX + 1, i], w[_SX + 2, i]), lr_t, c)
    ny, (s0y, s1y, s2y) = update(y, uy, (w[_SY, i], w[_SY + 1, i], w[_SY + 2, i]), lr_t, c)
    w[_SX, i], w[_SX + 1, i], w[_SX + 2, i] = s0x, s1x, s2x
    w[_SY, i], w[_SY + 1, i], w[_SY + 2, i] = s0y, s1y, s2y
    w[_PREV, i], w[_PREV + 1, i] = x, y
    w[_POS, i], w[_POS + 1, i] = nx, ny
    # CHECK_LOSS is a module constant: f is compiled in only where it may overflow.
    value = f(nx, ny, params) if CHECK_LOSS else 0.0
    stops = (not inside(nx, ny, value, bound, cx, cy)) | _may_converge(gx, gy, tol)
    return (w[_ALIVE, i] > 0.0) & stops


@njit(cache=True, nogil=True, error_model="numpy")
def _finish(w):
    """Where each run still alive after the last step ended: its position."""
    for i in range(WIDTH):
        if w[_ALIVE, i] > 0.0:
            w[_FX, i], w[_FY, i] = w[_POS, i], w[_POS + 1, i]


@njit(cache=True, nogil=True, error_model="numpy")
def _stop_runs(a, w, noise_t, limits, t):
    """``trajectory``'s stop rules at step ``t`` for every live run of a block: a run that
    left the box or reached a non-finite loss ends where it was (diverged); one that moved
    and sloped by at most ``tol`` ends where it went (converged). A stopped run's later
    updates are never read. ``noise_t`` (2, 1) is the step's noise of every run, (2, n) each
    run's own."""
    tol, bound, cx, cy = limits[0], limits[1], limits[2], limits[3]
    shared = noise_t.shape[1] == 1
    for i in range(WIDTH):
        if w[_ALIVE, i] == 0.0:
            continue
        j = 0 if shared else i
        x, y, nx, ny = w[_PREV, i], w[_PREV + 1, i], w[_POS, i], w[_POS + 1, i]
        gx, gy = grad(x, y, a)
        gx += noise_t[0, j]
        gy += noise_t[1, j]
        # Without CHECK_LOSS f is finite in the box (and compiling it in slows the block).
        value = f(nx, ny, a) if CHECK_LOSS else 0.0
        if not inside(nx, ny, value, bound, cx, cy):
            w[_STATUS, i], w[_FX, i], w[_FY, i] = DIVERGED, x, y
        elif still(gx, gy, nx - x, ny - y, tol):
            w[_STATUS, i], w[_FX, i], w[_FY, i] = CONVERGED, nx, ny
        else:
            continue
        w[_ALIVE, i], w[_STOP, i] = 0.0, t + 1
