"""The lab's whole configuration: a race of several optimizers on one surface.

Plain data, no Streamlit: the app turns widgets into a LabConfig and back; ``share`` turns it
into URL query parameters and back, ``previews`` draws what a racer's schedule will do.
"""

import json
from dataclasses import dataclass, field, replace

from common.limits import RACERS, check_size

from .spec import SAM_RHO, RunSpec, clean_label, freeze, thaw_dict

VIEWS = ("2d", "3d")
_RACER_FIELDS = ("optimizer", "hyperparameters", "schedule", "schedule_params", "label", "sam_rho")


@dataclass(frozen=True)
class Racer:
    """One optimizer in the race, with its own hyperparameters and lr schedule."""

    optimizer: str = "Adam"
    hyperparameters: tuple = ()
    schedule: str = "none"
    schedule_params: tuple = ()
    label: str = ""
    sam_rho: float = 0.0  # sharpness-aware minimisation around the optimizer; 0: off

    def __post_init__(self):
        object.__setattr__(self, "label", clean_label(self.label))
        object.__setattr__(self, "sam_rho", SAM_RHO.check("racer", self.sam_rho))

    def to_json(self) -> str:
        data = {"optimizer": self.optimizer, "hyperparameters": thaw_dict(self.hyperparameters)}
        if self.schedule != "none":
            data["schedule"] = self.schedule
            data["schedule_params"] = thaw_dict(self.schedule_params)
        if self.label:
            data["label"] = self.label
        if self.sam_rho:
            data["sam_rho"] = self.sam_rho
        return json.dumps(data, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_dict(cls, data) -> "Racer":
        """A racer from parsed JSON; ValueError (naming the field) for anything malformed."""
        if not isinstance(data, dict):
            raise ValueError(f"racer: expected a JSON object; got {_kind(data)}")
        unknown = sorted(set(data) - set(_RACER_FIELDS), key=str)
        if unknown:
            raise ValueError(
                f"racer: unknown field {unknown[0]!r}; expected one of {', '.join(_RACER_FIELDS)}"
            )
        for name, kind in (("optimizer", str), ("schedule", str), ("label", str)):
            if name in data and not isinstance(data[name], kind):
                raise ValueError(f"racer: {name!r} must be a string; got {_kind(data[name])}")
        for name in ("hyperparameters", "schedule_params"):
            if name in data and not isinstance(data[name], dict):
                raise ValueError(f"racer: {name!r} must be a JSON object; got {_kind(data[name])}")
        return cls(
            optimizer=data.get("optimizer", "Adam"),
            hyperparameters=freeze(data.get("hyperparameters", {})),
            schedule=data.get("schedule", "none"),
            schedule_params=freeze(data.get("schedule_params", {})),
            label=data.get("label", ""),
            sam_rho=data.get("sam_rho", 0.0),
        )


def _kind(value) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "true/false"}
    if value is None:
        return "null"
    return names.get(type(value), "a number" if isinstance(value, int | float) else "a value")


def _racer(optimizer, schedule="none", schedule_params=None, **h) -> Racer:
    return Racer(optimizer, freeze(h), schedule, freeze(schedule_params or {}))


DEFAULT_RACERS = (
    _racer("SGD", lr=1e-3, momentum=0.9),
    _racer("Adam", lr=0.05),
    _racer("RMSprop", lr=0.01),
)


