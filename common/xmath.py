"""Array-generic math: one vocabulary for floats in Numba kernels, numpy arrays and torch tensors.

Surfaces and update rules are written once with these functions. Called from Python they
dispatch to torch (tensors, any device, autograd-friendly) or numpy; compiled by Numba they
resolve through ``@overload`` to scalar code that inlines into the kernels: ``math`` calls,
except sqrt, sin and cos, which are written so that a loop over a batch's runs vectorises.
Plain arithmetic (``+ - * / **`` and ``abs``) already works on all three and needs no helper.
"""

import math

import numpy as np
import torch
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload

pi = math.pi


def _is_tensor(x):
    return isinstance(x, torch.Tensor)


def _unary(np_fn, torch_fn, math_fn):
    def fn(x):
        return torch_fn(x) if _is_tensor(x) else np_fn(x)

    @overload(fn, inline="always")
    def _scalar(x):
        if isinstance(x, types.Float | types.Integer):
            return lambda x: math_fn(x)

    return fn


@intrinsic
def _sqrt(typingctx, x):
    """The square root as LLVM's ``llvm.sqrt`` (correctly rounded, NaN below zero, as
    ``math.sqrt``). Numba lowers ``math.sqrt`` to a call of libm's ``sqrt``, which may set
    errno: a loop with that call is never vectorised."""
    if not isinstance(x, types.Float | types.Integer):
        return None

    def codegen(context, builder, signature, args):
        value = context.cast(builder, args[0], signature.args[0], types.float64)
        fn = builder.module.declare_intrinsic("llvm.sqrt", [ir.DoubleType()])
        return builder.call(fn, [value])

    return types.float64(x), codegen


@njit(cache=True, nogil=True, error_model="numpy")
def _sqrt_into(x, out):
    for i in range(x.shape[0]):
        out[i] = _sqrt(x[i])


SQRT_LOOP_SIZE = 4096  # the fewest elements sqrt takes through _sqrt_into


def _numpy_sqrt(x):
    """``np.sqrt``, through a compiled loop for a large contiguous float64 array: numpy 2.4's
    float64 sqrt took ~1 ns an element here, 3.7x the loop's (a batch's per-step tables hold
    ~1e5 of them). Both are correctly rounded: the same bits. Arrays of any other layout,
    type or size go to numpy."""
    large = type(x) is np.ndarray and x.dtype == np.float64 and x.size >= SQRT_LOOP_SIZE
    if large and (x.flags.c_contiguous or x.flags.f_contiguous):  # (then ravel gives views)
        out = np.empty_like(x)  # the same order in memory
        _sqrt_into(x.ravel(order="K"), out.ravel(order="K"))
        return out
    return np.sqrt(x)


sqrt = _unary(_numpy_sqrt, torch.sqrt, _sqrt)
exp = _unary(np.exp, torch.exp, math.exp)
log = _unary(np.log, torch.log, math.log)
# Scalar helpers the kernels call: compiled once (and cached), inlined by LLVM at each call.
# Numba's own inlining (inline="always") re-typed their bodies at every call site: each sin
# or cos in a kernel then cost ~1 s of compile time.
_scalar_kernel = njit(cache=True, nogil=True, error_model="numpy", forceinline=True)

# sin and cos in Numba: branch-free arithmetic instead of a libm call, so that a loop over the
# runs of a batch kernel vectorises with them (a call to libm's sin stops LLVM from vectorising
# the loop: on Rastrigin the kernel spent two thirds of its time in two scalar sines a step).
# The same code serves the single-run kernels and the formula interpreter, so every path gives
# the same bits. Against libm (tests/test_xmath.py): within 1 ulp for |x| <= 1e5 (the lab's
# divergence boxes keep every built-in surface's arguments below that), 2 ulps up to 2^27
# (~1.3e8); beyond, the reduction loses about |x| * 2^-53, as does any argument whose ulp is
# that large (a custom formula such as sin(1e9 * x)). NaN and +-inf give NaN; sin(-0.0) = -0.0.
#
# x = n pi/2 + r, |r| <= pi/4: pi/2 split in three parts of 26 bits and a rest (Cody & Waite),
# so n * part is exact for |n| < 2^27 and the first two subtractions are too.
_PIO2 = (1.5707963407039642, -1.3909067675399456e-08, 6.123233932053594e-17, 6.36831716351095e-25)
_TWO_OVER_PI = 0.6366197723675814
# Taylor coefficients (-1)^k / (2k+1)! and (-1)^k / (2k)!: on |r| <= pi/4 the first term left
# out is below 2^-60 of the result.
_SIN = (-0.16666666666666666, 0.008333333333333333, -0.0001984126984126984,
        2.7557319223985893e-06, -2.505210838544172e-08, 1.6059043836821613e-10,
        -7.647163731819816e-13, 2.8114572543455206e-15)  # fmt: skip
