"""A user's formula in x and y -> :class:`Surface`, through a whitelist parser (never eval).

Grammar (``^`` and ``**`` are both powers, right-associative and binding tighter than unary
minus, as in Python: ``-x^2`` is ``-(x^2)`` and ``2^-x`` is ``2^(-x)``)::

    sum     := product (("+" | "-") product)*
    product := unary (("*" | "/") unary)*
    unary   := ("-" | "+") unary | power
    power   := atom (("^" | "**") unary)?
    atom    := number | "x" | "y" | "pi" | "e" | function "(" sum ")" | "(" sum ")"

Numbers are decimal (``2``, ``0.5``, ``.5``, ``1e-3``); there is no implicit multiplication
(``2x`` is an error that says to write ``2*x``). Limits keep every formula cheap to parse,
differentiate and compile: at most ``MAX_LENGTH`` characters, ``MAX_NODES`` numbers, names and
operators, ``MAX_DEPTH`` levels of nesting (brackets, calls, unary minus, exponents), and a
literal exponent of at most ``MAX_EXPONENT`` in size. Every rejection is a ValueError that
names the column and what is allowed there. The user's text never reaches Python's compiler:
:mod:`landscapes._formula_codegen` prints the functions from the parsed tree.
"""

import math
import re
from collections.abc import Iterator
from numbers import Real
from typing import NamedTuple

import numpy as np

from landscapes import _formula_codegen as codegen
from landscapes._formula_codegen import CONSTANTS, FUNCTIONS, VARIABLES, BinOp, Call, Name, Neg, Num
from landscapes.surfaces import Surface

MAX_LENGTH = 300
MAX_NODES = 200
MAX_DEPTH = 30
MAX_EXPONENT = 64
MAX_NUMBER_LENGTH = 30

_ALLOWED = "allowed: numbers, x, y, pi, e, + - * / ^ ** ( ) and the functions " + ", ".join(
    sorted(FUNCTIONS)
)
_TOKEN = re.compile(
    r"(?P<space>[ \t]+)"
    r"|(?P<number>(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>\*\*|[-+*/^()])"
)
_OPERATORS = "an operator (+ - * / ^)"
_OPERAND = "a number, x, y, pi, e, a function or '('"

# Binding strength, loosest first; atoms (numbers, names, calls) bind tightest.
_SUM, _PRODUCT, _NEG, _POWER, _ATOM = range(1, 6)
_PRECEDENCE = {"+": _SUM, "-": _SUM, "*": _PRODUCT, "/": _PRODUCT, "^": _POWER}


def _error(message: str) -> ValueError:
    return ValueError(f"formula: {message}")


def _show(text: str) -> str:
    """A token for a message: quoted, escaped to ASCII, cut short."""
    return ascii(text if len(text) <= 20 else text[:20] + "...")


class _Token(NamedTuple):
    kind: str  # "number", "name", "op" or "end"
    text: str
    column: int

    def is_op(self, *texts: str) -> bool:
        return self.kind == "op" and self.text in texts


def _tokenize(text: str) -> Iterator[_Token]:
    """Tokens on demand, so the parser reports the leftmost problem first."""
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise _error(f"unexpected {_show(text[pos])} at column {pos + 1}; {_ALLOWED}")
        if match.lastgroup != "space":
            yield _Token(match.lastgroup, match.group(), pos + 1)
        pos = match.end()
    yield _Token("end", "", len(text) + 1)


