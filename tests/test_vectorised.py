"""The batch kernels' loop over a block's lanes compiles to packed (SIMD) arithmetic.

Nothing else fails when it does not: the results are the same bit for bit, only 4-8 times
slower (measured: Rastrigin / Adam 12.5 -> 1.8 us a run). It stayed scalar while a lane
loop passed an array into Numba-inlined code (reference counts in every lane), called
libm's sqrt or sin, or read rows whose distance LLVM could not prove (a run-time block
width, the ping-pong of two position buffers). Compiled here afresh (Numba does not show the
machine code of a cached kernel)."""

import platform
import re
import sys

import numpy as np
import pytest
from numba import njit

from optim_core.engines import numba_engine
from optim_core.engines._heap import keep_heap_top
from optim_core.engines.prepare_batch import prepare_settings
from optim_core.spec import RunSpec

pytestmark = pytest.mark.skipif(
    platform.machine() not in ("x86_64", "AMD64"), reason="checks x86 packed instructions"
)


def _packed(fn, *args) -> set[str]:
    fresh = njit(error_model="numpy", nogil=True)(fn.py_func)
    fresh(*args)
    return set(re.findall(r"\b(v?(?:mul|sqrt|div)pd)\b", fresh.inspect_asm(fresh.signatures[0])))


@pytest.mark.parametrize("surface", ["rastrigin", "rosenbrock"])
def test_the_lane_loops_are_vectorised(surface):
    rng = np.random.default_rng(0)
    base = RunSpec(surface=surface, optimizer="Adam", steps=20)
    specs = [base.with_(hyperparameters={"lr": float(10 ** rng.uniform(-3, -1))}) for _ in range(8)]
    b = prepare_settings(specs)
    kernels = sys.modules[numba_engine._batch_kernel(b).py_func.__module__]
    a, starts, s0, C, P, at, steps, noise, rho, limits, _ = numba_engine._batch_args(b)
    each = _packed(kernels._advance_lanes, a, starts, s0, C, P, at, steps, noise, rho, limits, 0, 8)
    p = b.first
    lr = np.full(20, 0.01)
    shared = _packed(kernels._advance_block, p.a, starts, p.s0, p.C, lr, p.noise, 0.0, limits, 0, 8)
    for found in (each, shared):  # Adam: a multiply, a square root and a division per lane
        assert {op.lstrip("v") for op in found} >= {"mulpd", "sqrtpd", "divpd"}, found


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="a glibc setting")
def test_the_heap_top_is_kept():
    assert keep_heap_top()
