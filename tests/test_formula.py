"""User formulas: parsing, rejections, generated value and gradient, Numba and the engine."""

import ast
import importlib
import math
import pathlib
import re
import sys
import time

import numba
import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from numpy import cos, exp, log, sin, sqrt, tan, tanh

from landscapes import get_surface
from landscapes._formula_codegen import FUNCTIONS, BinOp, Call, Name, Neg, Num, module_source
from landscapes.formula import (
    MAX_EXPONENT,
    MAX_LENGTH,
    MAX_NODES,
    compile_formula,
    parse,
    to_latex,
    to_text,
)
from optim_core.engines import numba_engine
from optim_core.spec import RunSpec

UNIT = ((-3.0, 3.0), (-3.0, 3.0))
POSITIVE = ((0.2, 3.0), (0.2, 3.0))

# (formula, numpy reference written by hand, domain to sample)
VALID = [
    ("x**2 + 3*sin(y)", lambda x, y: x**2 + 3 * sin(y), UNIT),
    ("(1-x)^2 + 100*(y-x^2)^2", lambda x, y: (1 - x) ** 2 + 100 * (y - x**2) ** 2, UNIT),
    ("exp(-(x^2+y^2)) * cos(3*x)", lambda x, y: exp(-(x**2 + y**2)) * cos(3 * x), UNIT),
    ("-x^2 - y ^ 2", lambda x, y: -(x**2) - y**2, UNIT),
    ("2^-x * y", lambda x, y: 2.0 ** (-x) * y, UNIT),
    ("x^y^0.5", lambda x, y: x ** (y**0.5), POSITIVE),
    ("x^-2 + y^(1/3) + x**y", lambda x, y: x**-2.0 + y ** (1 / 3) + x**y, POSITIVE),
    ("sqrt(x^2 + y^2 + 1) / (1 + abs(y))", lambda x, y: sqrt(x**2 + y**2 + 1) / (1 + abs(y)), UNIT),
    ("tanh(x*y) - log(1 + x^2) + tan(y/4)", lambda x, y: tanh(x*y) - log(1+x**2) + tan(y/4), UNIT),
    ("pi*x - e^y + 1e-3*x^4 + .5", lambda x, y: np.pi * x - np.e**y + 1e-3 * x**4 + 0.5, UNIT),
    ("x / y - y / x", lambda x, y: x / y - y / x, POSITIVE),
    ("--x + +y - 2.5E+1", lambda x, y: x + y - 25.0, UNIT),
    ("sin(cos(tan(x)))*exp(sqrt(abs(y)))", lambda x, y: sin(cos(tan(x))) * exp(sqrt(abs(y))), UNIT),
    ("(x - 1)^3 * (y + 2)^4 / 10", lambda x, y: (x - 1) ** 3 * (y + 2) ** 4 / 10, UNIT),
    ("x*x*x - 3*x*y^2 + 0*log(y) + y^0", lambda x, y: x**3 - 3 * x * y**2 + 1.0, UNIT),
    ("3", lambda x, y: np.full_like(x + y, 3.0), UNIT),
]  # fmt: skip
IDS = [text for text, _, _ in VALID]


def _points(domain, n, seed):
    rng = np.random.default_rng(seed)
    (x0, x1), (y0, y1) = domain
    return rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)


