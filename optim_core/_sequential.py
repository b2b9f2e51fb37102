"""SequentialLR: one schedule after another, each restarting from its own step 0.

At milestone ``m_k`` torch's SequentialLR calls ``_update_lr(0)`` on child k: it restarts from
the base lr, whatever the previous child left in the optimizer. So child k at global step t is
simply child k's closed form at ``t - m_k``. Which schedules may be a phase, how many steps
each can run and its torch source are the phases' own entries' to say; this module asks them.
"""

from dataclasses import dataclass

import numpy as np

from common.params import shown

from ._cyclic import bad_value
from ._torch_text import SCHED, block_list, call, literal


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


def check_sequential(p: dict, registry: dict, phase_params) -> dict:
    """Each phase validated by ``phase_params(name, values)``, then the milestones."""
    children = []
    for i, spec in enumerate(p["schedulers"]):
        name = spec["name"]
        if name not in registry or not registry[name].warmup_ok:
            phases = ", ".join(n for n, d in registry.items() if d.warmup_ok)
            why = registry[name].not_a_phase if name in registry else "unknown schedule"
            raise ValueError(
                f"SequentialLR: schedulers[{i}] must name one of {phases};"
                f" got {shown(name)} ({why})"
            )
        values = {k: v for k, v in spec.items() if k != "name"}
        try:
            children.append({"name": name, **phase_params(name, values)})
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
        out[here] = registry[spec["name"]].lr_fn(t[here] - starts[k], lr0, _values(spec))
    return out


def check_phase_steps(p: dict, steps: int, registry: dict) -> None:
    """Each phase's own ``steps_check`` on the steps it runs of a ``steps``-step run."""
    starts = (0, *p["milestones"])
    ends = (*p["milestones"], steps)
    for i, (spec, start, end) in enumerate(zip(p["schedulers"], starts, ends, strict=True)):
        check = registry[spec["name"]].steps_check
        if check is None or min(end, steps) <= start:
            continue
        try:
            check(_values(spec), min(end, steps) - start)
        except ValueError as err:
            raise ValueError(f"SequentialLR: schedulers[{i}]: {err}") from None


def sequential_source(p: dict, indent: int, registry: dict) -> str:
    """torch's SequentialLR of each phase's own source."""
    children = [
        registry[c["name"]].torch_source(_values(c), indent + 8, True) for c in p["schedulers"]
    ]
    inner = block_list(children, indent + 4)
    milestones = literal(list(p["milestones"]))
    args = ["optimizer", f"schedulers={inner}", f"milestones={milestones}"]
    return call(f"{SCHED}SequentialLR", args, indent)


def _values(spec: dict) -> dict:
    return {k: v for k, v in spec.items() if k != "name"}
