"""Every registered surface, checked from its table entry: gradient, minima, Numba, batching."""

import math
import re

import numba
import numpy as np
import pytest
import torch

from common.params import Interval
from landscapes import SURFACES, get_surface, surface_args
from landscapes.surfaces import _ALL
from tests.torch_source import evaluate_torch_source

ALL = list(SURFACES.values())
IDS = list(SURFACES)


def _param_cases():
    """Default parameters for every surface, plus each finite end of each parameter's range."""
    cases = [pytest.param(s, surface_args(s), id=s.name) for s in ALL]
    for s in ALL:
        for p in s.params:
            if not isinstance(p.constraint, Interval):
                continue
            for end in (p.constraint.low, p.constraint.high):
                if math.isfinite(end) and p.constraint.contains(end):
                    args = surface_args(s, **{p.name: end})
                    cases.append(pytest.param(s, args, id=f"{s.name}-{p.name}={end:g}"))
    return cases


PARAM_CASES = _param_cases()


def _points(surface, n, seed):
    rng = np.random.default_rng(seed)
    (x0, x1), (y0, y1) = surface.domain
    return rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)


def _tol(f_min):
    return 1e-9 * max(1.0, abs(f_min))


@pytest.mark.parametrize(("surface", "args"), PARAM_CASES)
def test_gradient_matches_autograd(surface, args):
    # Uniform samples never land exactly on Ackley's origin, the one point where autograd of
    # sqrt gives NaN (the hand gradient is finite there, see the Ackley test below).
    xs, ys = _points(surface, 64, seed=1)
    x = torch.tensor(xs, dtype=torch.float64, requires_grad=True)
    y = torch.tensor(ys, dtype=torch.float64, requires_grad=True)
    auto = torch.autograd.grad(surface.f(x, y, args).sum(), (x, y))
    hand = surface.grad(x.detach(), y.detach(), args)
    scale = 1.0 + max(float(g.abs().max()) for g in auto)
    for h, a in zip(hand, auto, strict=True):
        torch.testing.assert_close(h, a, rtol=1e-9, atol=1e-12 * scale)


@pytest.mark.parametrize(("surface", "args"), PARAM_CASES)
def test_global_minima_have_f_min_and_zero_gradient(surface, args):
    # Run for every parameter case too: the registry promises minima that do not move with them.
    assert (surface.f_min == -math.inf) == (surface.minima == ())
    for x, y in surface.minima:
        assert abs(surface.f(x, y, args) - surface.f_min) <= _tol(surface.f_min)
        gx, gy = surface.grad(x, y, args)
        assert math.hypot(gx, gy) <= 1e-9 * max(1.0, abs(surface.f_min))


@pytest.mark.parametrize(("surface", "args"), PARAM_CASES)
def test_no_sample_beats_f_min(surface, args):
    xs, ys = _points(surface, 4096, seed=2)
    values = surface.f(xs, ys, args)
    assert values.shape == xs.shape
    assert np.all(values >= surface.f_min - _tol(surface.f_min))


@pytest.mark.parametrize("surface", [s for s in ALL if s.local_minima], ids=lambda s: s.name)
def test_local_minima_are_strict_and_above_f_min(surface):
    args = surface_args(surface)
    angles = np.linspace(0.0, 2.0 * np.pi, 8, endpoint=False)
    for x, y in surface.local_minima:
        value = surface.f(x, y, args)
        assert value > surface.f_min + 1e-3 * max(1.0, abs(surface.f_min))
        gx, gy = surface.grad(x, y, args)
        assert math.hypot(gx, gy) <= 1e-9 * max(1.0, abs(value))
        ring = surface.f(x + 1e-4 * np.cos(angles), y + 1e-4 * np.sin(angles), args)
        assert np.all(ring > value)


@pytest.mark.parametrize(("surface", "args"), PARAM_CASES)
def test_numba_compiles_and_agrees(surface, args):
    f_jit = numba.njit(surface.f)
    grad_jit = numba.njit(surface.grad)
    a = np.array(args, dtype=np.float64)
    xs, ys = _points(surface, 16, seed=3)
    for x, y in zip(xs.tolist(), ys.tolist(), strict=True):
        expected_f = surface.f(x, y, args)
        assert f_jit(x, y, a) == pytest.approx(expected_f, rel=1e-12, abs=1e-12)
        expected_g = surface.grad(x, y, args)
        scale = 1.0 + max(abs(g) for g in expected_g)
        assert grad_jit(x, y, a) == pytest.approx(expected_g, rel=1e-12, abs=1e-13 * scale)


