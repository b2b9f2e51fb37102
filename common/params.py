"""Hyperparameters declared as data and validated once, at the boundary.

Every optimizer, schedule and surface lists its parameters as :class:`Param` rows (torch's
name, default, allowed values, one line of help). :func:`validate` checks a dict of user
values against such a table and raises one kind of message::

    ValueError: adam: 'lr' must be a float in [0, inf); got -1.0

Tests feed every row an invalid value generated from the same constraint (``invalid_example``).

Values come from people, links and scripts, so a check turns *any* object into either a clean
value or that one message: huge integers, inf, nan, bools, strings and numpy scalars of odd
dtypes included, the bad value quoted short (:func:`shown`). :func:`parse_number` reads a
number from text (a link, a text box) with the same care.
"""

import math
import re
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

MAX_NUMBER_CHARS = 64  # text of one number: 17 significant digits, sign, point, exponent fit
MAX_SHOWN_CHARS = 60  # a bad value quoted in a message
_SHORT_INT = 10**40  # integers this large are quoted by their leading digits and length


def real_value(value: Any) -> int | float | None:
    """``value`` as an exact int (integers) or a float, or None unless it is a finite real.

    Bools, strings, complex numbers, nan and inf are not; nor are numbers beyond float64's
    range (``float(10**400)`` raises OverflowError, ``math.isnan`` of it too), so every
    accepted value has a finite float and comparisons with the bounds are exact.
    """
    if isinstance(value, bool) or not isinstance(value, Real):
        return None
    try:
        as_float = float(value)
        exact = int(value) if isinstance(value, Integral) else as_float
    except (ArithmeticError, ValueError, TypeError):
        return None
    return exact if math.isfinite(as_float) else None


@dataclass(frozen=True)
class Interval:
    """A range of finite reals (or integers); ``closed`` says which ends belong to it. An
    infinite end never does: inf and nan are never a parameter's value."""

    low: float = -math.inf
    high: float = math.inf
    closed: str = "both"  # "both", "left", "right", "neither"
    integer: bool = False

    def normalise(self, value: Any) -> int | float | None:
        """``value`` as this interval's int or float, or None when it is not in the interval."""
        x = real_value(value)
        if x is None:
            return None
        if self.integer and isinstance(x, float):
            if not x.is_integer():
                return None
            x = int(x)
        lo_ok = x >= self.low if self.closed in ("both", "left") else x > self.low
        hi_ok = x <= self.high if self.closed in ("both", "right") else x < self.high
        if not (lo_ok and hi_ok):
            return None
        return x if self.integer else float(x)

    def contains(self, value: Any) -> bool:
        return self.normalise(value) is not None

    def describe(self) -> str:
        left = "[" if self.closed in ("both", "left") else "("
        right = "]" if self.closed in ("both", "right") else ")"
        kind = "an integer" if self.integer else "a float"
        low, high = _fmt(self.low, self.integer), _fmt(self.high, self.integer)
        return f"{kind} in {left}{low}, {high}{right}"

    def invalid_example(self) -> Any:
        if math.isfinite(self.low):
            return self.low - 1 if self.closed in ("both", "left") else self.low
        if math.isfinite(self.high):
            return self.high + 1 if self.closed in ("both", "right") else self.high
        return math.nan


@dataclass(frozen=True)
class Options:
    """One of a fixed set of values (strings or booleans)."""

    values: tuple

    def contains(self, value: Any) -> bool:
        return any(value is v or (type(value) is type(v) and value == v) for v in self.values)

    def describe(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)

    def invalid_example(self) -> Any:
        return "not-an-option" if isinstance(self.values[0], str) else "yes"


@dataclass(frozen=True)
class Pair:
    """A pair of values such as ``betas=(beta1, beta2)``, each with its own constraint."""

    first: Interval
    second: Interval

    def contains(self, value: Any) -> bool:
        return (
            isinstance(value, tuple | list)
            and len(value) == 2
            and self.first.contains(value[0])
            and self.second.contains(value[1])
        )

    def describe(self) -> str:
        return f"a pair ({self.first.describe()}, {self.second.describe()})"

    def invalid_example(self) -> Any:
        return (self.first.invalid_example(), 0.5)


@dataclass(frozen=True)
class Sequence:
    """A non-empty, non-decreasing sequence of values from ``item`` (e.g. milestones)."""

    item: Interval

    def contains(self, value: Any) -> bool:
        if not isinstance(value, tuple | list) or not value:
            return False
        items = [self.item.normalise(v) for v in value]
        if any(v is None for v in items):
            return False
        return all(a <= b for a, b in zip(items, items[1:], strict=False))

    def describe(self) -> str:
        return f"a non-empty non-decreasing list of {self.item.describe()}"

    def invalid_example(self) -> Any:
        return []


def _fmt(x: float, integer: bool = False) -> str:
    if x == math.inf:
        return "inf"
    if x == -math.inf:
        return "-inf"
    return str(int(x)) if integer else f"{x:g}"  # a bound of step counts in full: 1000000


FLOAT_POS = Interval(0.0, math.inf, "neither")
FLOAT_NONNEG = Interval(0.0, math.inf, "left")
UNIT_OPEN_RIGHT = Interval(0.0, 1.0, "left")
UNIT_CLOSED = Interval(0.0, 1.0, "both")
INT_POS = Interval(1, math.inf, "left", integer=True)
INT_NONNEG = Interval(0, math.inf, "left", integer=True)
BOOL = Options((False, True))


