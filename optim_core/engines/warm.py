"""``python -m optim_core.engines.warm``: compile at install time what a first visit needs.

Numba keeps compiled kernels on disk, in the directory ``common`` names by a hash of the
sources. This fills it with the single-run kernels of the app's default race and of every
lesson, the formula interpreter of every optimizer (what custom formulas run on, and what
draws any other pair's first result while that pair compiles, see ``numba_engine``), the
basin-map kernel of the default race, and the helpers that prepare a search's batch. A
server started afterwards loads them instead of compiling them. ``scripts/setup.sh`` and
``scripts/app.sh`` run it after installing; run again with everything cached, it only loads
(a few seconds). Prints one line: what and how long.
"""

import time

import numpy as np

from common import xmath

from ..config import LabConfig, config_from_lesson
from ..lessons import LESSONS
from ..optimizers import OPTIMIZERS
from ..spec import RunSpec
from . import numba_engine

# Any formula does: every formula shares its optimizer's interpreter kernels.
_FORMULA = "x^2 + y^2"


def first_visit_specs() -> list[RunSpec]:
    """The runs of the default race and of every lesson (the pages a class opens first)."""
    configs = [LabConfig(), *(config_from_lesson(lesson) for lesson in LESSONS.values())]
    return [spec for config in configs for spec in config.specs()]


def interpreter_specs() -> list[RunSpec]:
    """One formula run per optimizer: its interpreter kernels, plain and with SAM."""
    return [
        RunSpec(surface="custom", formula=_FORMULA, optimizer=name, steps=2, sam_rho=rho)
        for name in OPTIMIZERS
        for rho in (0.0, 0.05)
    ]


def work() -> list[tuple[str, RunSpec]]:
    """What to compile, one pair per item: ("run", spec) for a single-run kernel (the default
    race first), ("starts", spec) for the basin map's kernel of the default race."""
    runs, seen = [], set()
    for spec in first_visit_specs() + interpreter_specs():
        # Optimizers that share an update rule (Adam, AdamW) share their kernels.
        pair = (spec.surface, spec.formula, spec.optimizer_def.update, spec.sam_rho > 0.0)
        if pair not in seen:
            seen.add(pair)
            runs.append(("run", spec))
    # The Basins tab compares the first two racers.
    return runs + [("starts", spec) for spec in LabConfig().specs()[:2]]


def _compile(item: tuple[str, RunSpec]) -> None:
    kind, spec = item
    if kind == "run":
        numba_engine.warm_up([spec])
    else:
        numba_engine.run_starts(spec.with_(steps=2), np.array([spec.start]))


def _compile_batch_helpers() -> None:
    """The compiled helpers that prepare a search's batch (``xmath``'s powers of a column of
    betas, its sqrt of a large array): ~1 s that a first search would otherwise wait."""
    xmath.inverse_one_minus_powers(np.full((2, 1), 0.9), np.arange(1.0, 3.0))
    xmath.sqrt(np.ones(xmath.SQRT_LOOP_SIZE))


def warm() -> tuple[int, float]:
    """Compile (or load) every kernel of ``work()`` into the disk cache: (kernels, seconds).

    One process, in order: with everything cached this is only the loads (a few seconds,
    as when ``app.sh`` starts the app again); from nothing, about a second per kernel.
    """
    began = time.perf_counter()
    items = work()
    for item in items:
        _compile(item)
    _compile_batch_helpers()
    return len(items), time.perf_counter() - began


def main() -> None:
    kernels, seconds = warm()
    print(
        f"optim-lab: {kernels} Numba kernels (default race, lessons, formula interpreters) "
        f"compiled or loaded in {seconds:.1f} s",
        flush=True,
    )


if __name__ == "__main__":
    main()
