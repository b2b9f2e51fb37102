"""Hyperparameter search on Optuna: grid, random, TPE, optionally Hyperband, in batches.

Optuna samples and prunes; nothing here samples or prunes by hand. Each round asks
``batch`` trials, turns each into a ``RunSpec``, evaluates them with one
``numba_engine.run_settings`` call per optimizer, and tells the results. A trial's value is
the run's final loss. A run that diverged is told as COMPLETE with ``DIVERGED_LOSS`` (the
largest float): TPE then learns to avoid the region, which a FAIL state would hide from it;
user attribute ``"diverged"`` marks it. A spec the space can build but ``RunSpec`` rejects
(e.g. Nesterov with dampening) is told as FAIL.

TPE learns only between rounds (a round's trials share one posterior): a small ``batch``
(8-32) is what makes TPE better than random; random and grid lose nothing with a large one.

Hyperband (``pruner="hyperband"``) uses steps as the resource: a round's survivors are run
for r = min_resource · 3^k steps (then ``spec.steps``), each rung reported with
``trial.report(loss, r)`` and pruned on ``should_prune``. Schedules are closed forms of the
step, so a run of r steps is exactly the first r steps of the full run; a run that converged
or diverged by rung r is told at once with its (final) value. User attribute ``"steps"``
holds the steps a trial ran.

Storage: None (in memory), an ``optuna.storages.BaseStorage``, a URL with ``://`` (an RDB
such as ``postgresql+psycopg2://user@host:port/db``, for workers on several machines), or a
file path (``JournalStorage(JournalFileBackend(path))``, for processes on one machine).
"""

import time
from collections import defaultdict
from dataclasses import dataclass, replace

import numpy as np
import optuna
import sqlalchemy.exc
from optuna.trial import TrialState

from .engines import numba_engine
from .optimizers import OPTIMIZERS
from .schedules import SCHEDULES
from .spec import RunSpec, freeze, thaw_dict
from .trajectory import CONVERGED, DIVERGED

DIVERGED_LOSS = float(np.finfo(np.float64).max)
SAMPLERS = ("random", "tpe", "grid")
PRUNERS = (None, "hyperband")
BETAS = ("beta1", "beta2")  # space keys for the two entries of ``betas``
REDUCTION_FACTOR = 3


@dataclass(frozen=True)
class Float:
    low: float
    high: float
    log: bool = False
    grid: int = 5  # points for the grid sampler (log-spaced when ``log``)

    def suggest(self, trial, name):
        return trial.suggest_float(name, self.low, self.high, log=self.log)

    def grid_values(self) -> list:
        space = np.geomspace if self.log else np.linspace
        return [float(v) for v in space(self.low, self.high, self.grid)]


@dataclass(frozen=True)
class Int(Float):
    def suggest(self, trial, name):
        return trial.suggest_int(name, int(self.low), int(self.high), log=self.log)

    def grid_values(self) -> list:
        return sorted({int(round(v)) for v in super().grid_values()})


@dataclass(frozen=True)
class Choice:
    values: tuple

    def suggest(self, trial, name):
        return trial.suggest_categorical(name, self.values)

    def grid_values(self) -> list:
        return list(self.values)


def default_space(optimizers=("SGD", "Adam")) -> dict:
    """lr and weight decay on a log scale, momentum and betas linear, the optimizer a choice."""
    return {
        "optimizer": Choice(tuple(optimizers)),
        "lr": Float(1e-4, 1.0, log=True),
        "momentum": Float(0.0, 0.99),
        "beta1": Float(0.5, 0.99),
        "beta2": Float(0.9, 0.9999),
        "weight_decay": Float(1e-6, 1e-1, log=True),
    }


