"""Numbers at the boundary: any object into a Param check, any text into parse_number.

Both must give a clean value or the standard ValueError (naming the parameter, the allowed
values and the bad value, shown short), never another exception: huge integers made
``math.isnan`` raise OverflowError, and ``repr`` of an int over 4300 digits raises itself.
"""

import math
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import optim_core
from common.params import MAX_NUMBER_CHARS, MAX_SHOWN_CHARS, Interval, parse_number, shown
from landscapes import SURFACES
from optim_core.optimizers import OPTIMIZERS, check_hyperparameters
from optim_core.schedules import SCHEDULES, make_schedule

TABLES = [
    *((f"optimizer {n}", o.params) for n, o in OPTIMIZERS.items()),
    *((f"schedule {n}", d.params) for n, d in SCHEDULES.items()),
    *((f"surface {n}", s.params) for n, s in SURFACES.items()),
]
PARAMS = [(owner, p) for owner, table in TABLES for p in table]
PYTHON_INTERNALS = ("Exceeds the limit", "could not convert", "invalid literal", "Traceback")

NUMPY_SCALARS = st.one_of(
    hnp.from_dtype(np.dtype(kind))
    for kind in ("float16", "float32", "float64", "longdouble", "int8", "int64", "uint64")
    + ("bool", "complex64", "complex128")
)
NUMBERS = st.one_of(
    st.integers(),
    st.integers(min_value=10**300, max_value=10**5000),
    st.integers(min_value=-(10**5000), max_value=-(10**300)),
    st.floats(),
    st.booleans(),
    st.fractions(),
    st.decimals(),
    st.complex_numbers(),
    NUMPY_SCALARS,
    st.none(),
    st.text(max_size=8),
    st.sampled_from(["nan", "inf", "0.1", "١٢", b"1"]),
)
VALUES = st.recursive(
    NUMBERS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)


def assert_standard_message(err, owner: str, name: str) -> None:
    message = str(err)
    assert message.startswith(f"{owner}: {name!r} must be "), message
    assert "; got " in message, message
    assert not any(text in message for text in PYTHON_INTERNALS), message
    assert len(message) < 400, message


def test_a_huge_learning_rate_is_a_value_error():
    # Was OverflowError from math.isnan(10**400) inside Interval.contains.
    with pytest.raises(ValueError) as err:
        optim_core.run("rosenbrock", "Adam", lr=10**400)
    assert_standard_message(err.value, "Adam", "lr")
    assert str(err.value).endswith("got 100000...(401 digits)")


BAD_NUMBERS = [
    10**400,
    -(10**5000),
    math.inf,
    -math.inf,
    math.nan,
    True,
    "0.1",
    None,
    1 + 0j,
    np.float16("inf"),
    np.longdouble("1e400"),
    np.complex128(0.1),
    np.bool_(True),
    Fraction(10**400, 3),
    Decimal("0.1"),
]


@pytest.mark.parametrize("value", BAD_NUMBERS, ids=lambda v: shown(v)[:20])
def test_bad_numbers_give_the_standard_message(value):
    with pytest.raises(ValueError) as err:
        check_hyperparameters("SGD", {"lr": value})
    assert_standard_message(err.value, "SGD", "lr")
    assert str(err.value).endswith(f"got {shown(value)}")
    with pytest.raises(ValueError) as err:
        make_schedule("CosineAnnealingWarmRestarts", 0.1, T_0=5, T_mult=value)
    assert_standard_message(err.value, "CosineAnnealingWarmRestarts", "T_mult")


def test_infinity_is_not_a_divisor():
    # Interval(1, inf) held inf when closed on both ends: OneCycleLR started at lr 0.
    with pytest.raises(ValueError, match=r"'div_factor' must be a float in \[1, inf\); got inf"):
        make_schedule("OneCycleLR", 0.1, max_lr=1.0, total_steps=100, div_factor=math.inf)


def test_huge_values_are_shown_short():
    assert shown(10**5000) == "100000...(5001 digits)"
    assert shown(-(10**41) + 1) == "-999999...(41 digits)"
    assert shown(10**39) == repr(10**39)
    assert shown("x" * 10_000) == repr("x" * (MAX_SHOWN_CHARS - 4))[:-1] + "..."
    assert len(shown([10**5000] * 1000)) == MAX_SHOWN_CHARS
    assert shown((1,)) == "(1,)" and shown([1.5, "a"]) == "[1.5, 'a']"