@pytest.mark.parametrize(("text", "reference", "domain"), VALID, ids=IDS)
def test_value_matches_a_hand_written_reference(text, reference, domain):
    surface = compile_formula(text, domain)
    xs, ys = _points(domain, 64, seed=1)
    np.testing.assert_allclose(surface.f(xs, ys, ()), reference(xs, ys), rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize(("text", "reference", "domain"), VALID, ids=IDS)
def test_gradient_matches_autograd_of_the_generated_value(text, reference, domain):
    surface = compile_formula(text, domain)
    xs, ys = _points(domain, 64, seed=2)
    x = torch.tensor(xs, requires_grad=True)
    y = torch.tensor(ys, requires_grad=True)
    auto = torch.autograd.grad(surface.f(x, y, ()).sum(), (x, y))
    hand = surface.grad(x.detach(), y.detach(), ())
    scale = 1.0 + max(float(g.abs().max()) for g in auto)
    for h, a in zip(hand, auto, strict=True):
        assert torch.isfinite(a).all()
        torch.testing.assert_close(h, a, rtol=1e-9, atol=1e-12 * scale)


# Every operator and function, at about a second of compiling per formula.
NUMBA_CASES = [VALID[i] for i in (0, 6, 7, 8, 12, 15)]


@pytest.mark.parametrize(
    ("text", "reference", "domain"), NUMBA_CASES, ids=[c[0] for c in NUMBA_CASES]
)
def test_numba_compiles_and_agrees(text, reference, domain):
    surface = compile_formula(text, domain)
    f_jit, grad_jit = numba.njit(surface.f), numba.njit(surface.grad)
    xs, ys = _points(domain, 8, seed=3)
    for x, y in zip(xs, ys, strict=True):
        assert f_jit(x, y, np.empty(0)) == pytest.approx(surface.f(x, y, ()), rel=1e-12)
        expected = surface.grad(x, y, ())
        scale = 1.0 + max(abs(g) for g in expected)
        assert grad_jit(x, y, np.empty(0)) == pytest.approx(expected, rel=1e-12, abs=1e-13 * scale)


def test_singular_points_give_inf_or_nan_never_an_exception():
    # Each term is singular at (0, -1) or constant and undefined; none may raise.
    terms = ["1/x", "log(x)", "x^-2", "sqrt(y)", "x^y", "y^0.5", "1/0", "log(-1)", "(-8)^(1/3)"]
    surface = compile_formula(" + ".join(terms))
    jit = numba.njit(error_model="numpy")  # as the engine compiles them
    value = jit(surface.f)(0.0, -1.0, np.empty(0))
    gx, gy = jit(surface.grad)(0.0, -1.0, np.empty(0))
    assert math.isnan(value) and math.isnan(gx) and math.isnan(gy)
    with np.errstate(all="ignore"):
        assert np.isnan(surface.f(np.zeros(3), -np.ones(3), ())).all()


@pytest.mark.parametrize("text", ["x^2 + 3*sin(y)", "x^2", "y", "3"])
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_outputs_broadcast_like_the_inputs(text, backend):
    surface = compile_formula(text)
    xs, ys = np.linspace(-1, 1, 3)[:, None], np.linspace(-2, 2, 4)[None, :]
    if backend == "torch":
        xs, ys = torch.from_numpy(xs), torch.from_numpy(ys)
    for out in (surface.f(xs, ys, ()), *surface.grad(xs, ys, ())):
        assert isinstance(out, type(xs)) and out.shape == (3, 4) and out.dtype == xs.dtype


def test_engine_runs_a_formula_like_the_registered_surface():
    rosenbrock = get_surface("rosenbrock")
    lr, steps = 1e-3, 300
    spec = {
        "surface": "custom",
        "formula": "(1 - x)^2 + 100*(y - x^2)^2",
        "domain": rosenbrock.domain,
        "optimizer": "SGD",
        "hyperparameters": {"lr": lr},
    }
    traj = numba_engine.run(RunSpec.from_dict({**spec, "start": [-1.2, 1.0], "steps": steps}))
    expected = [np.array([-1.2, 1.0])]
    for _ in range(steps):  # plain gradient descent on the registered, hand-written gradient
        expected.append(expected[-1] - lr * np.array(rosenbrock.grad(*expected[-1], ())))
    np.testing.assert_allclose(traj.positions, expected, rtol=1e-9)
    assert traj.loss[-1] < traj.loss[0]


def test_surface_entry_is_well_formed_and_memoised():
    surface = compile_formula("log(x) + y^2")
    (x0, x1), (y0, y1) = surface.domain
    assert surface.name == "custom" and surface.title == "log(x) + y^2"
    assert surface.minima == () and surface.f_min == -math.inf and surface.params == ()
    assert re.fullmatch(r"[A-Z][^.!?]*\.", surface.lesson)
    assert surface.formula == r"\ln\left(x\right) + y^{2}"
    assert 1 <= len(surface.starts) <= 4
    for x, y in surface.starts:
        assert x0 <= x <= x1 and y0 <= y <= y1
        assert math.isfinite(surface.f(np.float64(x), np.float64(y), ()))
    again = compile_formula("log( x )+y**2", ((0, 1), (0, 1)))
    assert again.f is surface.f and again.grad is surface.grad
    module = importlib.import_module(surface.f.__module__)
    assert (module.f, module.grad) == (surface.f, surface.grad)


_GENERATED_NAMES = {"x", "y", "a", "f", "grad", "math", "abs", "_INF", "_NAN"}


def test_generated_module_uses_only_whitelisted_names():
    surface = compile_formula("abs(x)^0.5 * tan(y) - 1/0 + log(-1) + exp(x)^y")
    source = pathlib.Path(sys.modules[surface.f.__module__].__file__).read_text()
    allowed = _GENERATED_NAMES | set(FUNCTIONS) | {"sign"}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Name):
            assert node.id in allowed or re.fullmatch(r"t\d+", node.id), node.id
        if isinstance(node, ast.Attribute):
            assert (node.value.id, node.attr) in {("math", "inf"), ("math", "nan")}


