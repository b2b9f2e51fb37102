"""Where a custom formula is drawn and where its runs start (checked, never trusted)."""

import math
from numbers import Real

import numpy as np


def check_domain(domain) -> tuple[tuple[float, float], tuple[float, float]]:
    message = (
        "formula: domain must be ((x0, x1), (y0, y1)) with finite x0 < x1, y0 < y1; "
        f"got {_plain(domain)}"
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


def _plain(value, depth: int = 0) -> str:
    """A value as a user would write it, never a Python repr (``np.float64(1.0)``, ``<...>``)."""
    if isinstance(value, Real) and not isinstance(value, bool):
        return repr(float(value)) if not float(value).is_integer() else str(int(value))
    if isinstance(value, str):
        return ascii(value if len(value) <= 20 else value[:20] + "...")
    if isinstance(value, tuple | list | np.ndarray) and depth < 3 and len(value) <= 4:
        return "(" + ", ".join(_plain(v, depth + 1) for v in value) + ")"
    return "nothing" if value is None else f"a {type(value).__name__}"


# Where to start, as fractions of the domain: the four quarter points, then a coarse grid.
_START_FRACTIONS = np.array(
    [(0.25, 0.75), (0.75, 0.25), (0.25, 0.25), (0.75, 0.75)]
    + [(i / 8, j / 8) for i in range(1, 8) for j in range(7, 0, -1)]
)


def starts(f, grad, domain) -> tuple[tuple[float, float], ...]:
    """Up to two starts where the value and the gradient are finite (the first if none is)."""
    (x0, x1), (y0, y1) = domain
    xs = x0 + _START_FRACTIONS[:, 0] * (x1 - x0)
    ys = y0 + _START_FRACTIONS[:, 1] * (y1 - y0)
    with np.errstate(all="ignore"):
        finite = np.isfinite(f(xs, ys, ())) & np.all(np.isfinite(grad(xs, ys, ())), axis=0)
    chosen = np.flatnonzero(finite)[:2] if finite.any() else [0]
    return tuple((float(xs[i]), float(ys[i])) for i in chosen)
