"""The results table: one row per run, as the text a reader sees (the app only displays it).

Numbers are rounded to three significant digits, in exponent form outside [1e-3, 1e4)
("2e-16", not a clipped "0.0000000000000002"); anything missing (a diverged run has no
nearest minimum) is "—", never "None" or "nan".
"""

import math

import numpy as np

from landscapes import Surface

from .trajectory import Trajectory

MISSING = "—"
COLUMNS = ("run", "optimizer", "schedule", "result", "final loss", "nearest minimum", "distance")
# Relative widths that fit the columns' usual text side by side in the 560 px the table gets
# beside the sidebar on a 1024 px screen (the app stretches them to the page's width).
WIDTHS = (125, 70, 75, 140, 62, 118, 55)


def number(value) -> str:
    """``value`` to three significant digits; exponent form when very small or large."""
    if value is None or not math.isfinite(value):
        return MISSING
    text = f"{value:.3g}"
    if value != 0 and not 1e-3 <= abs(value) < 1e4 or "e" in text:
        return _exponent(value)
    return text


def _exponent(value: float) -> str:
    mantissa, exponent = f"{value:.2e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def point(xy) -> str:
    return f"({number(float(xy[0]))}, {number(float(xy[1]))})"


def results_rows(runs: list[tuple[str, Trajectory]], surface: Surface) -> list[dict]:
    minima = list(surface.minima) + list(surface.local_minima)
    rows = []
    for label, traj in runs:
        spec = traj.spec
        nearest, distance = _nearest(traj, minima, surface)
        values = (label, spec.optimizer, spec.schedule, traj.message, number(traj.final_loss),
                  nearest, number(distance))  # fmt: skip
        rows.append(dict(zip(COLUMNS, values, strict=True)))
    return rows


def _nearest(traj: Trajectory, minima, surface: Surface):
    if not minima or traj.diverged:
        return MISSING, math.nan
    points = np.asarray(minima, dtype=np.float64)
    d = np.linalg.norm(points - traj.final_position, axis=1)
    k = int(np.argmin(d))
    kind = "global" if k < len(surface.minima) else "local"
    return f"{kind} {point(points[k])}", float(d[k])
