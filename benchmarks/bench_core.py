"""Speed of the Numba engine against a plain-numpy loop and the torch.optim eager loop.

Adam (torch defaults, lr=1e-3) on Rosenbrock, float64, all measured in this one process:

* numba single: ``numba_engine.run(spec)`` end to end (spec -> Trajectory, all arrays kept);
* numba batch: ``numba_engine.run_starts`` over 10^5 starts x 1000 steps (final points only);
* numpy loop: the same update written with numpy arrays, one Python iteration per step;
* torch.optim loop: the loop a torch user writes (zero_grad, loss, backward, step).

Times are the best of several repeats (this is a shared 2-core machine). JIT compile time is
measured in fresh subprocesses: once with an empty Numba cache, once loading from it.
"""

import os
import subprocess
import sys
import tempfile
import time

import numpy as np

import optim_core  # noqa: F401  (sets the Numba threading layer and cache first)
from landscapes import get_surface
from optim_core.engines import numba_engine
from optim_core.spec import RunSpec

LR, BETA1, BETA2, EPS = 1e-3, 0.9, 0.999, 1e-8
START = (-1.2, 1.0)


def best_of(fn, repeats):
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return min(times)


def numba_single(steps):
    """(per step with the optimizer's per-step constants memoised, as on an app rerun that
    moves the start; per step from scratch, a new lr every run)."""
    spec = RunSpec(hyperparameters=(("lr", LR),), start=START, steps=steps, tol=0.0)
    numba_engine.run(spec)
    warm = best_of(lambda: numba_engine.run(spec), 7) / steps
    fresh = iter(LR * (1 + 1e-6 * np.arange(1, 100)))
    cold = best_of(lambda: numba_engine.run(spec.with_(hyperparameters={"lr": next(fresh)})), 7)
    return warm, cold / steps


def numba_batch(runs, steps, block):
    spec = RunSpec(hyperparameters=(("lr", LR),), start=START, steps=steps, tol=0.0)
    rng = np.random.default_rng(0)
    starts = np.column_stack([rng.uniform(-2, 2, runs), rng.uniform(-1, 3, runs)])
    numba_engine.run_starts(spec.with_(steps=2), starts[:64], block=block)
    seconds = best_of(lambda: numba_engine.run_starts(spec, starts, block=block), 5)
    return runs * steps / seconds


def numpy_loop(steps):
    surface = get_surface("rosenbrock")

    def loop():
        p = np.array(START)
        m = np.zeros(2)
        v = np.zeros(2)
        for t in range(1, steps + 1):
            g = np.array(surface.grad(p[0], p[1], ()))
            m = BETA1 * m + (1 - BETA1) * g
            v = BETA2 * v + (1 - BETA2) * g * g
            m_hat = m / (1 - BETA1**t)
            v_hat = v / (1 - BETA2**t)
            p = p - LR * m_hat / (np.sqrt(v_hat) + EPS)
        return p

    return best_of(loop, 3) / steps


def torch_loop(steps):
    import torch

    torch.set_default_dtype(torch.float64)
    surface = get_surface("rosenbrock")

    def loop():
        p = torch.tensor(START, requires_grad=True)
        opt = torch.optim.Adam([p], lr=LR)
        for _ in range(steps):
            opt.zero_grad()
            surface.f(p[0], p[1], ()).backward()
            opt.step()

    loop()
    return best_of(loop, 3) / steps


def compile_seconds():
    """(first pair from an empty cache, a later start from the cache, one further pair's
    single-run kernel), each start in a fresh process."""
    code = (
        "import time; t=time.perf_counter(); from optim_core.engines import numba_engine; "
        "from optim_core.spec import RunSpec; numba_engine.warm_up(); u=time.perf_counter(); "
        "numba_engine.run(RunSpec(surface='himmelblau', optimizer='SGD', steps=3)); "
        "print(u-t, time.perf_counter()-u)"
    )
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        out = []
        for _ in range(2):
            done = subprocess.run(
                [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
            )
            out.append([float(v) for v in done.stdout.strip().splitlines()[-1].split()])
    (cold, next_pair), (warm, _) = out
    return cold, warm, next_pair


def main(quick: bool = False):
    steps = 2_000 if quick else 10_000
    runs = 10_000 if quick else 100_000
    single, single_cold = numba_single(steps)
    batch = numba_batch(runs, 1000, block=numba_engine.DEFAULT_BLOCK)
    numpy_step = numpy_loop(2_000 if not quick else 500)
    torch_step = torch_loop(2_000 if not quick else 300)
    cold, warm, next_pair = compile_seconds()

    rows = [
        ("numba single run", 1 / single, single),
        ("numba single run, cold constants", 1 / single_cold, single_cold),
        (f"numba batch ({runs:.0e} starts x 1000)", batch, 1 / batch),
        ("plain numpy loop", 1 / numpy_step, numpy_step),
        ("torch.optim eager loop", 1 / torch_step, torch_step),
    ]
    print("Adam on Rosenbrock, float64, this machine:", os.cpu_count(), "cores")
    print(f"{'engine':<36}{'steps/s':>14}{'ns/step':>12}{'vs torch':>12}{'vs numpy':>12}")
    for name, rate, per_step in rows:
        print(
            f"{name:<36}{rate:>14.3g}{per_step * 1e9:>12.1f}"
            f"{torch_step / per_step:>11.0f}x{numpy_step / per_step:>11.1f}x"
        )
    print(
        f"JIT: first compile {cold:.2f} s (empty cache), later start {warm:.2f} s (cache=True), "
        f"one further pair {next_pair:.2f} s"
    )
    return {"single": single, "batch": batch, "numpy": numpy_step, "torch": torch_step}


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
