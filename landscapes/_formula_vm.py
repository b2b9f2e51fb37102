"""One interpreter for every user formula: a formula is data (a program), never new code.

Compiling each formula into its own Numba kernel cost a second or two and 7-9 MiB that were
never freed, per formula. Instead :mod:`landscapes._formula_codegen` turns a formula's value
and symbolic gradient into a *program*, a float64 array, and the functions here evaluate it:
``kernel_f`` / ``kernel_grad`` are compiled by Numba once per optimizer kernel and read the
program from the surface vector ``a``, so a new formula compiles nothing and writes nothing;
:class:`FormulaFunction` runs the same program on floats, numpy arrays or torch tensors.

Layout of a program ``a`` (indices and counts are stored as exact float64 integers)::

    a[0], a[1]            where the value's and the gradient's sections start
    section               n, out0, deps0, out1, deps1, then n instructions of WIDTH slots
    instruction           op, then up to four operands (register numbers; CONST: the value;
                          POWI: the integer exponent)

Registers 0 and 1 hold x and y; instruction k writes register k + 2, and reads only earlier
registers (the program is in topological order). ``deps`` (bit 1: x, bit 2: y) tells the
array path which inputs an output must be broadcast against, as the generated code did.
"""

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch
from numba import carray, njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from common import xmath

WIDTH = 5
HEADER = 5
MAX_REGISTERS = 4096  # x, y and the instructions of one section (the compiler checks it)
# fmt: off
OPS = ("const", "neg", "+", "-", "*", "/", "^", "powi", "sin", "cos", "tan", "exp", "log",
       "sqrt", "abs", "tanh", "sign", "min", "max", "select")
(CONST, NEG, ADD, SUB, MUL, DIV, POW, POWI, SIN, COS, TAN, EXP, LOG, SQRT, ABS, TANH, SIGN,
 MIN, MAX, SELECT) = range(len(OPS))
# fmt: on


@intrinsic
def _stack_registers(typingctx):
    """Room for MAX_REGISTERS float64 in the caller's stack frame: evaluating a formula then
    allocates nothing on the heap (np.empty per call cost a fifth of a step)."""

    def codegen(context, builder, signature, args):
        size = context.get_constant(types.intp, MAX_REGISTERS)
        return cgutils.alloca_once(builder, context.get_value_type(types.float64), size=size)

    return types.CPointer(types.float64)(), codegen


@njit(cache=True, nogil=True, error_model="numpy")
def _unary(op, u):
    if op == NEG:
        return -u
    # sin, cos and sqrt as xmath's (not libm's), so that a built-in surface's program run
    # here gives the bits of its compiled kernels (see ``optim_core.engines.surface_program``)
    if op == SIN:
        return xmath.sin(u)
    if op == COS:
        return xmath.cos(u)
    if op == TAN:
        return xmath.sin(u) / xmath.cos(u)  # as the generated code: xmath has no tan
    if op == EXP:
        return np.exp(u)
    if op == LOG:
        return np.log(u)
    if op == SQRT:
        return xmath.sqrt(u)
    if op == ABS:
        return abs(u)
    if op == TANH:
        return np.tanh(u)
    if u > 0.0:  # SIGN; NaN stays NaN
        return 1.0
    return -1.0 if u < 0.0 else u * 0.0


@njit(cache=True, nogil=True, error_model="numpy")
def _binary(op, u, v):
    if op == ADD:
        return u + v
    if op == SUB:
        return u - v
    if op == MUL:
        return u * v
    if op == DIV:
        return u / v
    if op == POW:
        return u**v
    # MIN, MAX: NaN on either side propagates, as np.minimum / torch.minimum.
    if u != u or v != v:
        return u + v
    if op == MIN:
        return u if u <= v else v
    return u if u >= v else v


@njit(cache=True, nogil=True, error_model="numpy")
def _run(a, start, x, y, r):
    """Fills the registers ``r`` by running the section at ``start`` on the point (x, y)."""
    n = int(a[start])
    r[0], r[1] = x, y
    p = start + HEADER
    for k in range(2, n + 2):
        op = int(a[p])
        if op == CONST:
            r[k] = a[p + 1]
        elif op == POWI:
            r[k] = r[int(a[p + 1])] ** int(a[p + 2])
        elif op == SELECT:
            left, right = r[int(a[p + 1])], r[int(a[p + 2])]
            r[k] = r[int(a[p + 3])] if left <= right else r[int(a[p + 4])]
        elif op == NEG or SIN <= op <= SIGN:
            r[k] = _unary(op, r[int(a[p + 1])])
        else:
            r[k] = _binary(op, r[int(a[p + 1])], r[int(a[p + 2])])
        p += WIDTH


