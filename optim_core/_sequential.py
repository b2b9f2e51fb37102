"""SequentialLR: one schedule after another, each restarting from its own step 0.

At milestone ``m_k`` torch's SequentialLR calls ``_update_lr(0)`` on child k: it restarts from
the base lr, whatever the previous child left in the optimizer. So child k at global step t is
simply child k's closed form at ``t - m_k``.
"""

from dataclasses import dataclass

import numpy as np

from ._cyclic import bad_value

SEQUENTIAL_CHILDREN = (
    "none",
    "StepLR",
    "MultiStepLR",
    "ConstantLR",
    "LinearLR",
    "ExponentialLR",
    "PolynomialLR",
    "CosineAnnealingLR",
    "CosineAnnealingWarmRestarts",
    "InverseTimeLR",
)
_OWNS_LR = (
    "it sets its own lr and momentum: in torch its constructor rewrites the optimizer's"
    " initial lr or momentum for every child, so the result depends on construction order"
)
_NOT_A_CHILD = {
    "CyclicLR": _OWNS_LR,
    "OneCycleLR": _OWNS_LR,
    "ReduceLROnPlateau": "it needs the loss; torch rejects it too",
    "SequentialLR": "torch cannot restart a nested SequentialLR at a milestone",
}


@dataclass(frozen=True)
class ScheduleList:
    """Constraint of SequentialLR's ``schedulers``: ``[{"name": "LinearLR", **params}, ...]``."""

    def contains(self, value) -> bool:
        return (
            isinstance(value, tuple | list)
            and len(value) >= 2
            and all(isinstance(v, dict) and isinstance(v.get("name"), str) for v in value)
        )

    def describe(self) -> str:
        return "a list of at least 2 {'name': <schedule>, **params} dicts"

    def invalid_example(self) -> list:
        return []


def check_sequential(p: dict, child_params) -> dict:
    """Each child validated by ``child_params(name, values)``, then the milestones."""
    children = []
    for i, spec in enumerate(p["schedulers"]):
        name = spec["name"]
        if name not in SEQUENTIAL_CHILDREN:
            why = _NOT_A_CHILD.get(name, "unknown schedule")
            raise ValueError(
                f"SequentialLR: schedulers[{i}] must name one of {', '.join(SEQUENTIAL_CHILDREN)};"
                f" got {name!r} ({why})"
            )
        values = {k: v for k, v in spec.items() if k != "name"}
        try:
            children.append({"name": name, **child_params(name, values)})
        except ValueError as err:
            raise ValueError(f"SequentialLR: schedulers[{i}]: {err}") from None
    milestones = p["milestones"]
    n = len(children) - 1
    if len(milestones) != n:
        allowed = f"{n} steps (one per child after the first)"
        raise bad_value("SequentialLR", "milestones", allowed, milestones)
    if any(a >= b for a, b in zip(milestones, milestones[1:], strict=False)):
        # a child between two equal milestones would never run
        raise bad_value("SequentialLR", "milestones", "strictly increasing", milestones)
    return {"schedulers": tuple(children), "milestones": milestones}


def sequential_lr(t: np.ndarray, lr0: float, p: dict, registry: dict) -> np.ndarray:
    starts = (0, *p["milestones"])
    child = np.searchsorted(p["milestones"], t, side="right")
    out = np.empty(t.shape)
    for k, spec in enumerate(p["schedulers"]):
        here = child == k
        params = {name: v for name, v in spec.items() if name != "name"}
        out[here] = registry[spec["name"]].lr_fn(t[here] - starts[k], lr0, params)
    return out
