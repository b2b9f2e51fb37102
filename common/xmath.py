"""Array-generic math: one vocabulary for floats in Numba kernels, numpy arrays and torch tensors.

Surfaces and update rules are written once with these functions. Called from Python they
dispatch to torch (tensors, any device, autograd-friendly) or numpy; compiled by Numba they
resolve through ``@overload`` to scalar ``math`` calls that inline into the kernels.
Plain arithmetic (``+ - * / **`` and ``abs``) already works on all three and needs no helper.
"""

import math

import numpy as np
import torch
from numba import njit, types
from numba.extending import overload

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


sqrt = _unary(np.sqrt, torch.sqrt, math.sqrt)
exp = _unary(np.exp, torch.exp, math.exp)
log = _unary(np.log, torch.log, math.log)
sin = _unary(np.sin, torch.sin, math.sin)
cos = _unary(np.cos, torch.cos, math.cos)
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
    shape = np.broadcast_shapes(np.shape(base), np.shape(t))
    if np.shape(base)[-1] == 1 < shape[-1]:
        # one base per row (a batch of runs, each with its own constant beta): each row's
        # running product, the same multiplications as _running_powers
        rows = np.broadcast_to(np.asarray(base, dtype=np.float64), shape[:-1] + (1,))
        out = _running_powers_rows(np.ascontiguousarray(rows).reshape(-1), shape[-1])
        return out.reshape(shape)
    base = np.broadcast_to(np.asarray(base, dtype=np.float64), shape)
    if base.ndim == 1 and np.all(base == base[0]):
        return _running_powers(float(base[0]), shape[-1])
    return base**t


@njit(cache=True, nogil=True)
def _running_powers(base, steps):
    out = np.empty(steps)
    acc = 1.0
    for i in range(steps):
        acc *= base
        out[i] = acc
    return out


@njit(cache=True, nogil=True)
def _running_powers_rows(bases, steps):
    out = np.empty((bases.shape[0], steps))
    for r in range(bases.shape[0]):
        acc = 1.0
        for i in range(steps):
            acc *= bases[r]
            out[r, i] = acc
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