@dataclass(frozen=True)
class LabConfig:
    surface: str = "rosenbrock"
    surface_params: tuple = ()
    formula: str = ""
    domain: tuple | None = None
    start: tuple | None = None
    steps: int = 500
    noise: float = 0.0
    seed: int = 0
    racers: tuple[Racer, ...] = DEFAULT_RACERS
    view: str = "2d"
    lesson: str = ""
    warnings: tuple[str, ...] = field(default=(), compare=False)

    def specs(self) -> list[RunSpec]:
        """One validated RunSpec per racer (raises ValueError naming the bad value)."""
        check_size("race", "racers", RACERS, len(self.racers))
        common = {
            "surface": self.surface,
            "surface_params": self.surface_params,
            "formula": self.formula,
            "domain": self.domain,
            "start": self.start,
            "steps": self.steps,
            "noise": self.noise,
            "seed": self.seed,
        }
        return [
            RunSpec(
                optimizer=r.optimizer,
                hyperparameters=r.hyperparameters,
                schedule=r.schedule,
                schedule_params=r.schedule_params,
                label=r.label or f"{i + 1}. {'SAM-' if r.sam_rho else ''}{r.optimizer}",
                sam_rho=r.sam_rho,
                **common,
            )
            for i, r in enumerate(self.racers)
        ]

    def normalised(self) -> "LabConfig":
        """Defaults filled in from the validated specs (start included)."""
        specs = self.specs()
        racers = tuple(
            replace(r, hyperparameters=s.hyperparameters, schedule_params=s.schedule_params)
            for r, s in zip(self.racers, specs, strict=True)
        )
        first = specs[0]
        return replace(
            self,
            racers=racers,
            start=first.start,
            surface_params=first.surface_params,
            formula=first.formula,
            domain=first.domain,
        )


def warmup_schedule(name: str, params: dict, warmup_steps: int, start_factor: float):
    """(``SequentialLR``, its params): LinearLR warm-up for ``warmup_steps``, then ``name``."""
    children = [
        {
            "name": "LinearLR",
            "start_factor": start_factor,
            "end_factor": 1.0,
            "total_iters": warmup_steps,
        },
        {"name": name, **params},
    ]
    return "SequentialLR", {"schedulers": children, "milestones": [warmup_steps]}


def split_warmup(schedule: str, params: dict):
    """Inverse of ``warmup_schedule``: (name, params, warmup_steps or 0, start_factor).

    Only exactly what ``warmup_schedule`` makes is split; any other SequentialLR comes back
    whole (warm-up steps 0), so the caller keeps it as it is.
    """
    children = params.get("schedulers", []) if schedule == "SequentialLR" else []
    if len(children) != 2:
        return schedule, params, 0, 0.01
    warm, rest = children
    steps = warm.get("total_iters")
    made = warmup_schedule(
        rest.get("name"), _without_name(rest), steps, warm.get("start_factor", 1 / 3)
    )[1]
    if made != _plain(params):
        return schedule, params, 0, 0.01
    return rest["name"], _without_name(rest), int(steps), warm["start_factor"]


def _without_name(child: dict) -> dict:
    return {k: v for k, v in child.items() if k != "name"}


def _plain(value):
    """Tuples as lists, so parameters from a frozen spec compare with freshly made ones."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def config_from_lesson(lesson) -> LabConfig:
    """The race a lesson sets up (``optim_core.lessons.Lesson``)."""
    return LabConfig(
        surface=lesson.surface,
        formula=lesson.formula,
        domain=freeze(lesson.domain),
        surface_params=freeze(dict(lesson.surface_params)),
        start=tuple(lesson.start),
        steps=lesson.steps,
        noise=lesson.noise,
        seed=lesson.seed,
        racers=tuple(Racer.from_dict(dict(run)) for run in lesson.runs),
        lesson=lesson.id,
    )


def config_from_specs(specs) -> LabConfig:
    """The race of ``specs`` (a saved race file): they must share the surface, start, steps
    and noise, as a race's runs do (ValueError naming the first that differs)."""
    if not specs:
        raise ValueError("race file: no racers")
    first = specs[0]
    shared = ("surface", "formula", "domain", "surface_params", "start", "steps", "noise", "seed")
    for i, spec in enumerate(specs[1:], 2):
        for name in shared:
            if getattr(spec, name) != getattr(first, name):
                raise ValueError(f"race file: racer {i} has another {name!r} than racer 1")
    racers = tuple(
        Racer(s.optimizer, s.hyperparameters, s.schedule, s.schedule_params, s.label,
              s.sam_rho)
        for s in specs
    )  # fmt: skip
    return LabConfig(**{name: getattr(first, name) for name in shared}, racers=racers)
