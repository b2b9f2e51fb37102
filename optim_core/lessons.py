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
import pathlib
import re
from dataclasses import dataclass

from .engines import numba_engine
from .spec import RunSpec
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
    _check_keys("lesson", data, _FIELDS, _OPTIONAL)
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
        _check_keys(f"runs[{i}]", run, _RUN_FIELDS, _RUN_OPTIONAL)
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
    lessons: dict[str, Lesson] = {}
    for path in sorted(folder.glob("*.json")):
        try:
            lesson = lesson_from_dict(json.loads(path.read_text(encoding="utf-8")))
            if lesson.id != path.stem:
                raise ValueError(f"lesson: 'id' must match the file name {path.stem!r}")
        except (ValueError, TypeError) as err:  # json.JSONDecodeError is a ValueError
            raise ValueError(f"{path.name}: {err}") from None
        lessons[lesson.id] = lesson
    return lessons


def _check_keys(owner: str, data: dict, fields: tuple, optional: dict) -> None:
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(
            f"{owner}: unknown field {unknown[0]!r}; expected one of {', '.join(fields)}"
        )
    missing = [name for name in fields if name not in data and name not in optional]
    if missing:
        raise ValueError(f"{owner}: missing field {missing[0]!r}")


LESSONS: dict[str, Lesson] = load_lessons()
