"""Search throughput: batched search through ``run_settings`` vs ``study.optimize`` one trial
at a time through ``numba_engine.run`` (Adam on Rastrigin, 500 steps), in memory.

Both build their specs with the same ``TrialSpecs`` (the base resolved once), so the ratio
measures what batching saves: Optuna's per-trial ask/tell (random search adds its trials with
one ``add_trials`` per round) and the engine's per-call overhead. Prints trials/s and the
shares of the wall time spent in the engines, in building specs, and in the rest (Optuna:
sampling, storage, trial bookkeeping), then Optuna's own floor: the same trials with the
objective replaced by a constant.
"""

import resource
import statistics
import time

import optuna

from optim_core import search_space
from optim_core.engines import numba_engine
from optim_core.search import DIVERGED_LOSS, Float, TrialSpecs, make_sampler, search
from optim_core.spec import RunSpec

BASE = RunSpec(surface="rastrigin", optimizer="Adam", steps=500)
SPACE = {"lr": Float(1e-4, 1.0, log=True), "beta1": Float(0.5, 0.99), "beta2": Float(0.9, 0.9999)}
BATCH = {"random": 256, "tpe": 16}  # TPE learns only between batches
BUILDERS = ("_swap", "_validated")  # the spec assembly, after the values are drawn


class Clock:
    """Wraps ``owner.name`` and adds up the seconds spent inside it."""

    def __init__(self, owner, name: str):
        self.owner, self.name, self.seconds = owner, name, 0.0
        self.original = getattr(owner, name)

    def __enter__(self):
        def timed(*args, **kwargs):
            began = time.perf_counter()
            try:
                return self.original(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - began

        setattr(self.owner, self.name, timed)
        return self

    def __exit__(self, *exc):
        setattr(self.owner, self.name, self.original)


def timed(fn, engine: str) -> tuple[float, float, float]:
    """(wall, engine, spec-building) seconds of ``fn()``."""
    clocks = [Clock(numba_engine, engine)] + [Clock(search_space.TrialSpecs, b) for b in BUILDERS]
    for c in clocks:
        c.__enter__()
    try:
        began = time.perf_counter()
        fn()
        wall = time.perf_counter() - began
    finally:
        for c in reversed(clocks):
            c.__exit__()
    return wall, clocks[0].seconds, sum(c.seconds for c in clocks[1:])


def batched(sampler: str, n: int) -> tuple[float, float, float]:
    return timed(
        lambda: search(BASE, SPACE, sampler, n_trials=n, batch=BATCH[sampler], seed=0),
        "run_settings",
    )


def one_at_a_time(sampler: str, n: int) -> tuple[float, float, float]:
    """What a user would write: build the spec, run it, return its loss."""
    specs = TrialSpecs(SPACE, BASE)

    def objective(trial):
        traj = numba_engine.run(specs.from_trial(trial))
        return DIVERGED_LOSS if traj.diverged else traj.final_loss

    study = optuna.create_study(sampler=make_sampler(sampler, SPACE, 0))
    return timed(lambda: study.optimize(objective, n_trials=n), "run")


def in_a_row(n: int, repeats: int) -> None:
    """Batched random searches one after another, none in between: in the turns above each
    follows a one-at-a-time search, whose runs leave caches and heap cold. Also the minor
    page faults a search takes (the engines keep the heap's top for this: see
    ``optim_core.engines._heap``)."""
    shares, faults = [], []
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        wall, engine, _ = batched("random", n)
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
        shares.append(engine / wall)
    print(f"random   batched, {repeats} searches in a row: engine {statistics.median(shares):.1%} "
          f"(median), {statistics.median(faults) / n:.2f} page faults per trial")  # fmt: skip


def optuna_floor(sampler: str, n: int) -> float:
    """Seconds of ``study.optimize`` drawing the same values with a constant objective."""

    def objective(trial):
        for key, dim in SPACE.items():
            dim.suggest(trial, key)
        return 1.0

    study = optuna.create_study(sampler=make_sampler(sampler, SPACE, 0))
    began = time.perf_counter()
    study.optimize(objective, n_trials=n)
    return time.perf_counter() - began


def best_of(repeats: int, fn, *args) -> tuple:
    """The fastest of ``repeats`` runs: the machine is shared, so the minimum is the cost."""
    return min(
        (fn(*args) for _ in range(repeats)), key=lambda r: r if isinstance(r, float) else r[0]
    )


def main(quick: bool = False) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    numba_engine.warm_settings([BASE])  # compile / load the kernels
    numba_engine.warm_up([BASE])
    print(f"search: {BASE.optimizer} on {BASE.surface}, {BASE.steps} steps, in-memory storage")
    print(f"{'sampler':8} {'trials':>6} {'mode':22} {'trials/s':>9} {'engine':>7} {'specs':>6} "
          f"{'optuna':>7}")  # fmt: skip
    for sampler, n, repeats in (("random", 1000, 5), ("tpe", 200, 2)):
        n = n // 5 if quick else n
        rates = []
        modes = ((f"batched ({BATCH[sampler]})", batched), ("optimize, 1 at a time", one_at_a_time))
        # the two modes take turns, so that a machine whose speed drifts slows both alike
        runs = [[fn(sampler, n) for _, fn in modes] for _ in range(repeats)]
        for k, (mode, _) in enumerate(modes):
            wall, engine, specs = min((r[k] for r in runs), key=lambda r: r[0])
            rates.append(n / wall)
            rest = 1 - (engine + specs) / wall
            print(
                f"{sampler:8} {n:6d} {mode:22} {n / wall:9.0f} {engine / wall:7.1%} "
                f"{specs / wall:6.1%} {rest:7.1%}"
            )
        if sampler == "random":
            in_a_row(n, repeats)
        floor = best_of(repeats, optuna_floor, sampler, n) / n * 1e3
        print(f"{sampler:8} batched / one at a time: {rates[0] / rates[1]:.2f}x; Optuna's own "
              f"cost (optimize, constant objective): {floor:.3f} ms/trial")  # fmt: skip


if __name__ == "__main__":
    main()