def check_space(space: dict, base: RunSpec) -> None:
    """ValueError naming the key unless every key of ``space`` means something: ``optimizer``,
    ``schedule``, a hyperparameter of one of the optimizers (``beta1``/``beta2`` for
    ``betas``), or ``<Schedule>.<parameter>``."""
    opts = space["optimizer"].values if "optimizer" in space else (base.optimizer,)
    for name in opts:
        if name not in OPTIMIZERS:
            raise ValueError(f"search: unknown optimizer {name!r} in the space")
    known = {p.name for o in opts for p in OPTIMIZERS[o].params}
    known |= set(BETAS) if "betas" in known else set()
    for key, dim in space.items():
        if not isinstance(dim, Float | Choice):
            raise ValueError(f"search: space[{key!r}] must be Float, Int or Choice; got {dim!r}")
        if isinstance(dim, Float) and not (dim.low < dim.high and (dim.low > 0 or not dim.log)):
            raise ValueError(f"search: space[{key!r}] needs low < high (> 0 on a log scale)")
        schedule, _, param = key.partition(".")
        ok = key in ("optimizer", "schedule") or key in known
        ok = ok or (param and schedule in SCHEDULES)
        if not ok:
            raise ValueError(
                f"search: space key {key!r} is no hyperparameter of {', '.join(opts)}, nor "
                "'optimizer', 'schedule' or '<Schedule>.<parameter>'"
            )


def spec_for(trial, space: dict, base: RunSpec) -> RunSpec:
    """The run a trial asks for: ``base`` with the suggested values. A hyperparameter is
    suggested only when the trial's optimizer has it, a schedule parameter only when the
    trial's schedule is its schedule (a conditional space, which TPE handles)."""
    opt = space["optimizer"].suggest(trial, "optimizer") if "optimizer" in space else None
    opt = opt or base.optimizer
    schedule = space["schedule"].suggest(trial, "schedule") if "schedule" in space else None
    schedule = schedule or base.schedule
    h = base.h if opt == base.optimizer else {}
    params = thaw_dict(base.schedule_params) if schedule == base.schedule else {}
    names = {p.name for p in OPTIMIZERS[opt].params}
    betas = list(h.get("betas", _default(opt, "betas")) or ())
    for key, dim in space.items():
        owner, _, param = key.partition(".")
        if param and owner == schedule:
            params[param] = dim.suggest(trial, key)
        elif key in BETAS and "betas" in names:
            betas[BETAS.index(key)] = dim.suggest(trial, key)
        elif key in names:
            h[key] = dim.suggest(trial, key)
    if "betas" in names:
        h["betas"] = tuple(betas)
    # dataclasses.replace validates like with_ but skips its dict round trip (~2x faster)
    return replace(
        base, optimizer=opt, hyperparameters=freeze(h), schedule=schedule,
        schedule_params=freeze(params),
    )  # fmt: skip


def _default(optimizer: str, name: str):
    return next((p.default for p in OPTIMIZERS[optimizer].params if p.name == name), None)


def open_storage(storage):
    """An Optuna storage from None, a storage, an RDB URL or a journal file path."""
    if storage is None or isinstance(storage, optuna.storages.BaseStorage):
        return storage
    if "://" in storage:
        return _rdb_storage(storage)
    backend = optuna.storages.journal.JournalFileBackend(storage)
    return optuna.storages.JournalStorage(backend)


def _rdb_storage(url: str, attempts: int = 3):
    # Workers that create the schema of a fresh database at once race (a table or the
    # alembic version row already exists): the loser finds the schema on a later try.
    for attempt in range(attempts):
        try:
            return optuna.storages.RDBStorage(url)
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))


def make_sampler(name: str, space: dict, seed: int | None):
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "grid":
        grid = {key: dim.grid_values() for key, dim in space.items()}
        return optuna.samplers.GridSampler(grid, seed=seed)
    raise ValueError(f"search: 'sampler' must be one of {', '.join(SAMPLERS)}; got {name!r}")