class _Parser:
    """Recursive descent over the grammar above; ``depth`` counts nesting, not tokens."""

    def __init__(self, text: str):
        self.tokens = _tokenize(text)
        self.current: _Token | None = None
        self.nodes = 0

    def peek(self) -> _Token:
        if self.current is None:
            self.current = next(self.tokens)
        return self.current

    def take(self) -> _Token:
        token = self.peek()
        if token.kind != "end":
            self.current = None
        return token

    def node(self, node, token: _Token):
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _error(
                f"too long at column {token.column}: more than {MAX_NODES} numbers, names and "
                "operators"
            )
        return node

    def deeper(self, depth: int, token: _Token) -> int:
        if depth >= MAX_DEPTH:
            raise _error(f"nested more than {MAX_DEPTH} levels deep at column {token.column}")
        return depth + 1

    def unexpected(self, token: _Token, expected: str) -> ValueError:
        if token.kind == "end":
            return _error(
                f"unexpected end of formula at column {token.column}; expected {expected}"
            )
        hint = ""
        if expected.startswith(_OPERATORS) and token.kind in ("name", "number"):
            hint = " (multiplication needs '*', as in 2*x)"
        return _error(
            f"unexpected {_show(token.text)} at column {token.column}; expected {expected}{hint}"
        )

    def formula(self):
        tree = self.sum(0)
        token = self.peek()
        if token.kind != "end":
            raise self.unexpected(token, f"{_OPERATORS} or the end of the formula")
        return tree

    def sum(self, depth: int):
        left = self.product(depth)
        while self.peek().is_op("+", "-"):
            token = self.take()
            left = self.node(BinOp(token.text, left, self.product(depth)), token)
        return left

    def product(self, depth: int):
        left = self.unary(depth)
        while self.peek().is_op("*", "/"):
            token = self.take()
            left = self.node(BinOp(token.text, left, self.unary(depth)), token)
        return left

    def unary(self, depth: int):
        token = self.peek()
        if not token.is_op("+", "-"):
            return self.power(depth)
        self.take()
        arg = self.unary(self.deeper(depth, token))
        return arg if token.text == "+" else self.node(Neg(arg), token)

    def power(self, depth: int):
        base = self.atom(depth)
        token = self.peek()
        if not token.is_op("^", "**"):
            return base
        self.take()
        exponent = self.unary(self.deeper(depth, token))
        literal = exponent
        while isinstance(literal, Neg):
            literal = literal.arg
        if isinstance(literal, Num) and abs(literal.value) > MAX_EXPONENT:
            raise _error(
                f"exponent {to_text(exponent)} after column {token.column} is too large; "
                f"allowed: at most {MAX_EXPONENT} in size"
            )
        return self.node(BinOp("^", base, exponent), token)

    def atom(self, depth: int):
        token = self.take()
        if token.kind == "number":
            return self.node(Num(_number(token)), token)
        if token.is_op("("):
            return self.group(depth, token)
        if token.kind == "name" and (token.text in VARIABLES or token.text in CONSTANTS):
            return self.node(Name(token.text), token)
        if token.kind == "name" and token.text in FUNCTIONS:
            opening = self.take()
            if not opening.is_op("("):
                raise self.unexpected(opening, f"'(' after {token.text}")
            return self.node(Call(token.text, self.group(depth, opening)), token)
        if token.kind == "name":
            raise _error(f"unexpected {_show(token.text)} at column {token.column}; {_ALLOWED}")
        raise self.unexpected(token, _OPERAND)

    def group(self, depth: int, opening: _Token):
        inner = self.sum(self.deeper(depth, opening))
        closing = self.take()
        if not closing.is_op(")"):
            raise self.unexpected(closing, f"')' to close '(' at column {opening.column}")
        return inner


def _number(token: _Token) -> float:
    if len(token.text) > MAX_NUMBER_LENGTH:
        raise _error(
            f"number at column {token.column} is longer than {MAX_NUMBER_LENGTH} characters"
        )
    value = float(token.text)
    if not math.isfinite(value):
        raise _error(f"number {_show(token.text)} at column {token.column} is too large")
    return value


def parse(text: str) -> codegen.Node:
    """The syntax tree of a formula; ValueError (with the column) for anything else."""
    if not isinstance(text, str):
        raise _error(f"expected a string; got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise _error(f"too long: {len(text)} characters; allowed: at most {MAX_LENGTH}")
    if not text.strip(" \t"):
        raise _error("empty; type an expression in x and y such as x^2 + 3*sin(y)")
    return _Parser(text).formula()


def _precedence(node) -> int:
    if isinstance(node, BinOp):
        return _PRECEDENCE[node.op]
    return _NEG if isinstance(node, Neg) else _ATOM


def _number_text(value: float) -> str:
    if value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value)


def to_text(node) -> str:
    """The canonical text: minimal brackets, ``^`` for powers; ``parse`` gives ``node`` back."""
    match node:
        case Num(value):
            return _number_text(value)
        case Name(name):
            return name
        case Call(fn, arg):
            return f"{fn}({to_text(arg)})"
        case Neg(arg):
            return "-" + _bracket(to_text(arg), _precedence(arg) < _NEG)
        case BinOp(op, left, right):
            p = _PRECEDENCE[op]
            # ^ groups to the right and takes a unary exponent; the others group to the left.
            left_bracket = _precedence(left) <= p if op == "^" else _precedence(left) < p
            right_bracket = _precedence(right) < _NEG if op == "^" else _precedence(right) <= p
            spaced = f" {op} " if p == _SUM else op
            return (
                _bracket(to_text(left), left_bracket)
                + spaced
                + _bracket(to_text(right), right_bracket)
            )
    raise TypeError(f"not a formula node: {node!r}")


def _bracket(text: str, needed: bool, left: str = "(", right: str = ")") -> str:
    return f"{left}{text}{right}" if needed else text


