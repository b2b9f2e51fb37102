"""The lab's whole configuration: a race of several optimizers on one surface.

Plain data, no Streamlit: the app turns widgets into a LabConfig and back, and a LabConfig
round-trips through URL query parameters so a link reproduces what the sender saw. Reading a
URL never raises: each bad value is replaced by its default and reported with a reason.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from common.params import Options, Param
from landscapes import CUSTOM

from .spec import RunSpec, freeze, thaw_dict

VIEWS = ("2d", "3d")


@dataclass(frozen=True)
class Racer:
    """One optimizer in the race, with its own hyperparameters and lr schedule."""

    optimizer: str = "Adam"
    hyperparameters: tuple = ()
    schedule: str = "none"
    schedule_params: tuple = ()
    label: str = ""

    def to_json(self) -> str:
        data = {"optimizer": self.optimizer, "hyperparameters": thaw_dict(self.hyperparameters)}
        if self.schedule != "none":
            data["schedule"] = self.schedule
            data["schedule_params"] = thaw_dict(self.schedule_params)
        if self.label:
            data["label"] = self.label
        return json.dumps(data, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> "Racer":
        if not isinstance(data, dict):
            raise ValueError(f"racer: expected a mapping; got {data!r}")
        unknown = sorted(
            set(data) - {"optimizer", "hyperparameters", "schedule", "schedule_params", "label"}
        )
        if unknown:
            raise ValueError(f"racer: unknown field {unknown[0]!r}")
        return cls(
            optimizer=data.get("optimizer", "Adam"),
            hyperparameters=freeze(data.get("hyperparameters", {})),
            schedule=data.get("schedule", "none"),
            schedule_params=freeze(data.get("schedule_params", {})),
            label=str(data.get("label", "")),
        )


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
                label=r.label or f"{i + 1}. {r.optimizer}",
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

    def to_query(self) -> dict[str, str | list[str]]:
        query: dict[str, str | list[str]] = {
            "surface": self.surface,
            "steps": str(self.steps),
            "racer": [r.to_json() for r in self.racers],
        }
        if self.surface_params:
            query["surface_params"] = json.dumps(
                thaw_dict(self.surface_params), separators=(",", ":")
            )
        if self.formula:
            query["formula"] = self.formula
        if self.domain is not None:
            query["domain"] = ",".join(f"{v:.6g}" for pair in self.domain for v in pair)
        if self.start is not None:
            query["start"] = f"{self.start[0]:.6g},{self.start[1]:.6g}"
        if self.noise:
            query["noise"] = repr(self.noise)
            query["seed"] = str(self.seed)
        if self.view != "2d":
            query["view"] = self.view
        if self.lesson:
            query["lesson"] = self.lesson
        return query

    @classmethod
    def from_query(cls, query: Mapping[str, list[str]]) -> "LabConfig":
        """Never raises: every rejected value keeps its default and adds a warning."""
        return _from_query(query)


_VIEW = Param("view", "2d", Options(VIEWS), "2-D race or static 3-D surface")
_KNOWN = {
    "surface",
    "surface_params",
    "formula",
    "domain",
    "start",
    "steps",
    "noise",
    "seed",
    "racer",
    "view",
    "lesson",
}


def _from_query(query: Mapping[str, list[str]]) -> LabConfig:
    warnings: list[str] = []
    config = LabConfig()

    def first(name):
        values = query.get(name) or []
        return values[-1] if values else None

    def attempt(name, parse, field_name=None):
        nonlocal config
        raw = first(name) if name != "racer" else query.get("racer")
        if raw is None or raw == []:
            return
        try:
            changes = parse(raw)
            changes = changes if isinstance(changes, dict) else {field_name or name: changes}
            candidate = replace(config, **changes)
            candidate.specs()
        except (ValueError, TypeError, json.JSONDecodeError) as err:
            warnings.append(f"URL parameter {name}={_short(raw)} ignored: {err}")
            return
        config = candidate

    def surface(name):
        if name != CUSTOM:
            return {"surface": name}
        domain = first("domain")
        return {
            "surface": name,
            "formula": first("formula") or "",
            "domain": domain and _domain(domain),
        }

    for name in sorted(set(query) - _KNOWN):
        warnings.append(f"URL parameter {name!r} is unknown and was ignored")
    attempt("surface", surface)
    attempt("surface_params", lambda s: freeze(_json_mapping(s)))
    attempt("start", _pair)
    attempt("steps", lambda s: _number(s, int))
    attempt("noise", lambda s: _number(s, float))
    attempt("seed", lambda s: _number(s, int))
    attempt("racer", lambda values: tuple(Racer.from_dict(json.loads(v)) for v in values), "racers")
    view = first("view")
    if view is not None:
        if _VIEW.constraint.contains(view):
            config = replace(config, view=view)
        else:
            warnings.append(f"URL parameter view={_short(view)} ignored: must be one of {VIEWS}")
    lesson = first("lesson")
    if lesson:
        config = replace(config, lesson=lesson)
    return replace(config, warnings=tuple(warnings))


def _short(raw) -> str:
    text = raw if isinstance(raw, str) else ",".join(raw)
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _json_mapping(text: str) -> dict:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object; got {text!r}")
    return value


def _number(text: str, kind):
    value = float(text)
    if kind is int:
        if not value.is_integer():
            raise ValueError(f"expected a whole number; got {text!r}")
        return int(value)
    return value


def _domain(text: str) -> tuple:
    values = [float(v) for v in text.split(",")]
    if len(values) != 4:
        raise ValueError(f"expected 'x0,x1,y0,y1'; got {text!r}")
    return ((values[0], values[1]), (values[2], values[3]))


def _pair(text: str) -> tuple[float, float]:
    parts = text.split(",")
    if len(parts) != 2:
        raise ValueError(f"expected 'x,y'; got {text!r}")
    return (float(parts[0]), float(parts[1]))


def schedule_defaults(name: str, steps: int, lr: float) -> dict:
    """Starting values for a schedule that fit a run of ``steps`` with base lr ``lr``.

    torch requires these (no default exists for T_max, step_size, ...); the values chosen make
    the schedule's shape visible within the run.
    """
    quarter = max(1, steps // 4)
    table = {
        "StepLR": {"step_size": quarter, "gamma": 0.5},
        "MultiStepLR": {"milestones": [max(1, steps // 2), max(2, 3 * steps // 4)], "gamma": 0.3},
        "ExponentialLR": {"gamma": round(0.01 ** (1 / max(steps, 1)), 6)},
        "PolynomialLR": {"total_iters": steps, "power": 2.0},
        "CosineAnnealingLR": {"T_max": steps, "eta_min": 0.0},
        "CosineAnnealingWarmRestarts": {"T_0": quarter, "T_mult": 1, "eta_min": 0.0},
        "LinearLR": {"start_factor": 0.01, "end_factor": 1.0, "total_iters": max(1, steps // 10)},
        "ConstantLR": {"factor": 0.3, "total_iters": max(1, steps // 10)},
        "CyclicLR": {"base_lr": lr / 5, "max_lr": lr * 2, "step_size_up": max(1, steps // 8)},
        "OneCycleLR": {"max_lr": lr * 2, "total_steps": steps},
        "ReduceLROnPlateau": {"patience": max(1, steps // 50), "factor": 0.5},
        "InverseTimeLR": {"decay_rate": round(10 / max(steps, 1), 6), "decay_steps": 1},
    }
    return dict(table.get(name, {}))


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
    """Inverse of ``warmup_schedule``: (name, params, warmup_steps or 0, start_factor)."""
    children = params.get("schedulers", []) if schedule == "SequentialLR" else []
    if (
        len(children) == 2
        and children[0].get("name") == "LinearLR"
        and children[1].get("name") != "none"
    ):
        rest = {k: v for k, v in children[1].items() if k != "name"}
        return children[1]["name"], rest, int(params["milestones"][0]), children[0]["start_factor"]
    return schedule, params, 0, 0.01


def config_from_lesson(lesson) -> LabConfig:
    """The race a lesson sets up (``optim_core.lessons.Lesson``)."""
    return LabConfig(
        surface=lesson.surface,
        surface_params=freeze(dict(lesson.surface_params)),
        start=tuple(lesson.start),
        steps=lesson.steps,
        noise=lesson.noise,
        seed=lesson.seed,
        racers=tuple(Racer.from_dict(dict(run)) for run in lesson.runs),
        lesson=lesson.id,
    )


def schedule_curves(optimizer: str, h: dict, schedule: str, params: dict, steps: int):
    """(lr per step, momentum per step or None) as the run would use them, for a preview."""
    from .engines.prepare import schedule_arrays
    from .optimizers import check_hyperparameters, get_optimizer

    h = check_hyperparameters(optimizer, h)
    spec = RunSpec(
        optimizer=optimizer, hyperparameters=freeze(h), schedule=schedule,
        schedule_params=freeze(params), steps=steps,
    )  # fmt: skip
    lr, momentum, _ = schedule_arrays(spec, get_optimizer(optimizer), spec.h)
    return lr, (momentum if np.isfinite(momentum).all() and np.ptp(momentum) > 0 else None)