_COS = (0.041666666666666664, -0.001388888888888889, 2.48015873015873e-05,
        -2.755731922398589e-07, 2.08767569878681e-09, -1.1470745597729725e-11,
        4.779477332387385e-14)  # fmt: skip


@_scalar_kernel
def _reduce(x):
    """(r, q): x = n pi/2 + r with |r| <= pi/4, and q = n mod 4 as a float."""
    n = np.floor(x * _TWO_OVER_PI + 0.5)
    r = (((x - n * _PIO2[0]) - n * _PIO2[1]) - n * _PIO2[2]) - n * _PIO2[3]
    return r, n - 4.0 * np.floor(n * 0.25)


@_scalar_kernel
def _horner(z, coefficients):
    """coefficients[0] + z (coefficients[1] + z (...)), the last one innermost."""
    p = coefficients[-1]
    for k in range(len(coefficients) - 2, -1, -1):
        p = coefficients[k] + z * p
    return p


@_scalar_kernel
def _sin_poly(r):
    z = r * r
    return r + (r * z) * _horner(z, _SIN)


@_scalar_kernel
def _cos_poly(r):
    z = r * r
    half = 0.5 * z
    w = 1.0 - half
    # 1 - z/2 rounds away what the tail needs: add back what the subtraction lost
    return w + (((1.0 - w) - half) + (z * z) * _horner(z, _COS))


@_scalar_kernel
def _kernel_sin(x):
    r, q = _reduce(x)
    s, c = _sin_poly(r), _cos_poly(r)
    v = c if (q == 1.0) | (q == 3.0) else s
    v = -v if q >= 2.0 else v
    return x if x == 0.0 else v  # sin(-0.0) = -0.0 (the reduction gives r = +0.0)


@_scalar_kernel
def _kernel_cos(x):
    r, q = _reduce(x)
    s, c = _sin_poly(r), _cos_poly(r)
    v = s if (q == 1.0) | (q == 3.0) else c
    return -v if (q == 1.0) | (q == 2.0) else v


sin = _unary(np.sin, torch.sin, _kernel_sin)
cos = _unary(np.cos, torch.cos, _kernel_cos)
tanh = _unary(np.tanh, torch.tanh, math.tanh)


def _tensor_pair(a, b):
    if _is_tensor(a) and not _is_tensor(b):
        b = torch.as_tensor(b, dtype=a.dtype, device=a.device)
    elif _is_tensor(b) and not _is_tensor(a):
        a = torch.as_tensor(a, dtype=b.dtype, device=b.device)
    return a, b


def maximum(a, b):
    """Elementwise max; NaN propagates as in torch.maximum."""
    if _is_tensor(a) or _is_tensor(b):
        return torch.maximum(*_tensor_pair(a, b))
    return np.maximum(a, b)


def minimum(a, b):
    """Elementwise min; NaN propagates as in torch.minimum."""
    if _is_tensor(a) or _is_tensor(b):
        return torch.minimum(*_tensor_pair(a, b))
    return np.minimum(a, b)


def sign(x):
    """-1, 0 or +1 (NaN stays NaN)."""
    return torch.sign(x) if _is_tensor(x) else np.sign(x)


def where(cond, a, b):
    """``a`` where ``cond`` else ``b``; for the vectorised per-step constants, not for kernels."""
    if _is_tensor(cond) or _is_tensor(a) or _is_tensor(b):
        ref = next(v for v in (cond, a, b) if _is_tensor(v))
        cond = torch.as_tensor(cond, device=ref.device)
        a = torch.as_tensor(a, dtype=ref.dtype, device=ref.device)
        b = torch.as_tensor(b, dtype=ref.dtype, device=ref.device)
        return torch.where(cond, a, b)
    return np.where(cond, a, b)


def powers(base, t):
    """``base ** t`` for the steps ``t = 1, 2, ..., T`` (the last axis; the engines' contract).

    torch evaluates ``beta ** step`` with the beta of the current step, which matters when a
    schedule cycles beta1. A constant base (a scalar, or equal along the steps) takes the
    running product instead: the same value to a few ulps per step, several times faster.
    """
    if _is_tensor(base) or _is_tensor(t):
        base, t = _tensor_pair(base, t)
        base, t = torch.broadcast_tensors(base, t)
        if bool(torch.all(base == base[..., :1])):
            return torch.cumprod(base, dim=-1)
        return base**t
    if np.ndim(base) == 0:
        return np.broadcast_to(_running_powers(float(base), np.shape(t)[-1]), np.shape(t))
    rows = _batch_rows(base, t, 1.0)
    if rows is not None:
        # one base per row (a batch of runs, each with its own constant beta): each row's
        # running product, the same multiplications as _running_powers
        return _rows_of_powers(base, rows, 0.0, _POWERS)
    shape = np.broadcast_shapes(np.shape(base), np.shape(t))
    base = np.broadcast_to(np.asarray(base, dtype=np.float64), shape)
    if base.ndim == 1 and np.all(base == base[0]):
        return _running_powers(float(base[0]), shape[-1])
    return base**t