@pytest.mark.parametrize(
    ("text", "latex"),
    [
        ("(1-x)^2 + 100*(y-x^2)^2", r"\left(1 - x\right)^{2} + 100\,\left(y - x^{2}\right)^{2}"),
        ("exp(-x)/sqrt(abs(y))", r"\frac{e^{-x}}{\sqrt{\left|y\right|}}"),
        ("2*3 - -pi*1e-05", r"2 \cdot 3 - \left(-\pi \cdot 10^{-5}\right)"),
        ("x*-y + -2", r"x\,\left(-y\right) + \left(-2\right)"),
        ("sin(x)^2", r"\left(\sin\left(x\right)\right)^{2}"),
    ],
)
def test_latex(text, latex):
    assert to_latex(parse(text)) == latex


def test_derivatives_are_simplified():
    source = module_source(parse("x^2 + 0*y + 1*x*y - x/2"), "")
    grad = source[source.index("def grad") :]
    # d/dx = 2x + y - 1/2 in three operations, d/dy = x; no multiplications by 0 or 1 remain.
    assert grad.count("\n") == 5 and "0.5" in grad, grad
    assert re.search(r"return t\d+, x \+ 0\.0 \* y", grad), grad
    assert not re.search(r"\b1\.0 \*|\* 1\.0|0\.0 \* t", grad), grad


def test_precedence_follows_python():
    x, y, two = Name("x"), Name("y"), Num(2.0)
    assert parse("-x^2") == Neg(BinOp("^", x, two))
    assert parse("x^y^2") == BinOp("^", x, BinOp("^", y, two))
    assert parse("2^-x") == BinOp("^", two, Neg(x))
    assert parse("x - y - 2") == BinOp("-", BinOp("-", x, y), two)
    assert parse("x / y * 2") == BinOp("*", BinOp("/", x, y), two)
    assert parse("x ** 2") == parse("x^2") == parse(" ( x ) ^ ( 2 ) ")


REJECTED = {
    "empty": ("", "empty"),
    "blank": (" \t ", "empty"),
    "import call": ("__import__('os')", "'__import__' at column 1"),
    "dunder": ("x.__class__", "'.' at column 2"),
    "lambda": ("lambda: 0", "'lambda' at column 1"),
    "import": ("import os", "'import' at column 1"),
    "semicolon": ("x; y", "';' at column 2"),
    "newline": ("x\ny", r"'\\n' at column 2"),
    "unicode x": ("\uff58 + 1", r"'\\uff58' at column 1"),
    "cyrillic e": ("\u0435^x", r"'\\u0435' at column 1"),
    "unicode digit": ("\u0663", r"'\\u0663' at column 1"),
    "nul": ("x\x00", "column 2"),
    "implicit product": ("2x", "'x' at column 2.*2\\*x"),
    "call without parens": ("sin x", "'\\(' after sin"),
    "unclosed": ("sin(x", "end of formula at column 6.*'\\)' to close '\\(' at column 4"),
    "stray close": ("x)", "'\\)' at column 2"),
    "dangling op": ("x +", "end of formula at column 4"),
    "constant call": ("pi(x)", "'\\(' at column 3"),
    "unknown function": ("asin(x)", "'asin' at column 1"),
    "comma": ("x, y", "',' at column 2"),
    "deep parens": ("(" * 10_000 + "x" + ")" * 10_000, "too long: 20001 characters"),
    "nested parens": ("(" * 40 + "x" + ")" * 40, "nested more than 30"),
    "nested calls": ("sin(" * 40 + "x" + ")" * 40, "nested more than 30"),
    "power tower": ("x^" * 60 + "x", "nested more than 30"),
    "minus chain": ("-" * 200 + "x", "nested more than 30"),
    "many terms": ("+".join(["x"] * 150), f"more than {MAX_NODES}"),
    "long number": ("1" * 200, "longer than 30 characters"),
    "huge number": ("1e999", "'1e999' at column 1 is too large"),
    "huge exponent": ("x^1000000", "exponent 1000000 after column 2 is too large"),
    "huge negative exponent": ("x^-(100)", "exponent -100"),
    "double dot": ("1..2", "column 3"),
    "not a string": (b"x", "expected a string"),
}


