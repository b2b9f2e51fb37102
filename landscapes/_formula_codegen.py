"""The formula syntax tree, its derivatives, and the Python module generated from both.

:mod:`landscapes.formula` parses a user's text into the tree defined here. This module turns
the tree into a hash-consed expression graph (equal subexpressions are one node, so nothing
is ever copied and the work stays linear in the formula's size), differentiates the graph
symbolically, and prints ``f(x, y, a)`` and ``grad(x, y, a)`` as Python source that uses only
arithmetic and :mod:`common.xmath`, like the hand-written surfaces. The source is printed from
the graph, never from the user's text: numbers are ``repr(float)`` and names come from the
tables below. The module is written under Numba's cache folder and imported by name, because
the engines import a surface's functions by module and name into their generated kernels.

Subexpressions without ``x`` or ``y`` are folded at compile time with numpy's scalar rules,
so a constant such as ``1/0`` or ``(-8)^(1/3)`` becomes ``inf`` or ``nan`` instead of raising
(or turning complex) in plain Python; at run time numpy, torch and Numba (``error_model=
"numpy"``) give inf/NaN as well, which the engines report as divergence.
"""

import hashlib
import math
import operator
import sys
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from common import xmath
from common.modules import generated_module


@dataclass(frozen=True)
class Num:
    value: float


@dataclass(frozen=True)
class Name:
    name: str  # a variable ("x", "y") or a constant ("pi", "e")


@dataclass(frozen=True)
class Neg:
    arg: "Node"


@dataclass(frozen=True)
class BinOp:
    op: str  # one of BINARY
    left: "Node"
    right: "Node"


@dataclass(frozen=True)
class Call:
    fn: str  # a key of FUNCTIONS
    arg: "Node"


Node = Num | Name | Neg | BinOp | Call

VARIABLES = ("x", "y")
CONSTANTS = {"pi": math.pi, "e": math.e}
BINARY = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "^": operator.pow,
}


@dataclass(frozen=True)
class Function:
    """One function a formula may call: how to print, evaluate and differentiate it."""

    latex: str  # "{}" stands for the argument
    python: str  # over common.xmath; "{0}" stands for the argument's (atomic) expression
    value: Callable  # on a numpy scalar, to fold constants
    derivative: Callable  # (graph, u, fn(u)) -> the node of d fn(u) / du


FUNCTIONS = {
    "sin": Function(
        r"\sin\left({}\right)", "sin({0})", xmath.sin, lambda g, u, v: g.call("cos", u)
    ),
    "cos": Function(
        r"\cos\left({}\right)", "cos({0})", xmath.cos, lambda g, u, v: g.neg(g.call("sin", u))
    ),
    "tan": Function(
        r"\tan\left({}\right)",
        "sin({0}) / cos({0})",  # xmath has no tan
        lambda u: xmath.sin(u) / xmath.cos(u),
        lambda g, u, v: g.binary("/", g.num(1.0), g.binary("^", g.call("cos", u), g.num(2.0))),
    ),
    "exp": Function("e^{{{}}}", "exp({0})", xmath.exp, lambda g, u, v: v),
    "log": Function(
        r"\ln\left({}\right)", "log({0})", xmath.log, lambda g, u, v: g.binary("/", g.num(1.0), u)
    ),
    "sqrt": Function(
        r"\sqrt{{{}}}", "sqrt({0})", xmath.sqrt, lambda g, u, v: g.binary("/", g.num(0.5), v)
    ),
    "abs": Function(r"\left|{}\right|", "abs({0})", abs, lambda g, u, v: g.call("sign", u)),
    "tanh": Function(
        r"\tanh\left({}\right)",
        "tanh({0})",
        xmath.tanh,
        lambda g, u, v: g.binary("-", g.num(1.0), g.binary("^", v, g.num(2.0))),
    ),
}
# Only derivatives call sign (of abs); users do not, so it is not in FUNCTIONS.
_CALLS = {**FUNCTIONS, "sign": Function("", "sign({0})", xmath.sign, lambda g, u, v: g.num(0.0))}

_X, _Y = 1, 2  # dependency bits
_MAX_INT_POWER = 64  # x ** n with an int n this small is exact repeated multiplication in Numba


