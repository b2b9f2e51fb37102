"""Hyperparameters declared as data and validated once, at the boundary.

Every optimizer, schedule and surface lists its parameters as :class:`Param` rows (torch's
name, default, allowed values, one line of help). :func:`validate` checks a dict of user
values against such a table and raises one kind of message::

    ValueError: adam: 'lr' must be a float in [0, inf); got -1.0

Tests feed every row an invalid value generated from the same constraint (``invalid_example``).
"""

import math
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any


@dataclass(frozen=True)
class Interval:
    """A real (or integer) range; ``closed`` says which ends belong to it."""

    low: float = -math.inf
    high: float = math.inf
    closed: str = "both"  # "both", "left", "right", "neither"
    integer: bool = False

    def contains(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, Real):
            return False
        if self.integer and not (isinstance(value, Integral) or float(value).is_integer()):
            return False
        if math.isnan(value):
            return False
        lo_ok = value >= self.low if self.closed in ("both", "left") else value > self.low
        hi_ok = value <= self.high if self.closed in ("both", "right") else value < self.high
        return lo_ok and hi_ok

    def describe(self) -> str:
        left = "[" if self.closed in ("both", "left") else "("
        right = "]" if self.closed in ("both", "right") else ")"
        kind = "an integer" if self.integer else "a float"
        return f"{kind} in {left}{_fmt(self.low)}, {_fmt(self.high)}{right}"

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
        ok = all(self.item.contains(v) for v in value)
        return ok and all(a <= b for a, b in zip(value, value[1:], strict=False))

    def describe(self) -> str:
        return f"a non-empty non-decreasing list of {self.item.describe()}"

    def invalid_example(self) -> Any:
        return []


def _fmt(x: float) -> str:
    if x == math.inf:
        return "inf"
    if x == -math.inf:
        return "-inf"
    return f"{x:g}"


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
        if not self.constraint.contains(value):
            raise ValueError(
                f"{owner}: {self.name!r} must be {self.constraint.describe()}; got {value!r}"
            )
        if isinstance(self.constraint, Interval) and self.constraint.integer:
            return int(value)
        if isinstance(self.constraint, Interval):
            return float(value)
        if isinstance(self.constraint, Pair):
            return (float(value[0]), float(value[1]))
        if isinstance(self.constraint, Sequence):
            return tuple(int(v) if self.constraint.item.integer else float(v) for v in value)
        return value


def validate(owner: str, table: tuple[Param, ...], values: dict[str, Any]) -> dict[str, Any]:
    """Defaults filled in, every value checked and normalised; unknown names rejected."""
    known = {p.name: p for p in table}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(
            f"{owner}: unknown parameter {unknown[0]!r}; expected one of {', '.join(known)}"
        )
    return {p.name: p.check(owner, values.get(p.name, p.default)) for p in table}


def lookup(kind: str, registry: dict, name: str):
    """``registry[name]`` with a message that lists the valid names."""
    try:
        return registry[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown {kind} {name!r}; expected one of {', '.join(sorted(registry))}"
        ) from None
