"""What a racer's schedule will do, before the run: the curves under its settings."""

import numpy as np

from .engines.prepare import schedule_arrays
from .spec import RunSpec, freeze


def schedule_curves(optimizer: str, h: dict, schedule: str, params: dict, steps: int):
    """(lr per step, momentum per step or None) as the run would use them (ValueError if the
    settings are invalid, with the run's own message)."""
    spec = RunSpec(
        optimizer=optimizer, hyperparameters=freeze(h), schedule=schedule,
        schedule_params=freeze(params), steps=steps,
    )  # fmt: skip
    lr, momentum, _ = schedule_arrays(spec.lr_schedule, spec.optimizer_def, spec.h, steps)
    return lr, (momentum if np.isfinite(momentum).all() and np.ptp(momentum) > 0 else None)
