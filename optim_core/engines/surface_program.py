"""A built-in surface as a program for the formula interpreter: a first result with no compile.

Every custom formula runs through one interpreter (``landscapes._formula_vm``), compiled once
per optimizer. A built-in surface's own kernels are compiled per (surface, optimizer) pair,
about a second each. Until a pair's kernel is ready, the engine runs the surface's program on
the interpreter of its optimizer instead (see ``numba_engine.run``).

The program is read from the source of the surface's ``f`` and ``grad`` (``landscapes.
_functions``), node for node: the interpreter then performs the same IEEE operations in the
same order as the compiled pair, and the two paths agree bit for bit (tests/test_warm.py
holds every surface to that). Hence only what has an exact counterpart is translated:
arithmetic, ``x ** n`` for a literal integer 0 <= n <= 64 (repeated multiplication in both),
the ``common.xmath`` functions, ``abs``, float module constants and ``a[k]``; a float power
such as ``x ** 0.5`` would go through ``pow`` in one path and perhaps ``sqrt`` in the other.
Anything else gives no program, and such a surface simply waits for its own kernel.
"""

import ast
import inspect
import textwrap
from collections.abc import Callable
from functools import lru_cache

import numpy as np

from common import xmath
from landscapes import Surface
from landscapes._formula_codegen import Graph

_UNARY = {
    xmath.sin: "sin",
    xmath.cos: "cos",
    xmath.exp: "exp",
    xmath.log: "log",
    xmath.sqrt: "sqrt",
    xmath.tanh: "tanh",
    abs: "abs",
}
# The interpreter's max/min take the left argument on a tie and propagate NaN; xmath's scalar
# forms differ only for NaN arguments, which a run never reaches (it stops at a non-finite
# iterate before the next gradient).
_BINARY_CALLS = {xmath.maximum: "max", xmath.minimum: "min"}
_OPERATORS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_MAX_POWER = 64  # as landscapes._formula_codegen: exact repeated multiplication up to here


class _Untranslatable(ValueError):
    pass


def program(surface: Surface, params: tuple[float, ...]) -> np.ndarray | None:
    """The interpreter program of ``surface`` with ``params`` (its ``a``), or None where its
    source has a construct without an exact counterpart. A new array each call (the caller
    may hand it to a kernel as a writable ``a``)."""
    found = _program(surface.f, surface.grad, tuple(float(v) for v in params))
    return None if found is None else np.array(found)


@lru_cache(maxsize=256)
def _program(f: Callable, grad: Callable, params: tuple[float, ...]) -> tuple[float, ...] | None:
    try:
        g = Graph()
        value = g.section(_lower(f, g, params))
        gradient = g.section(_lower(grad, g, params))
    except (_Untranslatable, OSError, TypeError, IndexError):  # OSError: no source to read
        return None
    return (2.0, 2.0 + len(value), *value, *gradient)


def _lower(fn: Callable, g: Graph, params: tuple[float, ...]) -> tuple[int, int]:
    """The graph nodes of ``fn``'s return value (twice for a scalar f, (gx, gy) for a grad)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(fn))).body[0]
    if not isinstance(tree, ast.FunctionDef):
        raise _Untranslatable(f"{fn.__name__}: not a def")
    names = {"x": g.var("x"), "y": g.var("y")}
    for statement in tree.body:
        match statement:
            case ast.Expr(value=ast.Constant(value=str())):  # a docstring
                continue
            case ast.Assign(targets=[ast.Name(id=name)], value=value):
                names[name] = _node(value, g, names, fn.__globals__, params)
            case ast.Return(value=ast.Tuple(elts=[gx, gy])):
                return tuple(_node(v, g, names, fn.__globals__, params) for v in (gx, gy))
            case ast.Return(value=value) if value is not None:
                node = _node(value, g, names, fn.__globals__, params)
                return node, node
            case _:
                raise _Untranslatable(f"{fn.__name__}: {ast.dump(statement)[:60]}")
    raise _Untranslatable(f"{fn.__name__}: no return")


def _node(e: ast.expr, g: Graph, names: dict, env: dict, params: tuple[float, ...]) -> int:
    def node(e):
        return _node(e, g, names, env, params)

    match e:
        case ast.Constant(value=float() | int() as v) if not isinstance(v, bool):
            return g.num(float(v))
        case ast.Name(id=name) if name in names:
            return names[name]
        case ast.Name(id=name) if type(env.get(name)) is float:
            return g.num(env[name])
        case ast.Subscript(value=ast.Name(id="a"), slice=ast.Constant(value=int() as k)):
            return g.num(params[k])
        case ast.UnaryOp(op=ast.USub(), operand=operand):
            return g.neg(node(operand))
        case ast.BinOp(left=base, op=ast.Pow(), right=ast.Constant(value=int() as n)) if (
            not isinstance(n, bool) and 0 <= n <= _MAX_POWER
        ):
            return g.binary("^", _variable(node(base), g), g.num(float(n)))
        case ast.BinOp(left=left, op=op, right=right) if type(op) in _OPERATORS:
            return g.binary(_OPERATORS[type(op)], node(left), node(right))
        case ast.Call(func=ast.Name(id=name), args=[arg], keywords=[]) if (
            _callee(name, env) in _UNARY
        ):
            return g.call(_UNARY[_callee(name, env)], _variable(node(arg), g))
        case ast.Call(func=ast.Name(id=name), args=[left, right], keywords=[]) if (
            _callee(name, env) in _BINARY_CALLS
        ):
            return g.binary(_BINARY_CALLS[_callee(name, env)], node(left), node(right))
    raise _Untranslatable(ast.dump(e)[:60])


def _variable(i: int, g: Graph) -> int:
    """``i``, which must depend on x or y: the graph folds a function or power of a constant
    with numpy's routines, which need not round as the compiled code's libm or multiplications
    do (arithmetic on constants is exact IEEE either way)."""
    if g.value(i) is not None:
        raise _Untranslatable("a function or power of a constant")
    return i


def _callee(name: str, env: dict):
    found = env.get(name, abs if name == "abs" else None)
    return found if isinstance(found, Callable) else None
