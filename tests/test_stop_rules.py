"""The stop rules (``optim_core.trajectory``): one definition, the same decision everywhere.

Compiled by Numba, on floats and on torch tensors; the batch block loop's cheap test held to
it; and the kernels and engines stopping exactly where the rules say: an iterate exactly on the
divergence box's edge is inside, the next float beyond it is out, |g| exactly tol converges,
and tol = 0 never converges, not even where the gradient is exactly zero.
"""

import math

import numpy as np
import pytest
import torch
from numba import njit

from optim_core.engines import numba_engine, torch_engine
from optim_core.engines._kernels import _may_converge
from optim_core.spec import RunSpec
from optim_core.trajectory import (
    CONVERGED,
    DIVERGED,
    MAX_STEPS,
    STOP_TOL_EPS,
    inside,
    still,
    stop_tolerance,
)


@njit
def _compiled(x, y, loss, bound, cx, cy, gx, gy, dx, dy, tol):
    return inside(x, y, loss, bound, cx, cy), still(gx, gy, dx, dy, tol), _may_converge(gx, gy, tol)


def rule_points(n=4000, seed=0):
    """Random points with a share of exact edges, NaN, inf and values exactly at tol."""
    rng = np.random.default_rng(seed)
    bound, cx, cy, tol = 400.0, 1.5, -2.0, 1e-6
    cols = {
        k: rng.normal(0, 1, n) * 10 ** rng.uniform(-8, 3, n)
        for k in ["x", "y", "gx", "gy", "dx", "dy", "loss"]
    }
    cols["x"], cols["y"] = cx + cols.pop("x") * 300, cy + cols.pop("y") * 300
    specials = {
        "x": [cx + bound, cx - bound, np.nextafter(cx + bound, np.inf), np.nan, np.inf],
        "y": [cy + bound, cy - bound, np.nextafter(cy - bound, -np.inf), np.nan, -np.inf],
        "gx": [tol, -tol, np.nextafter(tol, 1.0), 0.0, np.nan],
        "gy": [tol, 0.0, -tol, np.nextafter(-tol, -1.0), np.inf],
        "dx": [tol, -tol, 0.0, np.nextafter(tol, 1.0), np.nan],
        "dy": [0.0, tol, np.inf, -tol, np.nextafter(tol, 1.0)],
        "loss": [0.0, np.inf, -np.inf, np.nan, 1e308],
    }
    for k, values in specials.items():
        idx = rng.integers(0, n, n // 3)
        cols[k][idx] = rng.choice(values, len(idx))
    return cols, (bound, cx, cy, tol)


@pytest.mark.parametrize("tol_kind", ["tol", "zero"])
def test_rules_decide_the_same_compiled_on_floats_and_on_tensors(tol_kind):
    c, (bound, cx, cy, tol) = rule_points()
    tol = tol if tol_kind == "tol" else 0.0
    args = lambda i: (c["x"][i], c["y"][i], c["loss"][i], bound, cx, cy)  # noqa: E731
    steps = lambda i: (c["gx"][i], c["gy"][i], c["dx"][i], c["dy"][i], tol)  # noqa: E731
    compiled = np.array([_compiled(*args(i), *steps(i)) for i in range(len(c["x"]))])
    plain = np.array([(inside(*args(i)), still(*steps(i))) for i in range(len(c["x"]))])
    t = {k: torch.from_numpy(v) for k, v in c.items()}
    tensors = np.column_stack([
        inside(t["x"], t["y"], t["loss"], bound, cx, cy).numpy(),
        still(t["gx"], t["gy"], t["dx"], t["dy"], tol).numpy(),
    ])  # fmt: skip
    np.testing.assert_array_equal(compiled[:, :2], plain)
    np.testing.assert_array_equal(compiled[:, :2], tensors)
    # The batch block loop's cheap test must fire wherever the rule stops a run.
    assert not (compiled[:, 1] & ~compiled[:, 2]).any()
    # Both outcomes occur, so the comparison above is not vacuous.
    assert compiled[:, 0].any() and (~compiled[:, 0]).any()
    assert compiled[:, 1].any() == (tol > 0)


def test_rules_at_the_exact_edges():
    bound = 400.0
    edge, beyond = bound, np.nextafter(bound, np.inf)
    assert inside(edge, -edge, 0.0, bound, 0.0, 0.0)
    assert not inside(beyond, 0.0, 0.0, bound, 0.0, 0.0)
    assert not inside(0.0, 0.0, math.inf, bound, 0.0, 0.0)
    assert not inside(math.nan, 0.0, 0.0, bound, 0.0, 0.0)
    assert still(1e-6, -1e-6, 1e-6, 0.0, 1e-6)
    assert not still(np.nextafter(1e-6, 1.0), 0.0, 0.0, 0.0, 1e-6)
    assert not still(0.0, 0.0, 0.0, 0.0, 0.0)


def test_stop_tolerance_is_tol_above_the_dtype_floor():
    assert stop_tolerance(0.0, torch.float32, 10.0) == 0.0
    assert stop_tolerance(1e-6, np.float64, 10.0) == 1e-6
    assert stop_tolerance(1e-6, torch.float64, 10.0) == 1e-6
    floor32 = STOP_TOL_EPS * float(np.finfo(np.float32).eps) * 10.0
    assert stop_tolerance(1e-6, torch.float32, 10.0) == floor32
    assert stop_tolerance(1.0, torch.float32, 10.0) == 1.0


# ---- the kernels and engines ---------------------------------------------------------------

# Bowl with kappa 1: span 4, so the box is |x|, |y| <= 400. SGD with lr 3 maps x to -2x exactly.
BOX = 400.0
FLIP = RunSpec.from_dict(
    {"surface": "bowl", "optimizer": "SGD", "hyperparameters": {"lr": 3.0},
     "surface_params": {"kappa": 1.0}, "steps": 3}
)  # fmt: skip


def ends(spec: RunSpec, start) -> dict:
    """(status, stop step) of one start through every engine and batch path."""
    s = spec.with_(start=tuple(map(float, start)))
    starts = np.array([start, start, (0.5, 0.5)], dtype=np.float64)
    out = {"run": numba_engine.run(s), "run_many": numba_engine.run_many([s, s])[1]}
    out = {k: (t.status, t.stop_step) for k, t in out.items()}
    for block in (1, 256):
        b = numba_engine.run_starts(s, starts, block=block)
        out[f"run_starts/{block}"] = (int(b.status[1]), int(b.stop_step[1]))
    b = numba_engine.run_settings([s, s.with_(start=(0.5, 0.5))])
    out["run_settings"] = (int(b.status[0]), int(b.stop_step[0]))
    t = torch_engine.run(s, device="cpu")
    out["torch"] = (t.status, t.stop_step)
    b = torch_engine.run_starts(s, starts, device="cpu")
    out["torch/run_starts"] = (int(b.status[1]), int(b.stop_step[1]))
    return out


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        ((-BOX / 2, 0.0), (DIVERGED, 2)),  # step 1 lands exactly on x = 400: inside
        ((-np.nextafter(BOX / 2, np.inf), 0.0), (DIVERGED, 1)),  # step 1 lands just beyond
        ((0.0, BOX / 2), (DIVERGED, 2)),
        ((BOX, -BOX), (DIVERGED, 1)),  # the start on the corner is inside
        ((np.nextafter(BOX, np.inf), 0.0), (DIVERGED, 0)),  # a start just beyond is not
    ],
)
def test_an_iterate_on_the_box_edge_is_inside(start, expected):
    got = ends(FLIP, start)
    assert set(got.values()) == {expected}, got


