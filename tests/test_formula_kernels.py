"""Custom formulas through the Numba engine: one shared interpreter, no code per formula.

These go through ``numba_engine`` and so need ``Prepared.a`` to carry the formula's program
(``Surface.kernel_data``) and the pair template to pass ``a`` whole where
``N_SURFACE_PARAMS < 0``.
"""

import os
import pathlib
import sys

import numba
import numpy as np
import pytest

from optim_core.engines import numba_engine
from optim_core.spec import RunSpec


def _spec(formula: str, **changes) -> RunSpec:
    return RunSpec(surface="custom", formula=formula, optimizer="Adam", **{"steps": 200, **changes})


def _generated() -> tuple[set[str], set[pathlib.Path]]:
    """Generated modules in this process, and files in the cache's generated folders."""
    modules = {n for n in sys.modules if n.startswith(("optim_lab_pair_", "optim_lab_formula"))}
    base = pathlib.Path(numba.config.CACHE_DIR)
    files = {p for folder in ("pairs", "formulas") for p in (base / folder).glob("*.py")}
    return modules, files


def test_new_formulas_compile_nothing_and_write_nothing():
    numba_engine.run(_spec("x^2 + y^2"))  # the shared kernel, compiled or loaded once
    before = _generated()
    for k in range(3):
        traj = numba_engine.run(_spec(f"(x - {k})^2 + 3*y^2 + sin({k + 1}*x)"))
        assert np.isfinite(traj.loss).all() and traj.loss[-1] < traj.loss[0]
    assert _generated() == before


def test_batch_kernel_reads_the_program_like_a_single_run():
    spec = _spec("min(x, y)^2 + max(x^2, 2*y) + 0.1*x*y", start=(1.0, -2.0))
    starts = np.array([[1.0, -2.0], [-1.5, 2.5], [2.0, 0.5]])
    batch = numba_engine.run_starts(spec, starts)
    for start, final in zip(starts, batch.final, strict=True):
        single = numba_engine.run(spec.with_(start=tuple(start)))
        np.testing.assert_array_equal(final, single.final_position)


def test_custom_rosenbrock_runs_exactly_like_the_registered_one():
    custom = _spec("(1 - x)^2 + 100*(y - x^2)^2", start=(-1.2, 1.0), steps=500)
    builtin = RunSpec(surface="rosenbrock", optimizer="Adam", steps=500, start=(-1.2, 1.0))
    np.testing.assert_allclose(
        numba_engine.run(custom).positions, numba_engine.run(builtin).positions, rtol=1e-12
    )


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.slow
def test_memory_stays_bounded_over_many_formulas():
    # Once each formula compiled its own kernel: +7-9 MiB per formula, never freed.
    numba_engine.run(_spec("x^2 + y^2"))
    first = _rss_mib()
    for k in range(50):
        numba_engine.run(_spec(f"x^2 + {k + 2}*y^2 + sin({k}*x)"))
    assert _rss_mib() - first < 100.0
