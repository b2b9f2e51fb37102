"""Model-mode lessons: one data file per concept in ``assets/model_lessons``, loaded once.

A lesson trains 1-6 racers on one data set and one model from one seeded start, so the only
difference between the curves is what the lesson is about (the lr, weight decay, the
optimizer, SAM). Its fields use the names of the app's model race (``ModelSetup``): ``data``
and ``data_params``, ``model`` (depth, width, activation, dropout; the input and class
counts come from the data), ``steps``, ``batch_size``, ``seed``, ``patience``, and
``racers``, each with ``label``, ``optimizer``, ``hyperparameters``, ``schedule``,
``schedule_params`` and ``sam_rho``. ``watch`` tells students in two or three sentences what
to look for, naming racers by their labels (quoted), which the legends show.

Everything is resolved when the file loads (the data set is drawn, the model, the training
settings and every racer validated), so a broken file raises ValueError naming the file and
the bad value, and fails the tests rather than a class.
"""

import pathlib
from dataclasses import dataclass

from common.limits import MAX_RACERS
from landscapes.models import MLP, Dataset, make_dataset

from ..lessons import check_keys, load_lesson_files, sentence_count
from ..spec import freeze
from .result import ModelRace
from .spec import Racer, TrainConfig
from .train import train

MODEL_LESSONS_DIR = pathlib.Path(__file__).resolve().parents[2] / "assets" / "model_lessons"

_FIELDS = ("id", "title", "watch", "data", "data_params", "model", "steps", "batch_size",
           "seed", "patience", "racers")  # fmt: skip
_OPTIONAL = {"data_params": {}, "model": {}, "batch_size": None, "seed": 0, "patience": None}
_RACER_FIELDS = ("label", "optimizer", "hyperparameters", "schedule", "schedule_params",
                 "sam_rho")  # fmt: skip
_RACER_OPTIONAL = {"hyperparameters": {}, "schedule": "none", "schedule_params": {}, "sam_rho": 0}


@dataclass(frozen=True, eq=False)
class ModelLesson:
    id: str
    title: str
    watch: str
    data: str  # the data set's registry name
    data_params: dict  # its parameters, val_fraction and seed, as in the file
    model_params: dict  # depth, width, activation, dropout, as in the file
    dataset: Dataset
    model: MLP
    config: TrainConfig
    racers: tuple[Racer, ...]

    def run(self, config: TrainConfig | None = None, device: str = "cpu") -> ModelRace:
        """The lesson's race; ``config`` (default: the lesson's) may change what is recorded."""
        return train(self.dataset, self.model, self.racers, config or self.config, device)


def model_lesson_from_dict(data: dict) -> ModelLesson:
    """A ModelLesson from a file's parsed JSON; raises ValueError for anything malformed."""
    if not isinstance(data, dict):
        raise ValueError(f"a lesson must be a JSON object; got {type(data).__name__}")
    check_keys("lesson", data, _FIELDS, _OPTIONAL)
    data = {**_OPTIONAL, **data}
    for name in ("id", "title", "watch", "data"):
        if not isinstance(data[name], str) or not data[name].strip():
            raise ValueError(f"lesson: {name!r} must be a non-empty string; got {data[name]!r}")
    sentences = sentence_count(data["watch"])
    if not 2 <= sentences <= 3:
        raise ValueError(f"lesson: 'watch' must be 2-3 sentences; got {sentences}")
    for name in ("data_params", "model"):
        if not isinstance(data[name], dict):
            raise ValueError(f"lesson: {name!r} must be an object; got {data[name]!r}")
    dataset = make_dataset(data["data"], **data["data_params"])
    model = MLP(n_inputs=dataset.n_features, n_classes=dataset.n_classes, **data["model"])
    config = TrainConfig(
        steps=data["steps"], batch_size=data["batch_size"], seed=data["seed"],
        patience=data["patience"],
    )  # fmt: skip
    lesson = ModelLesson(
        id=data["id"], title=data["title"], watch=data["watch"], data=data["data"],
        data_params=data["data_params"], model_params=data["model"], dataset=dataset,
        model=model, config=config, racers=_racers(data["racers"]),
    )  # fmt: skip
    for racer in lesson.racers:
        racer.lr_schedule.check_steps(config.steps)
    return lesson


def _racers(items) -> tuple[Racer, ...]:
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_RACERS:
        raise ValueError(f"lesson: 'racers' must be a list of 1-{MAX_RACERS} racers; got {items!r}")
    racers = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise ValueError(f"lesson: racers[{i}] must be an object; got {item!r}")
        check_keys(f"racers[{i}]", item, _RACER_FIELDS, _RACER_OPTIONAL)
        r = {**_RACER_OPTIONAL, **item}
        if not isinstance(r["label"], str) or not r["label"].strip():
            raise ValueError(f"racers[{i}]: 'label' must be a non-empty string; got {r['label']!r}")
        try:
            racers.append(
                Racer(r["optimizer"], freeze(r["hyperparameters"]), r["schedule"],
                      freeze(r["schedule_params"]), r["label"], r["sam_rho"])
            )  # fmt: skip
        except (ValueError, TypeError) as err:
            raise ValueError(f"racers[{i}] ({r['label']}): {err}") from None
    labels = [racer.label for racer in racers]
    if len(set(labels)) != len(labels):
        raise ValueError(f"lesson: racer labels must be distinct; got {labels!r}")
    return tuple(racers)


def load_model_lessons(folder: pathlib.Path = MODEL_LESSONS_DIR) -> dict[str, ModelLesson]:
    """Every ``*.json`` lesson in ``folder`` by id, in file-name order."""
    return load_lesson_files(folder, model_lesson_from_dict)


MODEL_LESSONS: dict[str, ModelLesson] = load_model_lessons()