@pytest.mark.parametrize(("text", "message"), REJECTED.values(), ids=REJECTED.keys())
def test_invalid_formulas_are_rejected_quickly_with_the_position(text, message):
    began = time.perf_counter()
    with pytest.raises(ValueError, match=message):
        compile_formula(text)
    assert time.perf_counter() - began < 0.2


def test_limits_allow_flat_long_formulas():
    assert to_text(parse("+".join(["x"] * 100))) == " + ".join(["x"] * 100)
    parse("(" * 29 + "x" + ")" * 29)
    parse(f"x^{MAX_EXPONENT} + y^-{MAX_EXPONENT}")


@pytest.mark.parametrize(
    "domain",
    [((1, 0), (0, 1)), ((0, 1), (0, 0)), ((0, math.inf), (0, 1)), ((0, 1), (math.nan, 1)),
     ((-1e308, 1e308), (0, 1)), ((True, 2), (0, 1)), (("0", 1), (0, 1)), ((0, 1),), "ab", None],
)  # fmt: skip
def test_bad_domains_are_rejected(domain):
    with pytest.raises(ValueError, match="domain must be"):
        compile_formula("x", domain)


def _small_exponent(node) -> bool:
    while isinstance(node, Neg):
        node = node.arg
    return not isinstance(node, Num) or node.value <= MAX_EXPONENT


_LEAVES = st.one_of(
    st.floats(min_value=0.0, allow_nan=False, allow_infinity=False).map(lambda v: Num(abs(v))),
    st.sampled_from(["x", "y", "pi", "e"]).map(Name),
)
TREES = st.recursive(
    _LEAVES,
    lambda children: st.one_of(
        children.map(Neg),
        st.builds(Call, st.sampled_from(sorted(FUNCTIONS)), children),
        st.builds(BinOp, st.sampled_from("+-*/"), children, children),
        st.builds(BinOp, st.just("^"), children, children.filter(_small_exponent)),
    ),
    max_leaves=12,
)


def _depth(node) -> int:
    children = [getattr(node, name) for name in ("arg", "left", "right") if hasattr(node, name)]
    return 1 + max(map(_depth, children), default=0)


@settings(max_examples=300, deadline=None)
@given(TREES)
def test_printing_then_parsing_gives_the_same_tree(tree):
    text = to_text(tree)
    assume(len(text) <= MAX_LENGTH and _depth(tree) <= 15)
    assert parse(text) == tree
    assert to_text(parse(text)) == text
    latex = to_latex(tree)
    assert latex.count("{") == latex.count("}")


_TOKENS = ["x", "y", "pi", "e", "0", "2", "0.5", "1e-3", "+", "-", "*", "/", "^", "**", "(", ")"]
_TOKEN_SOUP = st.lists(st.sampled_from(_TOKENS + sorted(FUNCTIONS)), max_size=40).map("".join)


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.text(max_size=MAX_LENGTH + 20), _TOKEN_SOUP))
def test_any_text_parses_or_raises_value_error(text):
    try:
        parse(text)
    except ValueError as error:
        assert str(error).startswith("formula: ")


@settings(max_examples=60, deadline=None, derandomize=True)
@given(TREES)
def test_every_formula_compiles_and_evaluates_on_arrays(tree):
    text = to_text(tree)
    assume(len(text) <= MAX_LENGTH and _depth(tree) <= 15)
    surface = compile_formula(text)
    xs, ys = _points(surface.domain, 16, seed=4)
    with np.errstate(all="ignore"):
        for out in (surface.f(xs, ys, ()), *surface.grad(xs, ys, ())):
            assert out.shape == xs.shape and out.dtype == xs.dtype
