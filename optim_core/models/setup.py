"""One model race as the app and a link name it: data, model, racers, training, plane.

Frozen, hashable and valid once constructed (the app caches a trained race by it); the data
set and the model are resolved and validated here, once, so a bad value in a link or a
widget is a ValueError naming the parameter. ``to_query`` / ``from_query`` follow the
surface mode's share links: a value a link cannot use keeps its default, with a warning.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property

from common.limits import MAX_RACERS, RACERS, STEPS, check_size
from common.params import Options, Param, parse_number, shown, validate
from landscapes.models import DATASETS, MLP, Dataset, dataset_from_csv, make_dataset
from landscapes.models.data import SPLIT

from ..config import Racer as RacerSetting
from ..share import check_text, parse_json, parse_json_object, unknown_names
from ..spec import ResolvedOnce, freeze, thaw_dict
from .spec import Racer, TrainConfig

PLANES = ("pca", "random")
CSV = "csv"  # the data set a user uploaded: its text travels in the setup, not in a link
_MODEL_KEYS = ("depth", "width", "activation", "dropout")
_PLANE = Param("plane", "pca", Options(PLANES), "plane through the paths or around racer 1")
_GRID = 40  # decision-function grid per axis: a 40x40 image per racer and frame
_FRAMES = 30  # decision frames per racer: the boundary animates in 30 steps


def _setting(optimizer, schedule="none", schedule_params=None, **h) -> RacerSetting:
    return RacerSetting(optimizer, freeze(h), schedule, freeze(schedule_params or {}))


DEFAULT_RACERS = (
    _setting("SGD", lr=0.1, momentum=0.9),
    _setting("Adam", lr=0.01),
    _setting("RMSprop", lr=0.003),
)


@dataclass(frozen=True)
class ModelSetup(ResolvedOnce):
    data: str = "moons"
    data_params: tuple = ()  # the generator's parameters, val_fraction and seed
    model: tuple = (("depth", 2), ("width", 16), ("activation", "tanh"), ("dropout", 0.0))
    racers: tuple[RacerSetting, ...] = DEFAULT_RACERS
    steps: int = 500
    batch_size: int | None = None
    seed: int = 0  # initial weights, batch order, dropout
    patience: int | None = None
    plane: str = "pca"
    csv_text: str = field(default="", repr=False)  # an uploaded file, when data == CSV
    label_column: str = ""  # of the CSV file; "" for its last column
    warnings: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self):
        check_size("model race", "racers", RACERS, len(self.racers))
        data = self._load_data()
        model = dict(thaw_dict(self.model))
        unknown = sorted(set(model) - set(_MODEL_KEYS))
        if unknown:
            raise ValueError(f"model: unknown parameter {shown(unknown[0])}")
        mlp = MLP(n_inputs=data.n_features, n_classes=data.n_classes, **model)
        config = TrainConfig(
            steps=STEPS.check("training", self.steps), batch_size=self.batch_size,
            seed=self.seed, patience=self.patience, grid_size=_GRID,
            grid_frames=_FRAMES if data.n_features == 2 else 0,
        )  # fmt: skip
        _PLANE.check("model race", self.plane)
        racers = tuple(
            Racer(r.optimizer, r.hyperparameters, r.schedule, r.schedule_params,
                  r.label or f"{i + 1}. {'SAM-' if r.sam_rho else ''}{r.optimizer}", r.sam_rho)
            for i, r in enumerate(self.racers)
        )  # fmt: skip
        set_ = object.__setattr__
        settings = tuple(
            replace(r, hyperparameters=m.hyperparameters, schedule_params=m.schedule_params)
            for r, m in zip(self.racers, racers, strict=True)
        )  # torch's defaults filled in, as the widgets show them
        set_(self, "racers", settings)
        set_(self, "data_params", freeze(self._data_values()))
        set_(self, "model", freeze({k: getattr(mlp, k) for k in _MODEL_KEYS}))
        for name in ("steps", "batch_size", "seed", "patience"):  # as validated: 32.0 -> 32
            set_(self, name, getattr(config, name))
        set_(self, "_entries", (data, mlp, racers, config))

    def _data_values(self) -> dict:
        """The data set's parameters with defaults filled in (checked by _load_data)."""
        own = DATASETS[self.data].params if self.data in DATASETS else ()
        return validate(self.data, own + SPLIT, thaw_dict(self.data_params))

    def _load_data(self) -> Dataset:
        if self.data != CSV:
            return make_dataset(self.data, **thaw_dict(self.data_params))
        if not self.csv_text:
            raise ValueError("data set 'csv': upload a CSV file first")
        split = thaw_dict(self.data_params)
        unknown = sorted(set(split) - {"val_fraction", "seed"})
        if unknown:
            raise ValueError(f"csv: unknown parameter {shown(unknown[0])}")
        return dataset_from_csv(self.csv_text, self.label_column or None, **split)

    @property
    def dataset(self) -> Dataset:
        return self._entries[0]

    @property
    def mlp(self) -> MLP:
        return self._entries[1]

    @property
    def model_racers(self) -> tuple[Racer, ...]:
        return self._entries[2]

    @property
    def config(self) -> TrainConfig:
        return self._entries[3]

    @cached_property
    def description(self) -> str:
        d, m = self.dataset, self.mlp
        shape = "-".join(str(s) for s in m.sizes)
        kind = "logistic regression" if m.depth == 0 else f"MLP {shape}, {m.activation}"
        what = DATASETS[self.data].description if self.data in DATASETS else "your CSV file"
        return (
            f"{what} · {len(d.y_train)} train / {len(d.y_val)} validation points, "
            f"{d.n_features} features, {d.n_classes} classes · {kind} ({m.n_params} weights)"
        )

    def to_query(self) -> dict[str, str | list[str]]:
        """A link's query; an uploaded CSV cannot travel in one (the link names "csv" and a
        reader is told to upload the file)."""
        query: dict[str, str | list[str]] = {
            "mode": "model",
            "data": self.data,
            "model": _json_text(thaw_dict(self.model)),
            "steps": str(self.steps),
            "racer": [r.to_json() for r in self.racers],
        }
        if self.data_params:
            query["data_params"] = _json_text(thaw_dict(self.data_params))
        optional = {"batch_size": self.batch_size, "seed": self.seed or None,
                    "patience": self.patience}  # fmt: skip
        query |= {k: str(v) for k, v in optional.items() if v is not None}
        if self.plane != "pca":
            query["plane"] = self.plane
        return query

    @classmethod
    def from_query(cls, query: Mapping[str, list[str]]) -> "ModelSetup":
        """Never raises: each value a link cannot use keeps its default, with a warning."""
        return _read(query)


