"""The model-mode lessons: every file loads and trains, and every lesson shows its effect.

Each claim checks what the lesson's ``watch`` text promises on the trained race (a status,
a count of loss increases, a ratio between racers), not numbers copied from an earlier run.
Each claim is also run on the lesson with its key setting weakened, and must then fail: a
claim that still holds without the cause does not test the lesson.
"""

import json
from dataclasses import replace
from functools import cache

import numpy as np
import pytest

from landscapes.models import top_hessian_eigenvalue
from optim_core.models import ModelRace
from optim_core.models.lessons import (
    MODEL_LESSONS,
    MODEL_LESSONS_DIR,
    ModelLesson,
    load_model_lessons,
    model_lesson_from_dict,
)
from optim_core.trajectory import DIVERGED, MAX_STEPS


def quick_run(lesson: ModelLesson) -> dict[str, tuple[ModelRace, int]]:
    """(race, row) of each racer by label; nothing recorded beyond the curves."""
    race = lesson.run(replace(lesson.config, grid_frames=0, snapshots=2))
    return {racer.label: (race, r) for r, racer in enumerate(race.racers)}


@cache
def racers(lesson_id: str):
    return quick_run(MODEL_LESSONS[lesson_id])


def curves(entry) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(eval steps, train loss, validation loss, per-step batch loss) of one racer."""
    race, r = entry
    return race.eval_steps, race.eval_train_loss[r], race.val_loss[r], race.train_loss[r]


def first_step_below(entry, level: float) -> float:
    steps, train, _, _ = curves(entry)
    below = np.flatnonzero(train < level)
    return steps[below[0]] if len(below) else np.inf


def rises(entry) -> int:
    return int(np.count_nonzero(np.diff(curves(entry)[3]) > 0))


# ---- the claims ---------------------------------------------------------------------------


def lr_too_high(lesson, r):
    good, bouncy, wild = r["lr 0.3"], r["lr 10"], r["lr 30"]
    assert wild[0].status[wild[1]] == DIVERGED and wild[0].stop_step[wild[1]] <= 10
    assert rises(good) == 0
    assert rises(bouncy) >= 0.3 * lesson.config.steps  # "two steps in five"
    assert curves(bouncy)[1][-1] > 1.5 * curves(good)[1][-1]  # "about twice as high"


def overfitting(lesson, r):
    steps, train, val, _ = curves(r["Adam"])
    best = np.argmin(val)
    assert steps[best] <= 100 and val[-1] > 2 * val[best]  # bottoms out early, then doubles
    assert train[-1] < 0.01 * train[best]  # while the training loss keeps falling
    _, _, val_wd, _ = curves(r["Adam, weight decay"])
    assert val_wd[-1] <= 1.05 * val_wd.min()  # levels off, does not turn up
    assert val_wd[-1] < 0.5 * val[-1]


def deep_relu(lesson, r):
    plateau = np.log(2)
    assert curves(r["SGD"])[1].min() > 0.99 * plateau  # never leaves it
    assert first_step_below(r["Adam"], 0.1) <= 50
    assert 200 <= first_step_below(r["SGD, momentum 0.9"], 0.1) <= lesson.config.steps


def sam_flat_minima(lesson, r):
    (race, sgd), (_, sam) = r["SGD"], r["SAM"]
    assert (race.status == MAX_STEPS).all()
    final = race.eval_train_loss[:, -1]
    assert max(final) < 1.5 * min(final) < 0.1  # about the same training loss
    sharpness = top_hessian_eigenvalue(lesson.model, lesson.dataset, race.final[[sgd, sam]])
    assert sharpness[0] > 2 * sharpness[1] > 0


CLAIMS = {
    "mlp-lr-too-high": lr_too_high,
    "overfitting": overfitting,
    "deep-relu-adam-vs-sgd": deep_relu,
    "sam-flat-minima": sam_flat_minima,
}


def weakened(data: dict, lesson_id: str) -> dict:
    """The lesson's file with the setting its claim rests on weakened."""
    racers = data["racers"]
    if lesson_id == "mlp-lr-too-high":
        racers[1]["hyperparameters"]["lr"] = 1.0  # no longer too high to settle
    elif lesson_id == "overfitting":
        racers[1]["hyperparameters"]["weight_decay"] = 0.001
    elif lesson_id == "deep-relu-adam-vs-sgd":
        data["model"]["depth"] = 2  # a shallow net has no plateau to escape
    elif lesson_id == "sam-flat-minima":
        racers[1]["sam_rho"] = 0.01
    return data


