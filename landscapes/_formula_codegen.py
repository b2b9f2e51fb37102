"""The formula syntax tree, its derivatives, and the program that evaluates both.

:mod:`landscapes.formula` parses a user's text into the tree defined here. This module turns
the tree into a hash-consed expression graph (equal subexpressions are one node, so nothing
is ever copied and the work stays linear in the formula's size), differentiates the graph
symbolically, and writes the value and the gradient as a program for the one interpreter in
:mod:`landscapes._formula_vm`: data, so a new formula compiles no code and writes no file.
Nothing of the user's text reaches the program but numbers and names from the tables below.

Subexpressions without ``x`` or ``y`` are folded at compile time with numpy's scalar rules,
so a constant such as ``1/0`` or ``(-8)^(1/3)`` becomes ``inf`` or ``nan`` instead of raising
(or turning complex) in plain Python; at run time numpy, torch and Numba (``error_model=
"numpy"``) give inf/NaN as well, which the engines report as divergence.
"""

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from common import xmath
from landscapes import _formula_vm as vm


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


@dataclass(frozen=True)
class BinaryCall:
    fn: str  # a key of BINARY_FUNCTIONS
    left: "Node"
    right: "Node"


Node = Num | Name | Neg | BinOp | Call | BinaryCall

VARIABLES = ("x", "y")
CONSTANTS = {"pi": math.pi, "e": math.e}
BINARY = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "^": operator.pow,
    "min": np.minimum,  # NaN on either side propagates, as in torch.minimum
    "max": np.maximum,
}


@dataclass(frozen=True)
class Function:
    """One function a formula may call: how to print, evaluate and differentiate it."""

    latex: str  # "{}" stands for the argument
    torch: str  # the torch function of the same name
    value: Callable  # on a numpy scalar, to fold constants
    derivative: Callable  # (graph, u, fn(u)) -> the node of d fn(u) / du