QUERY_KEYS = ("mode", "data", "data_params", "model", "steps", "racer", "batch_size", "seed",
              "patience", "plane")  # fmt: skip


def _read(query: Mapping[str, list[str]]) -> ModelSetup:
    setup, warnings = ModelSetup(), []

    def last(name):
        values = query.get(name) or []
        return values[-1] if values else None

    def attempt(name, parse):
        nonlocal setup
        raw = last(name)
        if raw is None:
            return
        try:
            check_text(raw)
            setup = replace(setup, **parse(raw))
        except ValueError as err:
            warnings.append(f"URL parameter {name}={_short(raw)} ignored: {err}")

    def number(name):
        return lambda s: {name: parse_number(s, False)}

    unknown = unknown_names(query, QUERY_KEYS)
    if unknown:
        warnings.append(f"URL parameters that do not belong to the model mode: {unknown}")
    if last("data") == CSV:
        warnings.append("URL parameter data=csv: the link cannot carry your file; upload it")
    else:
        attempt("data", lambda s: {"data": s, "data_params": ()})
    attempt("data_params", lambda s: {"data_params": freeze(parse_json_object(s))})
    attempt("model", lambda s: {"model": freeze(parse_json_object(s))})
    for name in ("steps", "batch_size", "seed", "patience"):
        attempt(name, number(name))
    attempt("plane", lambda s: {"plane": s})
    racers = query.get("racer") or []
    if len(racers) > MAX_RACERS:
        warnings.append(f"URL parameter racer: at most {MAX_RACERS} racers; kept the first")
    kept = []
    for i, raw in enumerate(racers[:MAX_RACERS], 1):
        try:
            check_text(raw)
            racer = RacerSetting.from_dict(parse_json(raw))
            replace(setup, racers=(racer,))
        except ValueError as err:
            warnings.append(f"URL parameter racer #{i}={_short(raw)} ignored: {err}")
            continue
        kept.append(racer)
    if kept:
        setup = replace(setup, racers=tuple(kept))
    return replace(setup, warnings=tuple(warnings))


def _json_text(value) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _short(raw) -> str:
    text = str(raw)
    return repr(text if len(text) <= 60 else text[:57] + "...")


__all__ = ["CSV", "DEFAULT_RACERS", "PLANES", "QUERY_KEYS", "ModelSetup"]