def test_ackley_gradient_is_finite_at_and_near_the_origin():
    ackley = get_surface("ackley")
    assert ackley.grad(0.0, 0.0, ()) == (0.0, 0.0)
    assert numba.njit(ackley.grad)(0.0, 0.0, np.zeros(0)) == (0.0, 0.0)
    for dtype in (torch.float64, torch.float32):
        # 1e-25 squares to 0 in float32, 1e-160 in float64: the norm must not underflow.
        x = torch.tensor([0.0, 1e-6, 1e-25, -1e-160], dtype=dtype)
        y = torch.tensor([0.0, 2e-6, -1e-25, 0.0], dtype=dtype)
        gx, gy = ackley.grad(x, y, ())
        slope = torch.hypot(gx, gy)
        assert slope[0] == 0.0 and slope[3] <= 3.0
        # Near the origin the cone's slope is 2 sqrt(2) e^{-0.2 r}, up to the ripples.
        expected = torch.full_like(slope[1:3], 8.0**0.5)
        torch.testing.assert_close(slope[1:3], expected, rtol=1e-3, atol=0)


@pytest.mark.parametrize("surface", ALL, ids=IDS)
def test_registry_entry_is_well_formed(surface):
    (x0, x1), (y0, y1) = surface.domain
    assert x0 < x1 and y0 < y1
    assert 1 <= len(surface.starts) <= 4
    for x, y in surface.starts + surface.minima + surface.local_minima:
        assert x0 <= x <= x1 and y0 <= y <= y1
    assert re.fullmatch(r"[a-z][a-z0-9_]*", surface.name)
    assert SURFACES[surface.name] is surface
    assert surface.title and surface.formula
    assert re.fullmatch(r"[A-Z][^.!?]*(\.\d[^.!?]*)*\.", surface.lesson), surface.lesson


@pytest.mark.parametrize(("surface", "args"), PARAM_CASES)
def test_f_is_finite_where_it_claims_to_be(surface, args):
    # The batch kernel skips evaluating f at every step where f cannot overflow in the box.
    r = surface.finite_within
    assert r > 0
    edge = np.concatenate([-np.geomspace(r, 1e-3, 300), [0.0], np.geomspace(1e-3, r, 300)])
    x, y = (v.ravel() for v in np.meshgrid(edge, edge))
    rng = np.random.default_rng(0)
    x, y = (
        np.concatenate([x, rng.uniform(-r, r, 20_000)]),
        np.concatenate([y, rng.uniform(-r, r, 20_000)]),
    )
    with np.errstate(all="ignore"):
        values = np.asarray(surface.f(x, y, args)) + 0 * x
    assert np.isfinite(values).all(), (x[~np.isfinite(values)][:3], y[~np.isfinite(values)][:3])


def test_names_are_unique():
    names = [s.name for s in _ALL]
    assert len(names) == len(set(names)) == len(SURFACES)


def test_unknown_surface_is_rejected_with_its_name():
    with pytest.raises(ValueError, match=r"'nope'.*rosenbrock"):
        get_surface("nope")


@pytest.mark.parametrize("bad", [0, -1, math.nan])
def test_bowl_rejects_bad_kappa(bad):
    with pytest.raises(ValueError, match="'kappa'"):
        surface_args(get_surface("bowl"), kappa=bad)


@pytest.mark.parametrize("surface", [s for s in ALL if s.params], ids=lambda s: s.name)
def test_every_parameter_rejects_its_invalid_example(surface):
    assert surface_args(surface) == tuple(float(p.default) for p in surface.params)
    for p in surface.params:
        with pytest.raises(ValueError, match=f"'{p.name}'"):
            surface_args(surface, **{p.name: p.constraint.invalid_example()})
    with pytest.raises(ValueError, match="'nope'"):
        surface_args(surface, nope=1.0)


def test_surface_args_returns_values_in_table_order():
    assert surface_args(get_surface("bowl"), kappa=100) == (100.0,)
    assert surface_args(get_surface("rosenbrock")) == ()


@pytest.mark.parametrize("surface", ALL, ids=IDS)
@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("shape", [(7,), (3, 5)], ids=["batch", "grid"])
def test_batched_inputs_keep_their_shape(surface, backend, shape):
    xs, ys = (v.reshape(shape) for v in _points(surface, math.prod(shape), seed=4))
    if backend == "torch":
        xs, ys = torch.from_numpy(xs), torch.from_numpy(ys)
    args = surface_args(surface)
    outputs = (surface.f(xs, ys, args), *surface.grad(xs, ys, args))
    for out in outputs:
        assert isinstance(out, type(xs))
        assert out.shape == shape
        assert out.dtype == xs.dtype


@pytest.mark.parametrize(("surface", "args"), PARAM_CASES)
def test_torch_source_is_whitelisted_and_gives_f(surface, args):
    names = [p.name for p in surface.params]
    xs, ys = _points(surface, 64, seed=6)
    params = dict(zip(names, args, strict=True))
    got = evaluate_torch_source(surface.torch, torch.tensor(xs), torch.tensor(ys), params)
    np.testing.assert_allclose(got.numpy(), surface.f(xs, ys, args), rtol=1e-12, atol=1e-12)


def test_every_surface_carries_its_torch_source_and_no_kernel_data():
    for surface in ALL:
        assert surface.torch and surface.name.isidentifier(), surface.name
        assert surface.kernel_data.size == 0, surface.name