# SGD with lr 0.5 on the bowl from x = tol: |g| = tol and the step tol / 2, converged at step 1.
TOL = 2.0**-10
HALVE = FLIP.with_(hyperparameters={"lr": 0.5}, tol=TOL, steps=5)


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        ((TOL, 0.0), (CONVERGED, 1)),
        ((0.0, -TOL), (CONVERGED, 1)),
        ((np.nextafter(TOL, 1.0), 0.0), (CONVERGED, 2)),
        ((2 * TOL, TOL), (CONVERGED, 2)),
    ],
)
def test_a_gradient_of_exactly_tol_converges(start, expected):
    got = ends(HALVE, start)
    assert set(got.values()) == {expected}, got


def test_tol_zero_never_converges_even_at_a_zero_gradient():
    at_minimum = FLIP.with_(hyperparameters={"lr": 0.1}, tol=0.0, steps=20)
    got = ends(at_minimum, (0.0, 0.0))
    assert set(got.values()) == {(MAX_STEPS, 20)}, got
    t = torch_engine.run(at_minimum.with_(start=(0.0, 0.0)), device="cpu", dtype=torch.float32)
    assert (t.status, t.stop_step) == (MAX_STEPS, 20)
    b = torch_engine.run_settings([at_minimum.with_(start=(0.0, 0.0))] * 2, device="cpu")
    assert (b.status == MAX_STEPS).all()