def _number_latex(value: float) -> str:
    text = _number_text(value)
    if "e" not in text:
        return text
    mantissa, exponent = text.split("e")
    power = f"10^{{{int(exponent)}}}"
    return power if mantissa == "1" else rf"{mantissa} \times {power}"


def to_latex(node) -> str:
    """LaTeX for the formula panel: fractions, e^{...}, \\sqrt, |...|, \\pi."""
    match node:
        case Num(value):
            return _number_latex(value)
        case Name(name):
            return r"\pi" if name == "pi" else name
        case Call(fn, arg):
            return FUNCTIONS[fn].latex.format(to_latex(arg))
        case Neg(arg):
            return "-" + _latex_bracket(arg, _latex_precedence(arg) < _NEG)
        case BinOp("/", left, right):
            return rf"\frac{{{to_latex(left)}}}{{{to_latex(right)}}}"
        case BinOp("^", left, right):
            base = _latex_bracket(left, _latex_precedence(left) <= _POWER or isinstance(left, Call))
            return f"{base}^{{{to_latex(right)}}}"
        case BinOp(op, left, right):
            p = _PRECEDENCE[op]
            left_text = _latex_bracket(left, _latex_precedence(left) < p)
            right_text = to_latex(right)
            # A minus sign right after an operator reads badly: bracket it.
            if _latex_precedence(right) <= p or right_text.startswith("-"):
                right_text = _bracket(right_text, True, r"\left(", r"\right)")
            if op != "*":
                return f"{left_text} {op} {right_text}"
            return left_text + (r" \cdot " if right_text[0].isdigit() else r"\,") + right_text
    raise TypeError(f"not a formula node: {node!r}")


def _latex_precedence(node) -> int:
    return _ATOM if isinstance(node, BinOp) and node.op == "/" else _precedence(node)


def _latex_bracket(node, needed: bool) -> str:
    return _bracket(to_latex(node), needed, r"\left(", r"\right)")


def _check_domain(domain) -> tuple[tuple[float, float], tuple[float, float]]:
    message = (
        f"formula: domain must be ((x0, x1), (y0, y1)) with finite x0 < x1, y0 < y1; got {domain!r}"
    )
    try:
        (x0, x1), (y0, y1) = domain
    except (TypeError, ValueError):
        raise ValueError(message) from None
    values = (x0, x1, y0, y1)
    if not all(isinstance(v, Real) and not isinstance(v, bool) for v in values):
        raise ValueError(message)
    x0, x1, y0, y1 = map(float, values)
    if not (all(map(math.isfinite, (x1 - x0, y1 - y0))) and x0 < x1 and y0 < y1):
        raise ValueError(message)
    return (x0, x1), (y0, y1)


# Where to start, as fractions of the domain: the four quarter points, then a coarse grid.
_START_FRACTIONS = np.array(
    [(0.25, 0.75), (0.75, 0.25), (0.25, 0.25), (0.75, 0.75)]
    + [(i / 8, j / 8) for i in range(1, 8) for j in range(7, 0, -1)]
)


def _starts(f, grad, domain) -> tuple[tuple[float, float], ...]:
    """Up to two starts where the value and the gradient are finite (the first if none is)."""
    (x0, x1), (y0, y1) = domain
    xs = x0 + _START_FRACTIONS[:, 0] * (x1 - x0)
    ys = y0 + _START_FRACTIONS[:, 1] * (y1 - y0)
    with np.errstate(all="ignore"):
        finite = np.isfinite(f(xs, ys, ())) & np.all(np.isfinite(grad(xs, ys, ())), axis=0)
    chosen = np.flatnonzero(finite)[:2] if finite.any() else [0]
    return tuple((float(xs[i]), float(ys[i])) for i in chosen)


def compile_formula(text: str, domain=((-3.0, 3.0), (-3.0, 3.0))) -> Surface:
    """A :class:`Surface` named ``"custom"`` for a formula in x and y, with its exact gradient.

    ``f`` and ``grad`` live in a generated module (one per distinct formula, made once per
    process) so the engines can import them by name like any surface. Nothing is known about
    the minima: ``minima`` is empty and ``f_min`` is ``-inf``.
    """
    domain = _check_domain(domain)
    tree = parse(text)
    canonical = to_text(tree)
    f, grad = codegen.load(tree, canonical)
    return Surface(
        name="custom",
        title=canonical,
        f=f,
        grad=grad,
        domain=domain,
        minima=(),
        f_min=-math.inf,
        starts=_starts(f, grad, domain),
        lesson="Your own formula: nothing is known about its minima, so compare where each "
        "optimizer settles and how fast it gets there.",
        formula=to_latex(tree),
    )
