"""Many trajectories at once: numba batch vs the torch engine (CPU, and CUDA when present),
and a 256 x 256 basin-of-attraction map."""

import time

import numpy as np
import torch

from optim_core import maps
from optim_core.engines import numba_engine, torch_engine
from optim_core.spec import RunSpec

SPEC = RunSpec(hyperparameters=(("lr", 1e-3),), start=(-1.2, 1.0), steps=1000, tol=0.0)


def _rate(fn, runs, steps, repeats=3):
    fn(min(runs, 64))
    best = min(_timed(fn, runs) for _ in range(repeats))
    return runs * steps / best, best


def _timed(fn, runs):
    began = time.perf_counter()
    fn(runs)
    return time.perf_counter() - began


def _starts(n):
    rng = np.random.default_rng(0)
    return np.column_stack([rng.uniform(-2, 2, n), rng.uniform(-1, 3, n)])


def main(quick: bool = False):
    rows = []
    n = 20_000 if quick else 100_000
    rows.append(
        (
            "numba batch (CPU)",
            n,
            *_rate(lambda k: numba_engine.run_starts(SPEC, _starts(k)), n, 1000),
        )
    )
    n_cpu = 2_000 if quick else 10_000
    rows.append(
        (
            "torch-cpu",
            n_cpu,
            *_rate(
                lambda k: torch_engine.run_starts(SPEC, _starts(k), device="cpu"), n_cpu, 1000, 1
            ),
        )
    )
    if torch.cuda.is_available():
        for dtype, name in ((torch.float32, "float32"), (torch.float64, "float64")):

            def on_gpu(k, dtype=dtype):
                torch_engine.run_starts(SPEC, _starts(k), device="cuda", dtype=dtype)
                torch.cuda.synchronize()

            n_gpu = 1_000_000
            rows.append(
                (
                    f"torch-cuda {name} ({torch.cuda.get_device_name()})",
                    n_gpu,
                    *_rate(on_gpu, n_gpu, 1000, 2),
                )
            )
    print("Adam on Rosenbrock, 1000 steps per trajectory:")
    print(f"{'engine':<48}{'trajectories':>14}{'traj*steps/s':>16}{'seconds':>10}")
    for name, runs, rate, seconds in rows:
        print(f"{name:<48}{runs:>14,}{rate:>16.3g}{seconds:>10.3f}")
    basin_spec = RunSpec(
        surface="himmelblau", optimizer="Adam", hyperparameters=(("lr", 0.05),), steps=500
    )
    maps.basin_map(basin_spec, 16)
    began = time.perf_counter()
    maps.basin_map(basin_spec, 256)
    seconds = time.perf_counter() - began
    print(f"basin map 256x256, Adam on Himmelblau, 500 steps, numba CPU: {seconds:.3f} s")
    return rows