def _fold(fn: Callable, *values: float) -> float:
    """``fn`` on numpy float64 scalars: overflow, 0/0 and log(-1) give inf/NaN, never raise."""
    with np.errstate(all="ignore"):
        return float(fn(*(np.float64(v) for v in values)))


class Graph:
    """A hash-consed expression DAG. Ids are topological: children come before parents.

    The constructors fold constants and drop neutral terms (0 + a, 1 * a, a ^ 1, 0 * a, ...),
    which keeps derivatives short; ``0 * a -> 0`` differs from IEEE only where ``a`` is
    infinite or NaN, where the engines stop anyway.
    """

    def __init__(self):
        self.nodes: list[tuple] = []
        self.deps: list[int] = []
        self._ids: dict[tuple, int] = {}

    def _intern(self, key: tuple, deps: int) -> int:
        i = self._ids.get(key)
        if i is None:
            i = self._ids[key] = len(self.nodes)
            self.nodes.append(key)
            self.deps.append(deps)
        return i

    def num(self, value: float) -> int:
        # + 0.0 turns -0.0 into 0.0, so every zero is one node and `d == zero` finds it.
        return self._intern(("num", (float(value) + 0.0).hex()), 0)

    def var(self, name: str) -> int:
        return self._intern(("var", name), _X if name == "x" else _Y)

    def value(self, i: int) -> float | None:
        """The number node ``i`` holds, or None when it is not a number."""
        key = self.nodes[i]
        return float.fromhex(key[1]) if key[0] == "num" else None

    def neg(self, a: int) -> int:
        if (v := self.value(a)) is not None:
            return self.num(-v)
        if self.nodes[a][0] == "neg":
            return self.nodes[a][1]
        return self._intern(("neg", a), self.deps[a])

    def call(self, fn: str, a: int) -> int:
        if (v := self.value(a)) is not None:
            return self.num(_fold(_CALLS[fn].value, v))
        return self._intern(("call", fn, a), self.deps[a])

    def binary(self, op: str, a: int, b: int) -> int:
        va, vb = self.value(a), self.value(b)
        if va is not None and vb is not None:
            return self.num(_fold(BINARY[op], va, vb))
        if op in "+-" and vb == 0.0:
            return a
        if op == "+" and va == 0.0:
            return b
        if op == "-" and va == 0.0:
            return self.neg(b)
        if op in "*/" and (va == 0.0 or (op == "*" and vb == 0.0)):
            return self.num(0.0)
        if op in "*/" and vb in (1.0, -1.0):
            return a if vb == 1.0 else self.neg(a)
        if op == "*" and va in (1.0, -1.0):
            return b if va == 1.0 else self.neg(b)
        if op == "^" and vb in (0.0, 1.0):
            return self.num(1.0) if vb == 0.0 else a
        return self._intern((op, a, b), self.deps[a] | self.deps[b])

    def lower(self, node: Node) -> int:
        """The graph node of a syntax tree (recursion depth is bounded by the parser's limits)."""
        match node:
            case Num(value):
                return self.num(value)
            case Name(name) if name in CONSTANTS:
                return self.num(CONSTANTS[name])
            case Name(name):
                return self.var(name)
            case Neg(arg):
                return self.neg(self.lower(arg))
            case Call(fn, arg):
                return self.call(fn, self.lower(arg))
            case BinOp(op, left, right):
                return self.binary(op, self.lower(left), self.lower(right))
        raise TypeError(f"not a formula node: {node!r}")

    def derivative(self, root: int, wrt: str) -> int:
        """d root / d wrt, one node at a time in topological order (no recursion)."""
        bit = _X if wrt == "x" else _Y
        zero, one = self.num(0.0), self.num(1.0)
        d: dict[int, int] = {}
        for i in range(root + 1):
            key = self.nodes[i]
            if not self.deps[i] & bit:
                d[i] = zero
            elif key[0] == "var":
                d[i] = one
            elif key[0] == "neg":
                d[i] = self.neg(d[key[1]])
            elif key[0] == "call":
                fn, u = key[1], key[2]
                d[i] = self.binary("*", _CALLS[fn].derivative(self, u, i), d[u])
            else:
                d[i] = self._binary_derivative(i, key, d, zero)
        return d[root]

    def _binary_derivative(self, i: int, key: tuple, d: dict, zero: int) -> int:
        op, a, b = key
        da, db = d[a], d[b]
        if op in "+-":
            return self.binary(op, da, db)
        if op == "*":
            return self.binary("+", self.binary("*", da, b), self.binary("*", a, db))
        if op == "/":  # (a' - (a/b) b') / b
            return self.binary("/", self.binary("-", da, self.binary("*", i, db)), b)
        if db == zero:  # a ^ c: c a^(c-1) a'
            power = self.binary("^", a, self.binary("-", b, self.num(1.0)))
            return self.binary("*", self.binary("*", b, power), da)
        log_a = self.call("log", a)
        if da == zero:  # c ^ b: c^b log(c) b'
            return self.binary("*", self.binary("*", i, log_a), db)
        rate = self.binary(
            "+", self.binary("*", db, log_a), self.binary("/", self.binary("*", b, da), a)
        )
        return self.binary("*", i, rate)

    def _atom(self, i: int, exponent: bool = False) -> str:
        key = self.nodes[i]
        if key[0] == "var":
            return key[1]
        if key[0] != "num":
            return f"t{i}"
        v = self.value(i)
        # A negative int exponent raises ZeroDivisionError at 0 even in Numba's numpy mode.
        if exponent and v.is_integer() and 0 <= v <= _MAX_INT_POWER:
            return str(int(v))
        if math.isnan(v):
            return "_NAN"
        text = "_INF" if math.isinf(v) else repr(abs(v))
        return f"(-{text})" if v < 0 else text

    def _expression(self, i: int) -> str:
        key = self.nodes[i]
        if key[0] == "neg":
            return f"-{self._atom(key[1])}"
        if key[0] == "call":
            return _CALLS[key[1]].python.format(self._atom(key[2]))
        op, a, b = key
        if op == "^":
            return f"{self._atom(a)} ** {self._atom(b, exponent=True)}"
        return f"{self._atom(a)} {op} {self._atom(b)}"

    def _broadcast(self, i: int) -> str:
        """Every output depends on x and y, so arrays of any broadcastable shapes come back."""
        terms = [] if self.value(i) == 0.0 else [self._atom(i)]
        terms += [f"0.0 * {v}" for v, bit in (("x", _X), ("y", _Y)) if not self.deps[i] & bit]
        return " + ".join(terms)

    def function_source(self, name: str, outputs: tuple[int, ...]) -> str:
        """``def name(x, y, a)``: one line per reachable operation, in topological order."""
        reachable, stack = set(), list(outputs)
        while stack:
            i = stack.pop()
            if i not in reachable:
                reachable.add(i)
                stack.extend(c for c in self.nodes[i][1:] if isinstance(c, int))
        lines = [f"def {name}(x, y, a):"]
        lines += [
            f"    t{i} = {self._expression(i)}"
            for i in sorted(reachable)
            if self.nodes[i][0] not in ("num", "var")
        ]
        lines.append(f"    return {', '.join(self._broadcast(i) for i in outputs)}")
        return "\n".join(lines) + "\n"


