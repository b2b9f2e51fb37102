"""A user's formula in x and y -> :class:`Surface`, through a whitelist parser (never eval).

Grammar (``^`` and ``**`` are both powers, right-associative and binding tighter than unary
minus, as in Python: ``-x^2`` is ``-(x^2)`` and ``2^-x`` is ``2^(-x)``)::

    sum     := product (("+" | "-") product)*
    product := unary (("*" | "/") unary)*
    unary   := ("-" | "+") unary | power
    power   := atom (("^" | "**") unary)?
    atom    := number | "x" | "y" | "pi" | "e" | "(" sum ")"
             | function "(" sum ")" | ("min" | "max") "(" sum "," sum ")"

Numbers are decimal (``2``, ``0.5``, ``.5``, ``1e-3``); there is no implicit multiplication
(``2x`` is an error that says to write ``2*x``). Limits keep every formula cheap to parse,
differentiate and evaluate: at most ``MAX_FORMULA_CHARS`` characters both as typed and in the
canonical form that is stored (so a stored formula always reads back), ``MAX_NODES`` numbers,
names and operators, ``MAX_DEPTH`` levels of nesting (brackets, calls, unary minus,
exponents), and a literal exponent of at most ``MAX_EXPONENT`` in size. Every rejection is a
ValueError that quotes what was typed, names the column and what is allowed there. The
user's text never reaches Python's compiler: :mod:`landscapes._formula_codegen` turns the
parsed tree into a program for one shared interpreter.
"""

import math
import re
from collections.abc import Iterator
from dataclasses import replace
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from common.limits import MAX_FORMULA_CHARS
from landscapes import _formula_codegen as codegen
from landscapes._formula_codegen import (
    BINARY_FUNCTIONS,
    CONSTANTS,
    FUNCTIONS,
    VARIABLES,
    BinaryCall,
    BinOp,
    Call,
    Name,
    Neg,
    Num,
)
from landscapes._formula_domain import check_domain, starts
from landscapes._formula_print import to_latex, to_text, to_torch
from landscapes._formula_vm import FormulaFunction
from landscapes.surfaces import Surface

__all__ = ["MAX_FORMULA_CHARS", "compile_formula", "parse", "to_latex", "to_text", "to_torch"]

MAX_NODES = 200
MAX_DEPTH = 30
MAX_EXPONENT = 64
MAX_NUMBER_LENGTH = 30

_ALLOWED = (
    "allowed: numbers, x, y, pi, e, + - * / ^ ** ( ) and the functions "
    + ", ".join(sorted(FUNCTIONS))
    + " and min(a, b), max(a, b)"
)
_TOKEN = re.compile(
    r"(?P<space>[ \t]+)"
    r"|(?P<number>(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>\*\*|[-+*/^(),])"
)
_OPERATORS = "an operator (+ - * / ^)"
_OPERAND = "a number, x, y, pi, e, a function or '('"


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
        if token.kind == "name" and (token.text in FUNCTIONS or token.text in BINARY_FUNCTIONS):
            opening = self.take()
            if not opening.is_op("("):
                raise self.unexpected(opening, f"'(' after {token.text}")
            if token.text in FUNCTIONS:
                return self.node(Call(token.text, self.group(depth, opening)), token)
            left = self.sum(self.deeper(depth, opening))
            comma = self.take()
            if not comma.is_op(","):
                raise self.unexpected(comma, f"',' and a second argument of {token.text}")
            right = self.group(depth, opening)
            return self.node(BinaryCall(token.text, left, right), token)
        if token.kind == "name":
            raise _error(f"unknown name {_show(token.text)} at column {token.column}; {_ALLOWED}")
        raise self.unexpected(token, _OPERAND)

    def group(self, depth: int, opening: _Token):
        """The rest of a bracket or call opened by ``opening``, up to its ')'."""
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
        raise _error("expected a string: the formula as text")
    if len(text) > MAX_FORMULA_CHARS:
        raise _error(f"too long: {len(text)} characters; allowed: at most {MAX_FORMULA_CHARS}")
    if not text.strip(" \t"):
        raise _error("empty; type an expression in x and y such as x^2 + 3*sin(y)")
    return _Parser(text).formula()


def compile_formula(text: str, domain=((-3.0, 3.0), (-3.0, 3.0))) -> Surface:
    """A :class:`Surface` named ``"custom"`` for a formula in x and y, with its exact gradient.

    ``title`` is the canonical text, which is what a run stores: it is held to
    ``MAX_FORMULA_CHARS`` as well, so whatever is accepted here is accepted when read back.
    ``f`` and ``grad`` evaluate the formula's program (see :mod:`landscapes._formula_vm`);
    the same formula gives an equal surface every time. Nothing is known about the minima:
    ``minima`` is empty and ``f_min`` is ``-inf``.
    """
    domain = check_domain(domain)
    canonical = to_text(parse(text))
    if len(canonical) > MAX_FORMULA_CHARS:
        raise _error(
            f"too long once written out in full: {len(canonical)} characters as stored "
            f"({_show(canonical)}); allowed: at most {MAX_FORMULA_CHARS} (shorten numbers "
            "such as 1e15, or drop terms)"
        )
    return replace(_compiled(canonical), domain=domain, starts=_domain_starts(canonical, domain))


@lru_cache(maxsize=128)
def _compiled(canonical: str) -> Surface:
    """The surface of a canonical formula but for its domain and starts; the cache is bounded,
    so a process that sees many distinct formulas holds at most this many programs."""
    tree = parse(canonical)
    program = codegen.program(tree)
    return Surface(
        name="custom",
        title=canonical,
        f=FormulaFunction(program, 1),
        grad=FormulaFunction(program, 2),
        domain=((-3.0, 3.0), (-3.0, 3.0)),
        minima=(),
        f_min=-math.inf,
        starts=(),  # per domain, see _domain_starts
        lesson=f"Your own formula f(x, y) = {canonical}: nothing is known about its minima, "
        "so compare where each optimizer settles and how fast it gets there.",
        formula=to_latex(tree),
        torch=to_torch(tree),
        kernel_data=np.frombuffer(program),
    )


@lru_cache(maxsize=128)
def _domain_starts(canonical: str, domain) -> tuple[tuple[float, float], ...]:
    surface = _compiled(canonical)
    return starts(surface.f, surface.grad, domain)