def test_numpy_scalars_are_normalised_to_python_numbers():
    for value, expected in [(np.float32(0.5), 0.5), (np.int8(3), 3.0), (np.uint64(7), 7.0)]:
        lr = check_hyperparameters("SGD", {"lr": value})["lr"]
        assert lr == expected and type(lr) is float
    step_size = make_schedule("StepLR", 0.1, step_size=np.uint64(7)).params["step_size"]
    assert step_size == 7 and type(step_size) is int


@settings(max_examples=400, deadline=None)
@given(param=st.sampled_from(PARAMS), value=VALUES)
def test_any_value_into_any_param_is_a_value_or_a_value_error(param, value):
    owner, p = param
    try:
        checked = p.check(owner, value)
    except ValueError as err:
        assert_standard_message(err, owner, p.name)
        return
    if isinstance(p.constraint, Interval):
        assert type(checked) is (int if p.constraint.integer else float)
        assert math.isfinite(checked) and p.constraint.contains(checked)
    assert p.check(owner, checked) == checked  # normalised values pass again unchanged


@settings(max_examples=200, deadline=None)
@given(name=st.sampled_from(sorted(OPTIMIZERS)), key=st.text(max_size=12), value=VALUES)
def test_any_hyperparameter_is_a_value_or_a_value_error(name, key, value):
    key = key if key and key[0] != "a" else "lr"  # often a known name
    try:
        check_hyperparameters(name, {key: value})
    except ValueError as err:
        assert not any(text in str(err) for text in PYTHON_INTERNALS), str(err)


# ---- parse_number ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "integer", "expected"),
    [
        ("3", False, 3.0),
        (" -0.5 ", False, -0.5),
        ("1e-3", False, 1e-3),
        ("+.5E2", False, 50.0),
        ("5.", False, 5.0),
        ("1e-400", False, 0.0),
        ("500", True, 500),
        ("1e3", True, 1000),
        ("100.0", True, 100),
        ("120e-1", True, 12),
        ("-0", True, 0),
        ("0e99999999999999999999", True, 0),
        ("9007199254740993", True, 9007199254740993),  # float() would round it
    ],
)
def test_parse_number_reads_plain_ascii_numbers(text, integer, expected):
    value = parse_number(text, integer)
    assert value == expected and type(value) is (int if integer else float)


@pytest.mark.parametrize(
    ("text", "integer", "says"),
    [
        ("١٢", False, "digits 0-9"),  # Arabic-Indic: float() reads 12
        ("１２", True, "digits 0-9"),  # fullwidth: float() reads 12
        ("1_000", True, "digits 0-9"),
        ("inf", False, "digits 0-9"),
        ("nan", False, "digits 0-9"),
        ("0x10", True, "digits 0-9"),
        ("", False, "digits 0-9"),
        ("1e", False, "digits 0-9"),
        ("1e309", False, "no larger than 1.8e308"),
        ("2.5", True, "expected a whole number; got '2.5'"),
        ("1e-99999999999", True, "whole number"),
        ("1" * (MAX_NUMBER_CHARS + 1), True, f"at most {MAX_NUMBER_CHARS} characters"),
        (None, False, "as text"),
        (3, True, "as text"),
    ],
)
def test_parse_number_rejects_with_a_clean_message(text, integer, says):
    if text in ("١٢", "１２"):
        assert float(text) == 12
    with pytest.raises(ValueError) as err:
        parse_number(text, integer)
    assert says in str(err.value)
    assert not any(t in str(err.value) for t in PYTHON_INTERNALS)
    assert len(str(err.value)) < 150


TEXTS = st.one_of(
    st.text(max_size=80),
    st.text(alphabet="0123456789+-.eE _\t٠١２infa", max_size=30),
    st.from_regex(r"\A[+-]?[0-9]{0,25}(\.[0-9]{0,25})?([eE][+-]?[0-9]{1,25})?\Z"),
)


@settings(max_examples=500, deadline=None)
@given(text=TEXTS, integer=st.booleans())
def test_any_text_is_a_finite_number_or_a_value_error(text, integer):
    try:
        value = parse_number(text, integer)
    except ValueError as err:
        assert not any(t in str(err) for t in PYTHON_INTERNALS)
        assert len(str(err)) < 150
        return
    assert type(value) is (int if integer else float)
    assert math.isfinite(value)
    assert text.isascii() and len(text) <= MAX_NUMBER_CHARS
    assert value == (int(float(text)) if integer and abs(value) < 2**53 else value)
    if not integer:
        assert value == float(text)


@settings(max_examples=200, deadline=None)
@given(x=st.floats(allow_nan=False, allow_infinity=False), n=st.integers(-(10**40), 10**40))
def test_parse_number_round_trips_python_numbers(x, n):
    assert parse_number(repr(x), False) == x
    assert parse_number(str(n), True) == n