def one_minus_powers(base, t, scale=1.0):
    """``1 - scale * powers(base, t)``, as Adam's bias corrections take it; for a batch of
    runs, each with its own base, in the pass that forms the powers (numpy would take two
    more passes over the table)."""
    rows = _batch_rows(base, t, scale)
    if rows is not None:
        return _rows_of_powers(base, rows, float(scale), _ONE_MINUS)
    return 1 - scale * powers(base, t)


def inverse_one_minus_powers(base, t, scale=1.0, root=False):
    """``1 / one_minus_powers(base, t, scale)``, or ``1 / sqrt(...)`` where ``root``: Adam's
    bias corrections as the factors its update multiplies by. For a batch of runs, each with
    its own base, in the one pass that forms the powers: the same operations, so the same
    bits, without the two or three tables the separate passes write (measured in a search's
    batches of 256 runs by 500 steps: 0.3-0.5 µs a trial less preparation)."""
    rows = _batch_rows(base, t, scale)
    if rows is not None:
        return _rows_of_powers(base, rows, float(scale), _INVERSE_ROOT if root else _INVERSE)
    x = one_minus_powers(base, t, scale)
    return 1 / (sqrt(x) if root else x)


def _batch_rows(base, t, scale):
    """The shape of the result where ``base`` is a numpy column, one base per row (a batch
    of runs, each with its own constant beta) and ``scale`` a scalar; else None."""
    if _is_tensor(base) or _is_tensor(t) or _is_tensor(scale) or not np.ndim(base):
        return None
    shape = np.broadcast_shapes(np.shape(base), np.shape(t))
    return shape if np.shape(base)[-1] == 1 < shape[-1] and np.ndim(scale) == 0 else None


# What _running_powers_rows makes of each run's running product p: p, 1 - scale p, its
# reciprocal, the reciprocal of its square root.
_POWERS, _ONE_MINUS, _INVERSE, _INVERSE_ROOT = range(4)


def _rows_of_powers(base, shape: tuple, scale: float, mode: int) -> np.ndarray:
    """One base per row (a batch of runs, each with its own constant beta): each row's
    running product (the multiplications of _running_powers), or what ``mode`` makes of it."""
    rows = np.broadcast_to(np.asarray(base, dtype=np.float64), shape[:-1] + (1,))
    bases = np.ascontiguousarray(rows).reshape(-1)
    return _running_powers_rows(bases, shape[-1], mode, scale).reshape(shape)


@njit(cache=True, nogil=True)
def _running_powers(base, steps):
    out = np.empty(steps)
    acc = 1.0
    for i in range(steps):
        acc *= base
        out[i] = acc
    return out


_TILE = 8  # steps per tile of _running_powers_rows: a row's 8 values fill a cache line


@njit(cache=True, nogil=True, error_model="numpy")
def _running_powers_rows(bases, steps, mode, scale):
    """(rows, steps): each row's running product, or what ``mode`` makes of it."""
    # A few steps at a time for all rows, the rows inside: each row's products wait on one
    # another, the rows' do not, and the stores into the tile are contiguous, so that loop
    # runs on whole vectors, division and square root included; then the tile goes to its
    # rows' steps. For Adam's two tables of 256 runs by 500 steps: 200 us; 513 with each
    # value stored straight into its row (a store per lane, a cache line apart).
    runs = bases.shape[0]
    out = np.empty((runs, steps))
    acc = np.ones(runs)
    tile = np.empty((_TILE, runs))
    for first in range(0, steps, _TILE):
        m = min(_TILE, steps - first)
        for j in range(m):
            for r in range(runs):
                acc[r] *= bases[r]
                x = acc[r] if mode == _POWERS else 1.0 - scale * acc[r]
                if mode == _INVERSE:
                    x = 1.0 / x
                elif mode == _INVERSE_ROOT:
                    x = 1.0 / _sqrt(x)
                tile[j, r] = x
        for r in range(runs):
            for j in range(m):
                out[r, first + j] = tile[j, r]
    return out


def cumprod(x):
    """Running product along the step axis (the last one)."""
    return torch.cumprod(x, dim=-1) if _is_tensor(x) else np.cumprod(x, axis=-1)


@overload(maximum, inline="always")
def _maximum_scalar(a, b):
    if isinstance(a, types.Float) and isinstance(b, types.Float):

        def impl(a, b):
            # One compare-select (vectorises); a NaN in ``b``, where every rule passes its
            # fresh value, propagates. The vector form propagates NaN from either side.
            return a if a > b else b

        return impl


@overload(minimum, inline="always")
def _minimum_scalar(a, b):
    if isinstance(a, types.Float) and isinstance(b, types.Float):

        def impl(a, b):
            return a if a < b else b

        return impl


@overload(sign, inline="always")
def _sign_scalar(x):
    if isinstance(x, types.Float):

        def impl(x):
            if x > 0.0:
                return 1.0
            if x < 0.0:
                return -1.0
            return x * 0.0

        return impl