@dataclass(frozen=True)
class Param:
    name: str
    default: Any
    constraint: Interval | Options | Pair | Sequence
    help: str = ""

    def check(self, owner: str, value: Any) -> Any:
        """``value`` normalised (ints as int, reals as float, lists as tuples), or ValueError."""
        c = self.constraint
        if not c.contains(value):
            raise ValueError(f"{owner}: {self.name!r} must be {c.describe()}; got {shown(value)}")
        if isinstance(c, Interval):
            return c.normalise(value)
        if isinstance(c, Pair):
            return (float(c.first.normalise(value[0])), float(c.second.normalise(value[1])))
        if isinstance(c, Sequence):
            return tuple(c.item.normalise(v) for v in value)
        return value


def validate(owner: str, table: tuple[Param, ...], values: dict[str, Any]) -> dict[str, Any]:
    """Defaults filled in, every value checked and normalised; unknown names rejected."""
    known = {p.name: p for p in table}
    unknown = sorted(shown(k) for k in set(values) - set(known))
    if unknown:
        raise ValueError(
            f"{owner}: unknown parameter {unknown[0]}; expected one of {', '.join(known)}"
        )
    return {p.name: p.check(owner, values.get(p.name, p.default)) for p in table}


def lookup(kind: str, registry: dict, name: str):
    """``registry[name]`` with a message that lists the valid names."""
    try:
        return registry[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown {kind} {shown(name)}; expected one of {', '.join(sorted(registry))}"
        ) from None


def shown(value: Any) -> str:
    """``repr(value)`` fit for a message: at most MAX_SHOWN_CHARS, huge integers by their
    leading digits and length (``repr`` of an int over 4300 digits raises ValueError)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= _SHORT_INT:
        text = _short_int(value)
    elif isinstance(value, tuple | list):
        items = ", ".join(shown(v) for v in value[:8]) + (", ..." if len(value) > 8 else "")
        if isinstance(value, list):
            text = f"[{items}]"
        else:
            text = f"({items}{',' if len(value) == 1 else ''})"
    else:
        try:
            text = repr(value)
        except Exception:  # any object may arrive here, with a __repr__ that fails
            text = f"<{type(value).__name__}>"
    return text if len(text) <= MAX_SHOWN_CHARS else text[: MAX_SHOWN_CHARS - 3] + "..."


def _short_int(n: int) -> str:
    digits = int(math.log10(abs(n))) + 1  # math.log10 takes ints of any size; off by one at most
    if abs(n) < 10 ** (digits - 1):
        digits -= 1
    elif abs(n) >= 10**digits:
        digits += 1
    head = abs(n) // 10 ** (digits - 6)
    return f"{'-' if n < 0 else ''}{head}...({digits} digits)"


_NUMBER = re.compile(r"([+-]?)(?:([0-9]+)(?:\.([0-9]*))?|\.([0-9]+))(?:[eE]([+-]?[0-9]+))?")


def parse_number(text: str, integer: bool) -> int | float:
    """The number in ``text`` (a link's value, a text box): ``int`` when ``integer``.

    Stricter than ``float(text)``, which also takes Arabic-Indic and fullwidth digits,
    underscores, 'inf' and 'nan': only ASCII digits in decimal or exponent notation (``3``,
    ``-0.5``, ``1e-3``), surrounding spaces allowed, at most MAX_NUMBER_CHARS characters,
    finite, and whole when ``integer`` (``1e3`` and ``100.0`` are). Raises ValueError with a
    message meant for the person who typed it.
    """
    kind = "a whole number" if integer else "a number"
    examples = "3, 500 or 1e3" if integer else "3, 0.01 or 1e-3"
    if not isinstance(text, str):
        raise ValueError(f"expected {kind} as text; got {shown(text)}")
    if len(text) > MAX_NUMBER_CHARS:
        raise ValueError(
            f"expected {kind} of at most {MAX_NUMBER_CHARS} characters; got {len(text)} characters"
        )
    clean = text.strip(" \t\r\n")
    match = _NUMBER.fullmatch(clean)
    if match is None:
        raise ValueError(
            f"expected {kind} written with digits 0-9, like {examples}; got {shown(text)}"
        )
    value = float(clean)
    if not math.isfinite(value):
        raise ValueError(f"expected {kind} no larger than 1.8e308; got {shown(text)}")
    if not integer:
        return value
    sign, whole, fraction, bare_fraction, exponent = match.groups()
    fraction = fraction or bare_fraction or ""
    # Exact in integers, where float() rounds 9007199254740993 to ...992. Zero first: its
    # exponent may be any size. Else a finite value bounds a positive shift by ~308, and a
    # negative one longer than the digits leaves a fraction.
    digits = (whole or "") + fraction
    mantissa = int(digits)
    shift = int(exponent or 0) - len(fraction)
    if mantissa == 0:
        return 0
    if shift < 0 and (-shift > len(digits) or mantissa % 10**-shift):
        raise ValueError(f"expected a whole number; got {shown(text)}")
    number = mantissa * 10**shift if shift >= 0 else mantissa // 10**-shift
    return -number if sign == "-" else number
