"""What a search varies, and how a trial's values become a RunSpec.

A space maps names to dimensions (``Float``, ``Int``, ``Choice``): ``optimizer``,
``schedule``, a hyperparameter of one of the optimizers (``beta1``/``beta2`` for the two
entries of ``betas``), or ``<Schedule>.<parameter>``. A hyperparameter is drawn only when the
trial's optimizer has it (the lr not where the trial's schedule sets its own), a schedule
parameter only when the trial's schedule is its schedule (a conditional space, which TPE
handles). ``schedule_space`` builds the schedule entries from
each schedule's own default ranges (``ScheduleDef.search_ranges``).

Building each trial's spec through RunSpec's full validation cost ~45 µs, as much as the run
itself. ``TrialSpecs`` resolves the base once per optimizer and checks once, up front, whether
every range of the space lies within the allowed values of its hyperparameter. If so, and the
schedule does not vary, a trial's spec is its optimizer's template with the hyperparameters and
the lr swapped in, and only the optimizer's cross-parameter rule (SGD's Nesterov rule) runs per
trial. Any other space validates every trial in full. Either way an invalid trial raises the
ValueError whose message its FAIL state records; a test holds the fast specs equal to
validated ones.
"""

import math
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from common.limits import MAX_GRID_POINTS
from common.params import Interval, Pair, lookup

from ._schedule_def import Range
from .optimizers import OPTIMIZERS
from .schedules import SCHEDULES, Schedule, make_schedule
from .spec import RunSpec, freeze, thaw_dict

BETAS = ("beta1", "beta2")  # space keys for the two entries of ``betas``


@dataclass(frozen=True)
class Float:
    low: float
    high: float
    log: bool = False
    grid: int = 5  # points for the grid sampler (log-spaced when ``log``)

    def suggest(self, trial, name):
        return trial.suggest_float(name, self.low, self.high, log=self.log)

    def distribution(self):
        return FloatDistribution(self.low, self.high, log=self.log)

    def grid_values(self) -> list:
        space = np.geomspace if self.log else np.linspace
        return [float(v) for v in space(self.low, self.high, self.grid)]

    def within(self, allowed) -> bool:
        """Whether every value of the range is one ``allowed`` (a constraint) holds."""
        ends = (self.low, self.high)
        return isinstance(allowed, Interval) and all(allowed.contains(v) for v in ends)


@dataclass(frozen=True)
class Int(Float):
    def suggest(self, trial, name):
        return trial.suggest_int(name, int(self.low), int(self.high), log=self.log)

    def distribution(self):
        return IntDistribution(int(self.low), int(self.high), log=self.log)

    def grid_values(self) -> list:
        return sorted({int(round(v)) for v in super().grid_values()})

    def within(self, allowed) -> bool:
        ends = (int(self.low), int(self.high))
        return isinstance(allowed, Interval) and all(allowed.contains(v) for v in ends)


@dataclass(frozen=True)
class Choice:
    values: tuple

    def suggest(self, trial, name):
        return trial.suggest_categorical(name, self.values)

    def distribution(self):
        return CategoricalDistribution(self.values)

    def grid_values(self) -> list:
        return list(self.values)

    def within(self, allowed) -> bool:
        return all(allowed.contains(v) for v in self.values)


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


def searchable_schedules() -> tuple[str, ...]:
    """The schedules whose entries say what a search varies ("none" among them)."""
    return tuple(name for name, d in SCHEDULES.items() if d.search_ranges is not None)


def schedule_space(names, steps: int, lr_low: float, lr_high: float) -> dict:
    """Space entries that search over the schedules ``names``: ``schedule``, a choice of them,
    and each one's parameters over its entry's ranges for a run of ``steps`` steps with lr in
    [lr_low, lr_high] (which a schedule that sets its own lr takes for it: OneCycleLR's
    max_lr); a fixed value is a one-value choice. ValueError unless each schedule has ranges
    and can run ``steps`` steps at both ends of them."""
    space = {"schedule": Choice(tuple(names))}
    for name in names:
        definition = lookup("schedule", SCHEDULES, name)
        if definition.search_ranges is None:
            raise ValueError(
                f"search: schedule {name!r} has no search ranges; one of "
                f"{', '.join(searchable_schedules())}"
            )
        ranges = definition.search_ranges(steps, lr_low, lr_high)
        for end in (0, 1):
            params = {k: r[end] if isinstance(r, Range) else r for k, r in ranges.items()}
            try:
                make_schedule(name, lr_low, **params).check_steps(steps)
            except ValueError as error:
                raise ValueError(f"search: {name} cannot run {steps} steps: {error}") from error
        space |= {f"{name}.{param}": _dimension(r) for param, r in ranges.items()}
    return space


def _dimension(r) -> Float | Choice:
    """A Range as a Float or Int; a fixed value, or a range whose ends meet, as one choice."""
    if not isinstance(r, Range):
        return Choice((r,))
    if not r.low < r.high:
        return Choice((r.low,))
    return (Int if r.integer else Float)(r.low, r.high, log=r.log)


def grid_points(space: dict) -> int:
    """How many points a grid over ``space`` has; ValueError beyond MAX_GRID_POINTS."""
    points = math.prod(len(d.grid_values()) for d in space.values())
    if points > MAX_GRID_POINTS:
        raise ValueError(
            f"search: a grid over these ranges has {points:,} points (at most "
            f"{MAX_GRID_POINTS:,}); choose fewer schedules or parameters, or TPE or random"
        )
    return points


def space_optimizers(space: dict, base: RunSpec) -> tuple:
    return tuple(space["optimizer"].values) if "optimizer" in space else (base.optimizer,)