@pytest.mark.parametrize("lesson_id", sorted(CLAIMS))
def test_lesson_shows_its_effect(lesson_id):
    CLAIMS[lesson_id](MODEL_LESSONS[lesson_id], racers(lesson_id))


@pytest.mark.parametrize("lesson_id", sorted(CLAIMS))
def test_claim_fails_when_the_key_setting_is_weakened(lesson_id):
    data = json.loads((MODEL_LESSONS_DIR / f"{lesson_id}.json").read_text(encoding="utf-8"))
    lesson = model_lesson_from_dict(weakened(data, lesson_id))
    with pytest.raises(AssertionError):
        CLAIMS[lesson_id](lesson, quick_run(lesson))


# ---- every lesson -------------------------------------------------------------------------


def test_every_lesson_has_a_claim_and_names_its_racers():
    assert set(CLAIMS) == set(MODEL_LESSONS) and len(MODEL_LESSONS) >= 3
    for lesson in MODEL_LESSONS.values():
        for racer in lesson.racers:  # the text names each curve by the label the legend shows
            assert f"'{racer.label}'" in lesson.watch, (lesson.id, racer.label)
        # fast enough to train on a page load: a few hundred points, at most 1000 steps
        assert lesson.config.steps <= 1000
        assert len(lesson.dataset.y_train) + len(lesson.dataset.y_val) <= 300


GOOD = {
    "id": "good",
    "title": "t",
    "watch": "One. Two.",
    "data": "moons",
    "data_params": {"n_points": 40},
    "steps": 5,
    "racers": [{"label": "a", "optimizer": "SGD", "hyperparameters": {"lr": 0.1}}],
}
BAD = {
    "unknown field": ({**GOOD, "colour": "red"}, "unknown field 'colour'"),
    "missing racers": ({k: v for k, v in GOOD.items() if k != "racers"}, "missing field"),
    "one sentence": ({**GOOD, "watch": "Only one."}, "2-3 sentences"),
    "no racers": ({**GOOD, "racers": []}, "'racers' must be a list"),
    "same labels": ({**GOOD, "racers": GOOD["racers"] * 2}, "must be distinct"),
    "bad lr": (
        {**GOOD, "racers": [{**GOOD["racers"][0], "hyperparameters": {"lr": -1}}]},
        r"racers\[0\] \(a\): SGD: 'lr'",
    ),
    "bad rho": ({**GOOD, "racers": [{**GOOD["racers"][0], "sam_rho": -1}]}, "'sam_rho'"),
    "bad data set": ({**GOOD, "data": "nowhere"}, "unknown data set"),
    "bad data param": ({**GOOD, "data_params": {"n_points": 1}}, "'n_points'"),
    "bad model": ({**GOOD, "model": {"depth": 99}}, "'depth'"),
    "bad steps": ({**GOOD, "steps": 0}, "'steps'"),
    "id not the file name": ({**GOOD, "id": "other"}, "file name"),
}


def test_good_lesson_file_loads(tmp_path):
    (tmp_path / "good.json").write_text(json.dumps(GOOD))
    lesson = load_model_lessons(tmp_path)["good"]
    assert lesson.racers[0].label == "a" and lesson.model.n_inputs == 2
    assert lesson.run().train_loss.shape == (1, 5)


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_lesson_file_raises_naming_the_file(tmp_path, case):
    data, message = BAD[case]
    (tmp_path / "good.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"^good\.json: .*" + message):
        load_model_lessons(tmp_path)
