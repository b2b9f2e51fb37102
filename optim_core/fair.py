"""Fair comparison: which optimizer is better here, each tuned as well as the others?

Comparing optimizers at hand-picked settings mostly compares the picks. Here every chosen
optimizer gets the same search: the same budget of trials, the same sampler, the same seeds,
the same surface, start, steps, schedule and gradient noise (the base spec). For each seed s
each optimizer is searched with sampler seed s (and gradient-noise seed s when the base has
noise), over the lr (log scale) and whichever of momentum, beta1 and beta2 it has; its other
hyperparameters stay at torch's defaults. The result per optimizer is the best loss and the
tuned setting of every seed, and their median and spread: a single search is one draw of a
noisy process, so one seed can make either optimizer look better.

The setting to race is the one of the seed whose best loss is the median (the lower median for
an even number of seeds). The lr and betas are continuous, so no two seeds find the same
setting and "the most frequent" is undefined without an arbitrary binning; the best seed's
setting would show what a lucky search finds, the median one what a search typically finds,
and it is a real search result, whose spec reproduces its reported loss exactly.
"""

from dataclasses import dataclass, field, replace

import numpy as np
from optuna.trial import TrialState

from common.limits import FAIR_BUDGET, FAIR_SEEDS, SEED, check_size
from common.params import Options, Param, shown

from .optimizers import OPTIMIZERS
from .search import TrialSpecs, search
from .search_space import Float
from .spec import RunSpec

SAMPLERS = ("tpe", "random")  # a grid ignores its seed: every seed would search alike
BATCH = {"tpe": 8, "random": 256}  # TPE learns only between batches
SPACE = {
    "lr": Float(1e-4, 1.0, log=True),
    "momentum": Float(0.0, 0.99),
    "beta1": Float(0.5, 0.99),
    "beta2": Float(0.9, 0.9999),
}
_SAMPLER = Param("sampler", "tpe", Options(SAMPLERS))


@dataclass(frozen=True)
class Tuned:
    """One optimizer's searches, one per seed."""

    optimizer: str
    seeds: tuple[int, ...]
    best: tuple[float, ...]  # the best loss of each seed's search (inf: no run finished)
    settings: tuple[dict, ...]  # the tuned values (lr, momentum, beta1, beta2) of each seed
    trials: tuple[int, ...]  # trials each seed's search ran: the budget
    spec: RunSpec = field(compare=False)  # the setting to race, of the median seed

    @property
    def median(self) -> float:
        return float(np.median(self.best))

    @property
    def spread(self) -> tuple[float, float]:
        """(min, max) of the best loss over seeds."""
        return min(self.best), max(self.best)

    @property
    def race_seed(self) -> int:
        """The seed whose best loss is the (lower) median: its setting is the one to race."""
        order = sorted(range(len(self.best)), key=lambda i: (self.best[i], i))
        return self.seeds[order[(len(order) - 1) // 2]]


@dataclass(frozen=True)
class Comparison:
    base: RunSpec
    sampler: str
    budget: int
    seeds: tuple[int, ...]
    results: tuple[Tuned, ...]

    def ranking(self) -> list[Tuned]:
        """Best first, by median best loss."""
        return sorted(self.results, key=lambda r: r.median)


def space_for(optimizer: str) -> dict:
    """The lr, and the momentum or betas where the optimizer has them."""
    names = {p.name for p in OPTIMIZERS[optimizer].params}
    names |= {"beta1", "beta2"} if "betas" in names else set()
    return {key: dim for key, dim in SPACE.items() if key in names}


def check_inputs(base: RunSpec, optimizers, budget, seeds, sampler) -> tuple:
    """(optimizers, budget, seeds, sampler) checked and normalised; ValueError naming the
    parameter, the allowed values and the bad value."""
    if not isinstance(base, RunSpec):
        raise ValueError(f"fair: 'base' must be a RunSpec; got {shown(base)}")
    if isinstance(optimizers, str) or not isinstance(optimizers, list | tuple) or not optimizers:
        raise ValueError(f"fair: 'optimizers' must be a non-empty list; got {shown(optimizers)}")
    for name in optimizers:
        if not isinstance(name, str) or name not in OPTIMIZERS:
            raise ValueError(
                f"fair: 'optimizers' must be among {', '.join(OPTIMIZERS)}; got {shown(name)}"
            )
    if len(set(optimizers)) != len(optimizers):
        raise ValueError(f"fair: 'optimizers' must not repeat a name; got {shown(optimizers)}")
    budget = check_size("fair", "budget", FAIR_BUDGET, budget)
    if not isinstance(seeds, list | tuple | range):
        raise ValueError(f"fair: 'seeds' must be a list of integers; got {shown(seeds)}")
    check_size("fair", "number of seeds", FAIR_SEEDS, len(seeds))
    seeds = tuple(check_size("fair", "seeds", SEED, s) for s in seeds)
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"fair: 'seeds' must not repeat a seed; got {shown(seeds)}")
    sampler = _SAMPLER.check("fair", sampler)
    for name in optimizers:
        try:
            _base_for(base, name)
        except ValueError as error:
            raise ValueError(f"fair: {name} cannot run the base spec: {error}") from None
    return tuple(optimizers), budget, seeds, sampler


def _base_for(base: RunSpec, optimizer: str, seed: int | None = None) -> RunSpec:
    """The base run with ``optimizer`` at torch's defaults (and noise seed ``seed``)."""
    changes = {"optimizer": optimizer, "hyperparameters": (), "label": f"{optimizer} (tuned)"}
    if seed is not None and base.noise > 0:
        changes["seed"] = seed
    return replace(base, **changes)


def compare(
    base: RunSpec,
    optimizers=("SGD", "Adam"),
    budget: int = 50,
    seeds=(0, 1, 2, 3, 4),
    sampler: str = "tpe",
    progress=None,
) -> Comparison:
    """Search each optimizer with ``budget`` trials per seed; ``progress(done, total)`` is
    called as trials finish (``total`` = optimizers x seeds x budget)."""
    optimizers, budget, seeds, sampler = check_inputs(base, optimizers, budget, seeds, sampler)
    total, finished = len(optimizers) * len(seeds) * budget, 0
    results = []
    for name in optimizers:
        space, found = space_for(name), []
        for seed in seeds:
            run_base = _base_for(base, name, seed)

            def report(done, before=finished):
                if progress is not None:
                    progress(before + done, total)

            study = search(
                run_base, space, sampler, n_trials=budget,
                batch=BATCH[sampler], seed=seed, progress=report,
            )  # fmt: skip
            finished += budget
            found.append((study, run_base))
        results.append(_tuned(name, space, seeds, found))
    return Comparison(base, sampler, budget, seeds, tuple(results))


def _tuned(name: str, space: dict, seeds: tuple, found: list) -> Tuned:
    best, settings, trials, specs = [], [], [], []
    for study, run_base in found:
        trials.append(len(study.trials))
        done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if not done:  # every trial failed: nothing tuned
            best.append(float("inf"))
            settings.append({})
            specs.append(run_base)
            continue
        top = min(done, key=lambda t: (t.value, t.number))
        best.append(float(top.value))
        settings.append(dict(top.params))
        specs.append(TrialSpecs(space, run_base).build(lambda key, dim, p=top.params: p[key]))
    tuned = Tuned(name, seeds, tuple(best), tuple(settings), tuple(trials), specs[0])
    return replace(tuned, spec=specs[seeds.index(tuned.race_seed)])