FUNCTIONS = {
    "sin": Function(
        r"\sin\left({}\right)", "torch.sin", xmath.sin, lambda g, u, v: g.call("cos", u)
    ),
    "cos": Function(
        r"\cos\left({}\right)", "torch.cos", xmath.cos, lambda g, u, v: g.neg(g.call("sin", u))
    ),
    "tan": Function(
        r"\tan\left({}\right)",
        "torch.tan",
        lambda u: xmath.sin(u) / xmath.cos(u),
        lambda g, u, v: g.binary("/", g.num(1.0), g.binary("^", g.call("cos", u), g.num(2.0))),
    ),
    "exp": Function("e^{{{}}}", "torch.exp", xmath.exp, lambda g, u, v: v),
    "log": Function(
        r"\ln\left({}\right)", "torch.log", xmath.log, lambda g, u, v: g.binary("/", g.num(1.0), u)
    ),
    "sqrt": Function(
        r"\sqrt{{{}}}", "torch.sqrt", xmath.sqrt, lambda g, u, v: g.binary("/", g.num(0.5), v)
    ),
    "abs": Function(r"\left|{}\right|", "torch.abs", abs, lambda g, u, v: g.call("sign", u)),
    "tanh": Function(
        r"\tanh\left({}\right)",
        "torch.tanh",
        xmath.tanh,
        lambda g, u, v: g.binary("-", g.num(1.0), g.binary("^", v, g.num(2.0))),
    ),
}
# Only derivatives call sign (of abs); users do not, so it is not in FUNCTIONS.
_CALLS = {**FUNCTIONS, "sign": Function("", "torch.sign", xmath.sign, lambda g, u, v: g.num(0.0))}
# Functions of two arguments: (LaTeX with "{0}", "{1}" for the arguments, torch function).
BINARY_FUNCTIONS = {
    "min": (r"\min\left({0}, {1}\right)", "torch.minimum"),
    "max": (r"\max\left({0}, {1}\right)", "torch.maximum"),
}

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

    def select(self, a: int, b: int, p: int, q: int) -> int:
        """``p`` where ``a <= b``, else ``q`` (the derivative of min and max)."""
        va, vb = self.value(a), self.value(b)
        if p == q or (va is not None and vb is not None):
            return p if p == q or va <= vb else q
        deps = self.deps[a] | self.deps[b] | self.deps[p] | self.deps[q]
        return self._intern(("select", a, b, p, q), deps)

    def binary(self, op: str, a: int, b: int) -> int:
        va, vb = self.value(a), self.value(b)
        if va is not None and vb is not None:
            return self.num(_fold(BINARY[op], va, vb))
        if op in ("min", "max"):
            return self._intern((op, a, b), self.deps[a] | self.deps[b])
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
            case BinOp(op, left, right) | BinaryCall(op, left, right):
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
            elif key[0] == "select":  # piecewise: the derivative of the branch taken
                _, a, b, p, q = key
                d[i] = self.select(a, b, d[p], d[q])
            else:
                d[i] = self._binary_derivative(i, key, d, zero)
        return d[root]

    def _binary_derivative(self, i: int, key: tuple, d: dict, zero: int) -> int:
        op, a, b = key
        da, db = d[a], d[b]
        # At a tie both take the first argument's derivative: min(a, b) picks a where a <= b,
        # max(a, b) picks a where a >= b, so the gradient is one-sided but never averaged.
        if op == "min":
            return self.select(a, b, da, db)
        if op == "max":
            return self.select(b, a, da, db)
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

    def section(self, outputs: tuple[int, int]) -> list[float]:
        """One program section computing ``outputs`` (see :mod:`landscapes._formula_vm`)."""
        reachable, stack = set(), list(outputs)
        while stack:
            i = stack.pop()
            if i not in reachable:
                reachable.add(i)
                stack.extend(c for c in self.nodes[i][1:] if isinstance(c, int))
        register: dict[int, int] = {}
        rows: list[tuple] = []
        for i in sorted(reachable):  # ids are topological
            key = self.nodes[i]
            if key[0] == "var":
                register[i] = 0 if key[1] == "x" else 1
                continue
            rows.append(self._instruction(key, register))
            register[i] = len(rows) + 1  # registers 0 and 1 hold x and y
        head = [len(rows)]
        for i in outputs:
            head += [register[i], self.deps[i]]
        return head + [v for row in rows for v in (*row, *[0] * (vm.WIDTH - len(row)))]

    def _instruction(self, key: tuple, register: dict[int, int]) -> tuple:
        if key[0] == "num":
            return (vm.CONST, float.fromhex(key[1]))
        if key[0] == "neg":
            return (vm.NEG, register[key[1]])
        if key[0] == "call":
            return (vm.OPS.index(key[1]), register[key[2]])
        if key[0] == "select":
            return (vm.SELECT, *(register[c] for c in key[1:]))
        op, a, b = key
        n = self.value(b)
        # Small int powers are exact repeated multiplication (a negative one would divide 1
        # by 0 at 0 instead of giving inf); the rest go through pow.
        if op == "^" and n is not None and n.is_integer() and 0 <= n <= _MAX_INT_POWER:
            return (vm.POWI, register[a], int(n))
        return (vm.OPS.index(op), register[a], register[b])


def program(tree: Node) -> bytes:
    """The value and the gradient of a parsed formula as one program, float64 bytes."""
    g = Graph()
    root = g.lower(tree)
    dx, dy = g.derivative(root, "x"), g.derivative(root, "y")
    value, gradient = g.section((root, root)), g.section((dx, dy))
    operations = max(value[0], gradient[0])
    if operations > vm.MAX_REGISTERS - 2:  # the parser's limits keep far below this
        raise ValueError(
            f"formula: too complex: {operations} operations to evaluate; allowed: at most "
            f"{vm.MAX_REGISTERS - 2}"
        )
    return np.array([2, 2 + len(value), *value, *gradient], dtype=np.float64).tobytes()


def constant(tree: Node) -> float | None:
    """The value of a tree without x and y (folded as the program folds it), else None."""
    g = Graph()
    return g.value(g.lower(tree))