# The registers live in these two functions' frames (they must outlive _run). A surface
# vector without a program (too short to hold one) gives NaN, never a read out of bounds.


def kernel_f(x, y, a):
    """f at one point inside a Numba kernel; ``a`` is the formula's program."""
    if len(a) < 2:
        return np.nan
    r = carray(_stack_registers(), MAX_REGISTERS)
    start = int(a[0])
    _run(a, start, x, y, r)
    return r[int(a[start + 1])]


def kernel_grad(x, y, a):
    """(df/dx, df/dy) at one point inside a Numba kernel; ``a`` is the formula's program."""
    if len(a) < 2:
        return np.nan, np.nan
    r = carray(_stack_registers(), MAX_REGISTERS)
    start = int(a[1])
    _run(a, start, x, y, r)
    return r[int(a[start + 1])], r[int(a[start + 3])]


_UNARY = {
    NEG: lambda u: -u,
    SIN: xmath.sin,
    COS: xmath.cos,
    TAN: lambda u: xmath.sin(u) / xmath.cos(u),
    EXP: xmath.exp,
    LOG: xmath.log,
    SQRT: xmath.sqrt,
    ABS: abs,
    TANH: xmath.tanh,
    SIGN: xmath.sign,
}
_BINARY = {
    ADD: lambda u, v: u + v,
    SUB: lambda u, v: u - v,
    MUL: lambda u, v: u * v,
    DIV: lambda u, v: u / v,
    POW: lambda u, v: u**v,
    MIN: xmath.minimum,
    MAX: xmath.maximum,
}


@dataclass(frozen=True)
class FormulaFunction:
    """f (``outputs == 1``) or grad (``outputs == 2``) of one formula, called as
    ``fn(x, y, a)`` on floats, numpy arrays or torch tensors like any surface function.

    It holds its own program and ignores ``a`` (a formula has no parameters), so callers pass
    ``()`` as for any surface; the Numba engine compiles :attr:`kernel` in its place and hands
    it the program as ``a`` (see ``Surface.kernel_data``). Equal programs compare equal, so a
    formula compiled twice is the same surface to every cache.
    """

    program: bytes  # the float64 array, as bytes: hashable and immutable
    outputs: int

    @property
    def kernel(self):
        return kernel_f if self.outputs == 1 else kernel_grad

    @cached_property
    def _code(self) -> tuple[list[tuple], tuple[tuple[int, int], ...]]:
        a = np.frombuffer(self.program)
        start = int(a[self.outputs - 1])
        n = int(a[start])
        head = a[start + 1 : start + HEADER].astype(int)
        body = a[start + HEADER : start + HEADER + n * WIDTH].reshape(n, WIDTH)
        # A CONST's slot holds its value, any other slot a register or an exponent.
        code = [
            (CONST, float(row[1]), 0, 0, 0, 0)
            if row[0] == CONST
            else (int(row[0]), 0.0, *(int(v) for v in row[1:]))
            for row in body
        ]
        outs = ((head[0], head[1]), (head[2], head[3]))[: self.outputs]
        return code, outs

    def __call__(self, x, y, a=()):
        code, outs = self._code
        r = [x, y]
        with np.errstate(all="ignore"):  # inf / NaN are results here, as in the kernels
            for op, value, i, j, k, m in code:
                if op == CONST:
                    r.append(float(value))
                elif op == POWI:
                    r.append(r[i] ** j)
                elif op == SELECT:
                    r.append(_select(r[i], r[j], r[k], r[m]))
                elif op in _UNARY:
                    r.append(_UNARY[op](r[i]))
                else:
                    r.append(_BINARY[op](r[i], r[j]))
            values = tuple(_broadcast(r[out], deps, x, y) for out, deps in outs)
        return values[0] if self.outputs == 1 else values


def _select(u, v, p, q):
    """``p`` where ``u <= v`` else ``q``, elementwise (xmath.where would take the boolean
    condition's dtype for the values)."""
    tensors = [t for t in (p, q, u, v) if isinstance(t, torch.Tensor)]
    if not tensors:
        return np.where(u <= v, p, q)
    like = {"dtype": tensors[0].dtype, "device": tensors[0].device}
    return torch.where(u <= v, torch.as_tensor(p, **like), torch.as_tensor(q, **like))


def _broadcast(value, deps: int, x, y):
    """Every output depends on x and y, so arrays of any broadcastable shapes come back."""
    if not deps & 1:
        value = value + 0.0 * x
    if not deps & 2:
        value = value + 0.0 * y
    return value
