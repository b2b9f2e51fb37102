"""The results table: one row per run, plain values (the app only displays them)."""

import math

import numpy as np

from landscapes import Surface

from .trajectory import Trajectory


def results_rows(runs: list[tuple[str, Trajectory]], surface: Surface) -> list[dict]:
    minima = list(surface.minima) + list(surface.local_minima)
    rows = []
    for label, traj in runs:
        spec = traj.spec
        nearest, distance = _nearest(traj, minima, surface)
        rows.append(
            {
                "run": label,
                "optimizer": spec.optimizer,
                "schedule": spec.schedule,
                "result": traj.message,
                "final loss": traj.final_loss,
                "nearest minimum": nearest,
                "distance": distance,
                "final x": float(traj.final_position[0]),
                "final y": float(traj.final_position[1]),
            }
        )
    return rows


def _nearest(traj: Trajectory, minima, surface: Surface):
    if not minima or traj.diverged:
        return "—", math.nan
    points = np.asarray(minima, dtype=np.float64)
    d = np.linalg.norm(points - traj.final_position, axis=1)
    k = int(np.argmin(d))
    kind = "global" if k < len(surface.minima) else "local"
    x, y = points[k]
    return f"{kind} ({x:.3g}, {y:.3g})", float(d[k])
