"""Search throughput: batched ask/tell through ``run_settings`` vs ``study.optimize`` one
trial at a time through ``numba_engine.run`` (Adam on Rastrigin, 500 steps), in memory.

Prints trials/s and the share of the wall time spent in the engine (the rest is Optuna:
sampling, storage, and building specs).
"""

import time

import optuna

from optim_core.engines import numba_engine
from optim_core.search import DIVERGED_LOSS, Float, make_sampler, search, spec_for
from optim_core.spec import RunSpec

BASE = RunSpec(surface="rastrigin", optimizer="Adam", steps=500)
SPACE = {"lr": Float(1e-4, 1.0, log=True), "beta1": Float(0.5, 0.99), "beta2": Float(0.9, 0.9999)}
BATCH = {"random": 256, "tpe": 16}  # TPE learns only between batches


class EngineClock:
    """Wraps an engine function and adds up the seconds spent inside it."""

    def __init__(self, name: str):
        self.name, self.seconds, self.original = name, 0.0, getattr(numba_engine, name)

    def __enter__(self):
        def timed(*args, **kwargs):
            began = time.perf_counter()
            try:
                return self.original(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - began

        setattr(numba_engine, self.name, timed)
        return self

    def __exit__(self, *exc):
        setattr(numba_engine, self.name, self.original)


def batched(sampler: str, n: int) -> tuple[float, float]:
    with EngineClock("run_settings") as clock:
        began = time.perf_counter()
        search(BASE, SPACE, sampler, n_trials=n, batch=BATCH[sampler], seed=0)
        wall = time.perf_counter() - began
    return wall, clock.seconds


def one_at_a_time(sampler: str, n: int) -> tuple[float, float]:
    def objective(trial):
        traj = numba_engine.run(spec_for(trial, SPACE, BASE))
        return DIVERGED_LOSS if traj.diverged else traj.final_loss

    study = optuna.create_study(sampler=make_sampler(sampler, SPACE, 0))
    with EngineClock("run") as clock:
        began = time.perf_counter()
        study.optimize(objective, n_trials=n)
        wall = time.perf_counter() - began
    return wall, clock.seconds


def main(quick: bool = False) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    search(BASE, SPACE, "random", n_trials=2, batch=2)  # compile / load the kernels
    numba_engine.run(BASE)
    print(f"search: {BASE.optimizer} on {BASE.surface}, {BASE.steps} steps, in-memory storage")
    print(f"{'sampler':8} {'trials':>6} {'mode':22} {'trials/s':>9} {'engine':>7} {'optuna':>7}")
    for sampler, n in (("random", 1000), ("tpe", 200)):
        n = n // 5 if quick else n
        for mode, fn in (
            (f"batched ({BATCH[sampler]})", batched),
            ("optimize, 1 at a time", one_at_a_time),
        ):
            wall, engine = fn(sampler, n)
            share = engine / wall
            print(f"{sampler:8} {n:6d} {mode:22} {n / wall:9.0f} {share:7.0%} {1 - share:7.0%}")


if __name__ == "__main__":
    main()
