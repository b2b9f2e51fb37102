"""RunSpec: everything that determines one run, validated once, hashable, serialisable.

A RunSpec that exists is valid: construction fills torch's defaults in and raises ValueError
(naming the parameter, the allowed values and the bad value) for anything wrong. Two specs
that mean the same run compare and hash equal, so the app can cache results by spec.
"""

import json
import math
import unicodedata
from dataclasses import asdict, dataclass, field, fields
from numbers import Real

import numpy as np

from common.limits import MAX_LABEL_CHARS, STEPS
from common.params import FLOAT_NONNEG, INT_NONNEG, Param, shown
from landscapes import CUSTOM, Surface, resolve_surface, surface_args

from .optimizers import OptimizerDef, check_hyperparameters, get_optimizer, momentum_value
from .schedules import Schedule, make_schedule

SAM_RHO = Param("sam_rho", 0.0, FLOAT_NONNEG, "SAM radius ρ of the ascent step (0: off)")
_SCALARS = (
    STEPS,
    Param("noise", 0.0, FLOAT_NONNEG, "std of Gaussian noise added to each gradient"),
    Param("seed", 0, INT_NONNEG, "seed of the gradient noise"),
    Param("tol", 1e-6, FLOAT_NONNEG, "converged when |g| and |step| fall below it (0: never)"),
    SAM_RHO,
)


class ResolvedOnce:
    """For frozen dataclasses that resolve their names once, in ``__post_init__``, into
    ``self._entries``: the entries are not data, so a pickled object (Streamlit's cache)
    stores the names and resolves them again when loaded."""

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_entries"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.__post_init__()


