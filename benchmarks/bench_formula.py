"""Custom formulas: first-result latency, memory over many formulas, ns per step.

    python -m benchmarks.bench_formula

Goals: after the first custom formula of a process (which compiles or loads the shared
interpreter kernel), a new formula's first result within 1 s; resident memory after 50
distinct formulas within +100 MiB of after the first.
"""

import os
import statistics
import time

import numpy as np

from benchmarks.bench_core import best_of
from optim_core.engines import numba_engine
from optim_core.spec import RunSpec

FORMULAS = 50


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _best(fn, repeats: int = 5) -> float:
    fn()  # warm: the first call may compile
    return best_of(fn, repeats)


def _ns_per_step(custom: RunSpec, builtin: RunSpec, starts: np.ndarray) -> None:
    for name, spec in (("custom formula", custom), ("built-in", builtin)):
        single = _best(lambda spec=spec: numba_engine.run(spec)) / spec.steps * 1e9
        short = spec.with_(steps=500)
        batch = _best(lambda s=short: numba_engine.run_starts(s, starts), 3)
        per_run_step = batch / short.steps / len(starts) * 1e9
        print(
            f"  {name:15s} single run {single:7.1f} ns/step   batch {per_run_step:6.2f} ns/run-step"
        )


def main(quick: bool = False) -> None:
    began = time.perf_counter()
    numba_engine.run(RunSpec(surface="custom", formula="x^2 + y^2", steps=500))
    warm = time.perf_counter() - began
    print(f"first custom formula in the process (compile or load): {warm:.2f} s")
    first = _rss_mib()
    latencies = []
    for k in range(FORMULAS):
        spec_began = time.perf_counter()
        formula = f"x^2 + {k + 2}*y^2 + sin({k}*x) + max(x, {k}*y)"
        numba_engine.run(RunSpec(surface="custom", formula=formula, steps=500))
        latencies.append(time.perf_counter() - spec_began)
    median, worst = 1e3 * statistics.median(latencies), 1e3 * max(latencies)
    print(
        f"first result of a new formula ({FORMULAS} formulas): median {median:.1f} ms, "
        f"max {worst:.1f} ms (goal 1000 ms)"
    )
    print(f"RSS after {FORMULAS} formulas: +{_rss_mib() - first:.1f} MiB over the first (goal 100)")
    common = {"optimizer": "Adam", "steps": 10_000, "start": (-1.2, 1.0), "tol": 0.0}
    custom = RunSpec(surface="custom", formula="(1 - x)^2 + 100*(y - x^2)^2", **common)
    builtin = RunSpec(surface="rosenbrock", **common)
    starts = np.random.default_rng(0).uniform(-1.5, 1.5, (1024, 2))
    print("Rosenbrock, Adam:")
    _ns_per_step(custom, builtin, starts)


if __name__ == "__main__":
    main()