def check_space(space: dict, base: RunSpec) -> None:
    """ValueError naming the key unless every key of ``space`` means something: ``optimizer``,
    ``schedule``, a hyperparameter of one of the optimizers (``beta1``/``beta2`` for
    ``betas``), or ``<Schedule>.<parameter>``."""
    opts = space_optimizers(space, base)
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


def _allowed(optimizer: str, key: str):
    """The constraint on ``key`` (a hyperparameter or beta1/beta2) for ``optimizer``, or None
    when the optimizer has no such hyperparameter."""
    table = {p.name: p.constraint for p in OPTIMIZERS[optimizer].params}
    if key in BETAS and isinstance(table.get("betas"), Pair):
        return table["betas"].first if key == BETAS[0] else table["betas"].second
    return table.get(key)


def _convert(allowed):
    """How RunSpec normalises a value that ``allowed`` holds (ints stay ints only where the
    parameter is an integer), so a fast spec equals the validated one."""
    if isinstance(allowed, Interval):
        return int if allowed.integer else float
    return lambda v: v


class TrialSpecs:
    """The RunSpec of each trial of a search over ``space`` around ``base``."""

    def __init__(self, space: dict, base: RunSpec):
        check_space(space, base)
        self.space, self.base = space, base
        self.distributions = {key: dim.distribution() for key, dim in space.items()}
        opts = space_optimizers(space, base)
        self.fast = not any(k == "schedule" or "." in k for k in space) and all(
            dim.within(allowed)
            for key, dim in space.items()
            if key != "optimizer"
            for allowed in (_allowed(o, key) for o in opts)
            if allowed is not None
        )
        # per optimizer: (template spec, its hyperparameters, converters), or the ValueError
        self._templates: dict = {}

    def from_trial(self, trial) -> RunSpec:
        """The spec an Optuna trial asks for (its values suggested through the trial)."""
        return self.build(lambda key, dim: dim.suggest(trial, key))

    def build(self, pick) -> RunSpec:
        """The spec whose values ``pick(key, dim)`` chooses, asked in a fixed order (the
        optimizer, the schedule, then the space's keys that apply); raises ValueError."""
        space, base = self.space, self.base
        opt = pick("optimizer", space["optimizer"]) if "optimizer" in space else base.optimizer
        schedule = pick("schedule", space["schedule"]) if "schedule" in space else base.schedule
        names = {p.name for p in OPTIMIZERS[opt].params}
        if SCHEDULES[schedule].sets_own_lr:  # the optimizer's lr would be drawn for nothing
            names.discard("lr")
        h, betas, params = {}, {}, {}
        for key, dim in space.items():
            owner, _, param = key.partition(".")
            if param and owner == schedule:
                params[param] = pick(key, dim)
            elif key in BETAS and "betas" in names:
                betas[BETAS.index(key)] = pick(key, dim)
            elif key in names:
                h[key] = pick(key, dim)
        if self.fast:
            return self._swap(opt, h, betas)
        return self._validated(opt, schedule, h, betas, params)

    def _validated(self, opt, schedule, h, betas, params) -> RunSpec:
        base = self.base
        full = base.h if opt == base.optimizer else {}
        full.update(h)
        if "betas" in {p.name for p in OPTIMIZERS[opt].params}:
            pair = list(full.get("betas", _default(opt, "betas")))
            for i, value in betas.items():
                pair[i] = value
            full["betas"] = tuple(pair)
        if schedule == base.schedule:
            params = {**thaw_dict(base.schedule_params), **params}
        # dataclasses.replace validates like with_ but skips its dict round trip (~2x faster)
        return replace(
            base, optimizer=opt, hyperparameters=freeze(full), schedule=schedule,
            schedule_params=freeze(params),
        )  # fmt: skip

    def _swap(self, opt: str, h: dict, betas: dict) -> RunSpec:
        template, full, convert = self._template(opt)
        full = dict(full)
        for key, value in h.items():
            full[key] = convert[key](value)
        if betas:
            pair = list(full["betas"])
            for i, value in betas.items():
                pair[i] = float(value)
            full["betas"] = tuple(pair)
        definition = template.optimizer_def
        if definition.check:
            full = definition.check(full)
        surface, optimizer, schedule = template._entries
        spec = object.__new__(RunSpec)
        spec.__dict__.update(template.__dict__)
        spec.__dict__["hyperparameters"] = freeze(full)
        lr_schedule = Schedule(schedule.name, schedule.params, full["lr"])
        spec.__dict__["_entries"] = (surface, optimizer, lr_schedule)
        return spec

    def _template(self, opt: str):
        found = self._templates.get(opt)
        if found is None:
            try:
                spec = self.base
                if opt != spec.optimizer:
                    spec = replace(spec, optimizer=opt, hyperparameters=())
                keys = {p.name for p in OPTIMIZERS[opt].params}
                convert = {k: _convert(_allowed(opt, k)) for k in keys}
                found = (spec, spec.h, convert)
            except ValueError as error:
                found = error
            self._templates[opt] = found
        if isinstance(found, ValueError):
            raise found
        return found


def _default(optimizer: str, name: str):
    return next((p.default for p in OPTIMIZERS[optimizer].params if p.name == name), None)


@lru_cache(maxsize=16)
def _cached(space_items: tuple, base: RunSpec) -> TrialSpecs:
    return TrialSpecs(dict(space_items), base)


def spec_for(trial, space: dict, base: RunSpec) -> RunSpec:
    """The run an Optuna trial asks for: ``base`` with the trial's suggested values (for an
    objective written by hand, e.g. ``study.optimize``)."""
    return _cached(tuple(space.items()), base).from_trial(trial)
