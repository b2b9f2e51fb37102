"""How it is minimised: optimizers, schedules, engines, and the small public API.

>>> import optim_core
>>> traj = optim_core.run("rosenbrock", "Adam", lr=0.05, steps=2000,
...                       schedule="CosineAnnealingLR", schedule_params={"T_max": 2000})
>>> traj.message, traj.final_loss  # doctest: +SKIP
"""

import common  # noqa: F401  (first: fixes Numba's threading layer and cache dir)

from .engines import numba_engine
from .optimizers import OPTIMIZERS, get_optimizer
from .schedules import SCHEDULES, make_schedule
from .spec import RunSpec
from .trajectory import BatchResult, Trajectory


def run(
    surface: str = "rosenbrock",
    optimizer: str = "Adam",
    *,
    schedule: str = "none",
    schedule_params: dict | None = None,
    surface_params: dict | None = None,
    start: tuple[float, float] | None = None,
    steps: int = 500,
    noise: float = 0.0,
    seed: int = 0,
    tol: float = 1e-6,
    **hyperparameters,
) -> Trajectory:
    """One run with torch's hyperparameter names, e.g. ``run("rastrigin", "SGD", lr=1e-3,
    momentum=0.9)``. Bad values raise ValueError; a run that blows up returns a Trajectory
    whose ``message`` says "diverged at step k"."""
    spec = RunSpec.from_dict(
        {
            "surface": surface,
            "optimizer": optimizer,
            "hyperparameters": hyperparameters,
            "schedule": schedule,
            "schedule_params": schedule_params or {},
            "surface_params": surface_params or {},
            "start": start,
            "steps": steps,
            "noise": noise,
            "seed": seed,
            "tol": tol,
        }
    )
    return numba_engine.run(spec)


__all__ = [
    "OPTIMIZERS",
    "SCHEDULES",
    "BatchResult",
    "RunSpec",
    "Trajectory",
    "get_optimizer",
    "make_schedule",
    "run",
]
