"""Classroom presets: one data file per concept in ``assets/lessons``, loaded and validated once.

A lesson puts 1-4 runs side by side on one surface, all from the same start with the same
number of steps and the same gradient noise, so the only difference between the paths is the
optimizer or schedule the lesson is about. ``watch`` tells students, in two or three
sentences, what to look for; it names runs by their labels, which the figures show in their
legends, rather than by colour, which the figure code may change.

A lesson file that is malformed or describes an invalid run makes :func:`load_lessons` raise
ValueError naming the file, so a broken preset fails the tests, not a class.
"""

import json
import math
import pathlib
import re
from dataclasses import dataclass, replace

from .config import LabConfig, Racer, config_from_lesson
from .engines import numba_engine
from .optimizers import OPTIMIZERS
from .spec import RunSpec, thaw_dict
from .trajectory import Trajectory

LESSONS_DIR = pathlib.Path(__file__).resolve().parents[1] / "assets" / "lessons"
MAX_RUNS = 4

# The same for every run; a lesson may race on its own formula (surface "custom").
_SHARED = ("surface", "formula", "domain", "surface_params", "start", "steps", "noise", "seed")
_FIELDS = ("id", "title", "watch", *_SHARED, "runs")
_RUN_FIELDS = ("label", "optimizer", "hyperparameters", "schedule", "schedule_params")
_OPTIONAL = {"formula": "", "domain": None, "surface_params": {}, "noise": 0.0, "seed": 0}
_RUN_OPTIONAL = {"hyperparameters": {}, "schedule": "none", "schedule_params": {}}
# A sentence ends at . ! or ? followed by white space or the end, so "0.05" is not a boundary.
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)")


@dataclass(frozen=True)
class Lesson:
    id: str
    title: str
    watch: str
    surface: str
    formula: str
    domain: tuple | None
    surface_params: dict
    start: tuple[float, float]
    steps: int
    noise: float
    seed: int
    runs: tuple[dict, ...]

    def specs(self) -> list[RunSpec]:
        """One validated RunSpec per run, labelled, in the file's order."""
        shared = {name: getattr(self, name) for name in _SHARED}
        return [RunSpec.from_dict({**shared, **run}) for run in self.runs]

    def run(self) -> list[Trajectory]:
        """The lesson's trajectories, computed by the Numba engine."""
        return [numba_engine.run(spec) for spec in self.specs()]


def sentence_count(text: str) -> int:
    return len(_SENTENCE_END.findall(text.strip()))


def lesson_from_dict(data: dict) -> Lesson:
    """A Lesson from a file's parsed JSON; raises ValueError for anything malformed."""
    if not isinstance(data, dict):
        raise ValueError(f"a lesson must be a JSON object; got {type(data).__name__}")
    check_keys("lesson", data, _FIELDS, _OPTIONAL)
    data = {**_OPTIONAL, **data}
    for name in ("id", "title", "watch"):
        if not isinstance(data[name], str) or not data[name].strip():
            raise ValueError(f"lesson: {name!r} must be a non-empty string; got {data[name]!r}")
    sentences = sentence_count(data["watch"])
    if not 2 <= sentences <= 3:
        raise ValueError(f"lesson: 'watch' must be 2-3 sentences; got {sentences}")
    start = data["start"]
    if not isinstance(start, list) or len(start) != 2:
        raise ValueError(f"lesson: 'start' must be a list [x, y]; got {start!r}")
    runs = data["runs"]
    if not isinstance(runs, list) or not 1 <= len(runs) <= MAX_RUNS:
        raise ValueError(f"lesson: 'runs' must be a list of 1-{MAX_RUNS} runs; got {runs!r}")
    for i, run in enumerate(runs):
        if not isinstance(run, dict):
            raise ValueError(f"lesson: runs[{i}] must be an object; got {run!r}")
        check_keys(f"runs[{i}]", run, _RUN_FIELDS, _RUN_OPTIONAL)
    runs = tuple({**_RUN_OPTIONAL, **run} for run in runs)
    labels = [run["label"] for run in runs]
    distinct = len(set(map(str, labels))) == len(labels)
    if not distinct or not all(isinstance(label, str) and label for label in labels):
        raise ValueError(f"lesson: run labels must be distinct non-empty strings; got {labels!r}")
    fields = {name: data[name] for name in _FIELDS}
    lesson = Lesson(**{**fields, "start": tuple(start), "runs": runs})
    for i, run in enumerate(runs):  # RunSpec raises ValueError naming the bad value
        try:
            RunSpec.from_dict({**{name: data[name] for name in _SHARED}, **run})
        except ValueError as err:
            raise ValueError(f"runs[{i}] ({run['label']}): {err}") from None
    return lesson