def freeze(value):
    """Dicts and lists as sorted tuples, recursively, so specs hash."""
    if isinstance(value, dict):
        return tuple(sorted((k, freeze(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value):
    if (
        isinstance(value, tuple)
        and value
        and all(isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], str) for v in value)
    ):
        return {k: thaw(v) for k, v in value}
    if isinstance(value, tuple):
        return tuple(thaw(v) for v in value)
    return value


@dataclass(frozen=True)
class RunSpec(ResolvedOnce):
    """One run, named as a user or a link names it, and resolved once on construction.

    The names (``surface``, ``optimizer``, ``schedule``) are what is stored, compared and
    serialised; the registry entries they resolve to travel with the spec as
    :attr:`surface_def`, :attr:`optimizer_def` and :attr:`lr_schedule`, so no later stage
    looks a name up or validates again. A custom formula resolves to a Surface like any other.
    """

    surface: str = "rosenbrock"
    optimizer: str = "Adam"
    hyperparameters: tuple = ()
    schedule: str = "none"
    schedule_params: tuple = ()
    surface_params: tuple = ()
    start: tuple | None = None
    steps: int = 500
    noise: float = 0.0
    seed: int = 0
    tol: float = 1e-6
    sam_rho: float = 0.0  # > 0: sharpness-aware minimisation around the optimizer
    formula: str = ""  # the surface when surface == "custom"
    domain: tuple | None = None  # plotting domain of a custom surface
    label: str = field(default="", compare=False)

    def __post_init__(self):
        if self.surface != CUSTOM and (self.formula or self.domain):
            raise ValueError(
                f"run: 'formula' and 'domain' go with surface='custom', not {self.surface!r}"
            )
        for name in ("hyperparameters", "schedule_params", "surface_params"):
            if not isinstance(thaw_dict(getattr(self, name)), dict):
                raise ValueError(f"run: {name!r} must be a mapping of names to values")
        surface = resolve_surface(self.surface, self.formula, self.domain)
        args = surface_args(surface, **thaw_dict(self.surface_params))
        optimizer = get_optimizer(self.optimizer)
        h = check_hyperparameters(self.optimizer, thaw_dict(self.hyperparameters))
        schedule = make_schedule(self.schedule, h["lr"], **thaw_dict(self.schedule_params))
        scalars = {p.name: p.check("run", getattr(self, p.name)) for p in _SCALARS}
        schedule.check_steps(scalars["steps"])
        start = surface.starts[0] if self.start is None else self.start
        start = _check_start(start)
        if schedule.momentum(np.arange(1)) is not None and momentum_value(optimizer, h) is None:
            raise ValueError(
                f"{self.schedule}: cycle_momentum=True needs an optimizer with momentum or betas; "
                f"{self.optimizer} has neither (set cycle_momentum=False)"
            )
        set_ = object.__setattr__
        set_(self, "hyperparameters", freeze(h))
        set_(self, "schedule_params", freeze(schedule.params))
        set_(
            self,
            "surface_params",
            freeze(dict(zip([p.name for p in surface.params], args, strict=True))),
        )
        set_(self, "start", start)
        if self.surface == CUSTOM:
            set_(self, "formula", surface.title)
            set_(self, "domain", surface.domain)
        for name, value in scalars.items():
            set_(self, name, value)
        set_(self, "label", clean_label(self.label))
        set_(self, "_entries", (surface, optimizer, schedule))

    @property
    def surface_def(self) -> Surface:
        return self._entries[0]

    @property
    def optimizer_def(self) -> OptimizerDef:
        return self._entries[1]

    @property
    def lr_schedule(self) -> Schedule:
        """The schedule made with this run's base lr and validated parameters."""
        return self._entries[2]

    @property
    def h(self) -> dict:
        return thaw_dict(self.hyperparameters)

    @property
    def lr(self) -> float:
        return self.h["lr"]

    def with_(self, **changes) -> "RunSpec":
        """A copy with some fields changed (dict-valued fields given as dicts)."""
        data = self.to_dict()
        data.update(changes)
        return RunSpec.from_dict(data)

    def to_dict(self) -> dict:
        data = asdict(self)
        for name in ("hyperparameters", "schedule_params", "surface_params"):
            data[name] = thaw_dict(data[name])
        data["start"] = list(self.start)
        if self.domain is not None:
            data["domain"] = [list(d) for d in self.domain]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "RunSpec":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"run: unknown field {unknown[0]!r}; expected one of {', '.join(sorted(known))}"
            )
        data = dict(data)
        for name in ("hyperparameters", "schedule_params", "surface_params"):
            if name in data:
                if not isinstance(data[name], dict):
                    raise ValueError(f"run: {name!r} must be a mapping; got {data[name]!r}")
                data[name] = freeze(data[name])
        if data.get("start") is not None:
            data["start"] = _check_start(data["start"])
        if data.get("domain") is not None:
            data["domain"] = freeze(data["domain"])
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "RunSpec":
        return cls.from_dict(json.loads(text))


def clean_label(text: str) -> str:
    """A racer's name as shown and exported: printable, one line, at most MAX_LABEL_CHARS.

    Control characters (NUL, newlines, bidi overrides) would break an exported script or the
    page, so they are dropped rather than rejected: a name is decoration, not a setting.
    """
    if not isinstance(text, str):
        raise ValueError(f"run: 'label' must be a string; got {shown(text)}")
    kept = "".join(
        " " if c.isspace() else c for c in text if c.isspace() or unicodedata.category(c)[0] != "C"
    )
    return " ".join(kept.split())[:MAX_LABEL_CHARS]


def thaw_dict(items) -> dict:
    return thaw(items) if items else {}


def _check_start(start) -> tuple[float, float]:
    ok = isinstance(start, list | tuple | np.ndarray) and len(start) == 2
    ok = ok and all(isinstance(v, Real) and not isinstance(v, bool | np.bool_) for v in start)
    if not ok or not all(math.isfinite(v) for v in start):
        raise ValueError(f"run: 'start' must be a pair of finite numbers (x, y); got {start!r}")
    return (float(start[0]), float(start[1]))