_HEADER = '''"""Generated by landscapes.formula from: {canonical}"""

import math

from common.xmath import cos, exp, log, sign, sin, sqrt, tanh

_INF = math.inf
_NAN = math.nan


'''


_SAFE = frozenset("0123456789abcdefghijklmnopqrstuvwxyz.+-*/^() ")


def module_source(tree: Node, canonical: str) -> str:
    """Python source of ``f`` and ``grad`` for a parsed formula (``canonical`` is its text)."""
    if not set(canonical) <= _SAFE:  # printed from the tree, so this never fires
        raise ValueError(f"formula: cannot generate code for {canonical!r}")
    g = Graph()
    root = g.lower(tree)
    dx, dy = g.derivative(root, "x"), g.derivative(root, "y")
    return (
        _HEADER.format(canonical=canonical)
        + g.function_source("f", (root,))
        + "\n\n"
        + g.function_source("grad", (dx, dy))
    )


def load(tree: Node, canonical: str) -> tuple[Callable, Callable]:
    """``(f, grad)`` of a parsed formula, from a module importable by its name."""
    name = "optim_lab_formula_" + hashlib.sha256(canonical.encode()).hexdigest()[:16]
    if name not in sys.modules:  # the source is printed only when the module is new
        generated_module("formulas", name, module_source(tree, canonical))
    module = sys.modules[name]
    return module.f, module.grad