def load_lessons(folder: pathlib.Path = LESSONS_DIR) -> dict[str, Lesson]:
    """Every ``*.json`` lesson in ``folder`` by id, in file-name order."""
    return load_lesson_files(folder, lesson_from_dict)


def load_lesson_files(folder: pathlib.Path, parse) -> dict:
    """``parse(json)`` of every ``*.json`` file in ``folder`` by its ``id``, which must match
    the file name; ValueError naming the file for anything malformed."""
    lessons = {}
    for path in sorted(folder.glob("*.json")):
        try:
            lesson = parse(json.loads(path.read_text(encoding="utf-8")))
            if lesson.id != path.stem:
                raise ValueError(f"lesson: 'id' must match the file name {path.stem!r}")
        except (ValueError, TypeError) as err:  # json.JSONDecodeError is a ValueError
            raise ValueError(f"{path.name}: {err}") from None
        lessons[lesson.id] = lesson
    return lessons


def follow_lesson(lesson: Lesson, config: LabConfig) -> tuple[LabConfig, list[str]]:
    """``config`` with its edited runs renamed (:func:`name_modified_runs`), and what the
    teacher changed from the lesson (:func:`lesson_changes`). ``config`` must be valid."""
    changed = lesson_changes(lesson, config)
    return (name_modified_runs(lesson, config) if changed else config), changed


def lesson_changes(lesson: Lesson, config: LabConfig) -> list[str]:
    """What ``config`` changed from the race ``lesson`` sets up, in words: "steps",
    "racer 1 lr", "racer 4 added". Run names do not count; empty if nothing else changed."""
    ours, theirs = config_from_lesson(lesson).normalised(), config.normalised()
    changed = [
        name.replace("_", " ")
        for name in _SHARED
        if not _same(getattr(ours, name), getattr(theirs, name))
    ]
    for i in range(max(len(ours.racers), len(theirs.racers))):
        if i >= len(ours.racers):
            changed.append(f"racer {i + 1} added")
        elif i >= len(theirs.racers):
            changed.append(f"racer {i + 1} removed")
        else:
            racer = _racer_changes(ours.racers[i], theirs.racers[i])
            changed += [f"racer {i + 1} {c}" for c in racer]
    return changed


def name_modified_runs(lesson: Lesson, config: LabConfig) -> LabConfig:
    """``config`` with each edited run that still carries its lesson name named from its
    settings instead ("lr = 0.05" at lr 0.2 becomes "1. SGD, lr 0.2"); other names stay."""
    ours = config_from_lesson(lesson).normalised().racers
    theirs = config.normalised().racers
    racers = list(config.racers)
    for i, (racer, mine, original) in enumerate(zip(racers, theirs, ours, strict=False)):
        if racer.label == original.label and _racer_changes(original, mine):
            racers[i] = replace(racer, label=settings_name(i, mine))
    return config if racers == list(config.racers) else replace(config, racers=tuple(racers))


def settings_name(i: int, racer: Racer) -> str:
    """A run's name from its settings: optimizer, lr, what differs from the optimizer's
    defaults, and its schedule."""
    h = thaw_dict(racer.hyperparameters)
    defaults = {p.name: p.default for p in OPTIMIZERS[racer.optimizer].params}
    parts = [f"{i + 1}. {racer.optimizer}", f"lr {h['lr']:g}"]
    parts += [f"{k} {_short(v)}" for k, v in h.items() if k != "lr" and not _same(v, defaults[k])]
    if racer.schedule != "none":
        parts.append(racer.schedule)
    return ", ".join(parts)


def _racer_changes(original: Racer, racer: Racer) -> list[str]:
    if original.optimizer != racer.optimizer:
        return ["optimizer"]
    a, b = thaw_dict(original.hyperparameters), thaw_dict(racer.hyperparameters)
    changed = [name for name in a if not _same(a[name], b.get(name))]
    if original.schedule != racer.schedule or not _same(
        thaw_dict(original.schedule_params), thaw_dict(racer.schedule_params)
    ):
        changed.append("schedule")
    return changed


def _same(a, b) -> bool:
    """Equal, floats within rounding (a widget's 0.1 against a file's 0.1), lists as tuples."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-15)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def _short(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple | list):
        return "(" + ", ".join(_short(v) for v in value) + ")"
    return str(value)


def check_keys(owner: str, data: dict, fields: tuple, optional: dict) -> None:
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(
            f"{owner}: unknown field {unknown[0]!r}; expected one of {', '.join(fields)}"
        )
    missing = [name for name in fields if name not in data and name not in optional]
    if missing:
        raise ValueError(f"{owner}: missing field {missing[0]!r}")


LESSONS: dict[str, Lesson] = load_lessons()