def make_pruner(name, steps: int):
    if name is None:
        return optuna.pruners.NopPruner()
    if name == "hyperband":
        low = max(1, steps // REDUCTION_FACTOR**3)
        return optuna.pruners.HyperbandPruner(low, steps, REDUCTION_FACTOR)
    raise ValueError(f"search: 'pruner' must be one of {PRUNERS}; got {name!r}")


def rungs(steps: int) -> list[int]:
    """Steps at which Hyperband's survivors report: min_resource · 3^k, then ``steps``."""
    r, out = max(1, steps // REDUCTION_FACTOR**3), []
    while r < steps:
        out.append(r)
        r *= REDUCTION_FACTOR
    return [*out, steps]


def search(
    base_spec: RunSpec,
    space: dict | None = None,
    sampler: str = "random",
    n_trials: int = 100,
    batch: int = 256,
    storage=None,
    study_name: str | None = None,
    seed: int | None = 0,
    pruner: str | None = None,
    progress=None,
) -> optuna.Study:
    """Add ``n_trials`` trials (fewer for a grid smaller than that) to the study
    ``study_name`` (created, or loaded when it exists) and return it; ``progress(done)`` is
    called after each round."""
    space = default_space() if space is None else space
    check_space(space, base_spec)
    if not isinstance(batch, int) or batch < 1 or not isinstance(n_trials, int) or n_trials < 0:
        raise ValueError(
            f"search: 'batch' and 'n_trials' must be ints >= 1; got {batch}, {n_trials}"
        )
    study = optuna.create_study(
        storage=open_storage(storage),
        study_name=study_name,
        sampler=make_sampler(sampler, space, seed),
        pruner=make_pruner(pruner, base_spec.steps),
        direction="minimize",
        load_if_exists=True,
    )
    if sampler == "grid":
        n_trials = min(n_trials, int(np.prod([len(d.grid_values()) for d in space.values()])))
    steps = rungs(base_spec.steps) if pruner else [base_spec.steps]
    done = 0
    while done < n_trials:
        trials = [study.ask() for _ in range(min(batch, n_trials - done))]
        _run_round(study, trials, space, base_spec, steps)
        done += len(trials)
        if progress is not None:
            progress(done)
    return study


def _run_round(study, trials, space: dict, base: RunSpec, steps: list[int]) -> None:
    alive = []
    for trial in trials:
        try:
            alive.append((trial, spec_for(trial, space, base)))
        except ValueError as error:
            trial.set_user_attr("error", str(error))
            _tell(study, trial, state=TrialState.FAIL)
    for r in steps:
        final = r == steps[-1]
        loss, status = _evaluate([spec if final else replace(spec, steps=r) for _, spec in alive])
        survivors = []
        for (trial, spec), value, stat in zip(alive, loss, status, strict=True):
            trial.set_user_attr("steps", r)
            if final or stat in (CONVERGED, DIVERGED):
                trial.set_user_attr("diverged", bool(stat == DIVERGED))
                _tell(study, trial, values=value)
                continue
            trial.report(value, r)
            if trial.should_prune():
                _tell(study, trial, state=TrialState.PRUNED)
            else:
                survivors.append((trial, spec))
        alive = survivors


def _evaluate(specs: list[RunSpec]) -> tuple[np.ndarray, np.ndarray]:
    """(value, status) of each run: one ``run_settings`` call per optimizer."""
    loss, status = np.empty(len(specs)), np.empty(len(specs), np.int8)
    groups = defaultdict(list)
    for i, spec in enumerate(specs):
        groups[spec.optimizer].append(i)
    for index in groups.values():
        res = numba_engine.run_settings([specs[i] for i in index])
        loss[index] = np.where(res.status == DIVERGED, DIVERGED_LOSS, res.final_loss)
        status[index] = res.status
    return loss, status


def _tell(study, trial, **kwargs) -> None:
    try:
        study.tell(trial, **kwargs)
    except RuntimeError as error:
        # GridSampler calls study.stop() after the last grid point, which only works inside
        # study.optimize; the value is stored before that.
        if "Study.stop" not in str(error):
            raise
