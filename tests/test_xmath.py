"""``common.xmath``'s sin and cos as Numba compiles them (branch-free arithmetic, so that the
batch kernels vectorise) against libm's, which glibc rounds correctly: within 1 ulp wherever
a built-in surface's divergence box lets its arguments go, and the special values."""

import math

import numba
import numpy as np
import pytest

from common import xmath


@numba.njit
def _values(fn_id, x, libm):
    out = np.empty_like(x)
    for i in range(x.size):
        if libm:
            out[i] = math.sin(x[i]) if fn_id == 0 else math.cos(x[i])
        else:
            out[i] = xmath.sin(x[i]) if fn_id == 0 else xmath.cos(x[i])
    return out


def _kernel(fn_id, x):
    return _values(fn_id, x, False)


def _libm(fn_id, x):
    return _values(fn_id, x, True)


def _ulps(got, want):
    return np.abs(got - want) / np.spacing(np.abs(want))


@pytest.mark.parametrize("fn_id", [0, 1], ids=["sin", "cos"])
@pytest.mark.parametrize(("bound", "max_ulps"), [(1.0, 1), (7.0, 1), (1e5, 1), (1.3e8, 2)])
def test_within_an_ulp_of_libm(fn_id, bound, max_ulps):
    rng = np.random.default_rng(int(bound) + fn_id)
    x = rng.uniform(-bound, bound, 400_000)
    # and the doubles nearest the multiples of pi/2, where the reduction cancels most
    k = np.arange(-int(min(bound, 1e5) / 1.5), int(min(bound, 1e5) / 1.5) + 1)
    x = np.concatenate([x, k * (math.pi / 2), np.nextafter(k * (math.pi / 2), np.inf)])
    ulps = _ulps(_kernel(fn_id, x), _libm(fn_id, x))
    worst = int(np.argmax(ulps))
    assert ulps[worst] <= max_ulps, f"x = {x[worst]!r}: {ulps[worst]:.2f} ulps"


def test_the_landscapes_arguments_stay_where_the_kernels_are_exact():
    """The widest argument a built-in surface takes inside its divergence box (x times the
    largest frequency, 6 pi in Levy N.13) is within the 1-ulp range above."""
    from landscapes import SURFACES
    from optim_core.engines.prepare import DIVERGENCE_SPANS

    for surface in SURFACES.values():
        (x0, x1), (y0, y1) = surface.domain
        span = max(x1 - x0, y1 - y0)
        reach = max(abs(x0), abs(x1), abs(y0), abs(y1)) + DIVERGENCE_SPANS * span
        assert 6 * math.pi * reach < 1e5, surface.name


def test_special_values():
    x = np.array([0.0, -0.0, 5e-324, -1e-310, np.inf, -np.inf, np.nan])
    sin, cos = _kernel(0, x), _kernel(1, x)
    np.testing.assert_array_equal(sin[:4], x[:4])
    assert np.signbit(sin[1]) and not np.signbit(sin[0])
    np.testing.assert_array_equal(cos[:4], 1.0)
    assert np.isnan(sin[4:]).all() and np.isnan(cos[4:]).all()


def test_arrays_and_tensors_keep_numpy_and_torch():
    import torch

    x = np.linspace(-10, 10, 101)
    np.testing.assert_array_equal(xmath.sin(x), np.sin(x))
    t = torch.from_numpy(x)
    np.testing.assert_array_equal(xmath.cos(t).numpy(), torch.cos(t).numpy())


@numba.njit
def _sqrt_both(x):
    out = np.empty((2, x.size))
    for i in range(x.size):
        out[0, i], out[1, i] = xmath.sqrt(x[i]), math.sqrt(x[i]) if x[i] >= 0.0 else np.nan
    return out


@numba.njit
def _sqrt_int(n):
    return xmath.sqrt(n)


def test_sqrt_is_libms_bit_for_bit():
    """The kernels' sqrt is LLVM's intrinsic (a loop with libm's call never vectorises): the
    same correctly rounded value, NaN below zero."""
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(0, 10, 10_000), 10.0 ** rng.uniform(-300, 300, 10_000)])
    x = np.concatenate([x, [0.0, -0.0, 5e-324, np.inf, -1.0, -np.inf, np.nan]])
    ours, libm = _sqrt_both(x)
    np.testing.assert_array_equal(ours, libm)
    assert np.signbit(ours[-6]) and _sqrt_int(9) == 3.0


def test_numpy_sqrt_gives_numpys_bits_and_shape():
    """A large contiguous float64 array goes through a compiled loop (numpy's float64 sqrt
    was 3.7x slower): the same bits as ``np.sqrt``, specials included, and the same shape;
    other arrays (small, strided, integer) and scalars go to numpy."""
    rng = np.random.default_rng(1)
    big = 10.0 ** rng.uniform(-300, 300, (64, 100))
    big.flat[:7] = [0.0, -0.0, 5e-324, np.inf, -1.0, -np.inf, np.nan]
    cases = [big, big.T, big[:, ::3], big[:2], np.arange(5000), 2.0, big.reshape(2, 32, 100)]
    for x in cases:
        with np.errstate(invalid="ignore"):
            expected, got = np.sqrt(x), xmath.sqrt(x)
        assert np.shape(got) == np.shape(expected) and np.asarray(got).dtype == expected.dtype
        np.testing.assert_array_equal(np.signbit(got), np.signbit(expected))
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("scale", [1.0, 0.0, 0.25])
def test_one_minus_powers_is_one_minus_scale_times_powers(scale):
    """Adam's bias corrections for a batch of runs, each with its own beta, in one pass: the
    same bits as the three steps it replaces, for numpy columns, scalars and tensors."""
    import torch

    beta = np.random.default_rng(1).uniform(0.5, 0.9999, (64, 1))
    t = np.arange(1.0, 501.0)
    for b, tt in ((beta, t), (0.9, t), (torch.from_numpy(beta), torch.from_numpy(t))):
        got = xmath.one_minus_powers(b, tt, scale)
        want = 1 - scale * xmath.powers(b, tt)
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


@pytest.mark.parametrize("steps", [500, 37, 8, 2])
@pytest.mark.parametrize("scale", [1.0, 0.0, 0.25])
def test_a_batchs_powers_are_each_runs_own_bit_for_bit(scale, steps):
    """A batch's rows of powers (one beta per run) and what Adam's family makes of them, in
    one compiled pass, tiles of steps at a time: each row the same bits as that run's own
    running product and the numpy operations on it (any number of steps, a part tile
    last), for numpy columns; scalars and tensors take the generic path."""
    import torch

    beta = np.random.default_rng(2).uniform(0.5, 0.9999, (40, 1))
    t = np.arange(1.0, steps + 1.0)
    own = np.stack([xmath.powers(float(b), t) for b in beta[:, 0]])
    np.testing.assert_array_equal(xmath.powers(beta, t), own)
    np.testing.assert_array_equal(xmath.one_minus_powers(beta, t, scale), 1 - scale * own)
    inverse = xmath.inverse_one_minus_powers(beta, t, scale)
    root = xmath.inverse_one_minus_powers(beta, t, scale, root=True)
    np.testing.assert_array_equal(inverse, 1 / (1 - scale * own))
    np.testing.assert_array_equal(root, 1 / np.sqrt(1 - scale * own))
    assert inverse.flags.c_contiguous and root.shape == (40, steps)
    for b, tt in ((0.9, t), (torch.from_numpy(beta), torch.from_numpy(t))):
        got = xmath.inverse_one_minus_powers(b, tt, scale, root=True)
        want = 1 / xmath.sqrt(xmath.one_minus_powers(b, tt, scale))
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
