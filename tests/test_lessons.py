"""The classroom presets: every file loads and runs, and every lesson shows its effect.

The effect tests check the property a lesson's ``watch`` text promises (a status, a sign
pattern, a ratio between runs), not numbers copied from an earlier run, so retuning a lesson
keeps them meaningful and a lesson that stops teaching its point fails here.
"""

import json
import math
import pathlib
import re
from functools import cache

import numpy as np
import pytest

from landscapes import get_surface
from optim_core.lessons import LESSONS, LESSONS_DIR, MAX_RUNS, load_lessons, sentence_count
from optim_core.trajectory import Trajectory


@cache
def runs(lesson_id: str) -> dict[str, Trajectory]:
    return {t.spec.label: t for t in LESSONS[lesson_id].run()}


def sign_changes(values: np.ndarray, floor: float = 1e-9) -> int:
    """Sign flips of ``values``, ignoring entries at rounding-error level (|v| <= floor)."""
    signs = np.sign(values[np.isfinite(values) & (np.abs(values) > floor)])
    return int(np.count_nonzero(np.diff(signs)))


def displacement(t: Trajectory, step: int) -> float:
    """Length of step ``step`` (1-based): from ``positions[step - 1]`` to ``positions[step]``."""
    return float(np.linalg.norm(t.positions[step] - t.positions[step - 1]))


def tail_loss(t: Trajectory, n: int = 30) -> float:
    return float(np.mean(t.loss[-n:]))


# ---- every lesson ------------------------------------------------------------------------


@pytest.mark.parametrize("lesson_id", sorted(LESSONS))
def test_lesson_loads_and_runs(lesson_id):
    lesson = LESSONS[lesson_id]
    specs = lesson.specs()
    assert 1 <= len(specs) <= MAX_RUNS
    assert {(s.surface, s.surface_params, s.start, s.steps, s.noise, s.seed) for s in specs} == {
        (specs[0].surface, specs[0].surface_params, lesson.start, lesson.steps, lesson.noise,
         lesson.seed)
    }  # fmt: skip
    assert [s.label for s in specs] == [run["label"] for run in lesson.runs]
    for traj in runs(lesson_id).values():
        assert traj.positions.shape == (lesson.steps + 1, 2)
        np.testing.assert_array_equal(traj.positions[0], lesson.start)


def test_lesson_files_have_unique_ids_and_short_watch_texts():
    files = sorted(LESSONS_DIR.glob("*.json"))
    ids = [json.loads(path.read_text(encoding="utf-8"))["id"] for path in files]
    assert len(ids) == len(set(ids)) == len(LESSONS) >= 9
    for lesson in LESSONS.values():
        assert 2 <= sentence_count(lesson.watch) <= 3, lesson.id
        for run in lesson.runs:  # the text names each path by the label the legend shows
            assert f"'{run['label']}'" in lesson.watch, (lesson.id, run["label"])


def test_sentence_count_ignores_decimal_points():
    assert sentence_count("Use lr = 0.05 here. Then 2 / 18 ≈ 0.11! Done?") == 3


GOOD = {
    "id": "good",
    "title": "t",
    "watch": "One. Two.",
    "surface": "booth",
    "start": [1.0, 2.0],
    "steps": 5,
    "runs": [{"label": "a", "optimizer": "SGD", "hyperparameters": {"lr": 0.01}}],
}
BAD = {
    "unknown field": {**GOOD, "colour": "red"},
    "missing runs": {k: v for k, v in GOOD.items() if k != "runs"},
    "one sentence": {**GOOD, "watch": "Only one."},
    "no runs": {**GOOD, "runs": []},
    "five runs": {**GOOD, "runs": [{**GOOD["runs"][0], "label": str(i)} for i in range(5)]},
    "same labels": {**GOOD, "runs": GOOD["runs"] * 2},
    "bad lr": {**GOOD, "runs": [{**GOOD["runs"][0], "hyperparameters": {"lr": -1}}]},
    "bad start": {**GOOD, "start": [1.0]},
    "unknown surface": {**GOOD, "surface": "nowhere"},
    "id not the file name": {**GOOD, "id": "other"},
}


def test_good_lesson_file_loads(tmp_path):
    (tmp_path / "good.json").write_text(json.dumps(GOOD))
    lesson = load_lessons(tmp_path)["good"]
    assert lesson.specs()[0].label == "a"
    assert lesson.specs()[0].surface_params == ()


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_lesson_file_raises_naming_the_file(tmp_path, case):
    (tmp_path / "good.json").write_text(json.dumps(BAD[case]))
    with pytest.raises(ValueError, match=r"^good\.json: ") as raised:
        load_lessons(tmp_path)
    if case == "bad lr":  # a bad run is named by its place and label
        assert "runs[0] (a): SGD: 'lr'" in str(raised.value)


def test_invalid_json_names_the_file(tmp_path):
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(ValueError, match=r"^broken\.json: "):
        load_lessons(tmp_path)


# ---- each lesson's effect ----------------------------------------------------------------


def test_lr_too_high_diverges_where_smaller_lrs_converge():
    r = runs("lr-too-high")
    minimum = get_surface("booth").minima
    assert r["lr = 0.12"].diverged
    for label in ("lr = 0.05", "lr = 0.105"):
        assert not r[label].diverged and r[label].distance_to(minimum) < 1e-3
    # Just below the limit the path zig-zags across the steep direction (1, 1); well below it
    # does not: the sign of the offset along (1, 1) flips at most steps only for 0.105.
    along_steep = {k: (t.positions[:40] - minimum[0]) @ np.ones(2) for k, t in r.items()}
    assert sign_changes(along_steep["lr = 0.105"]) >= 30
    assert sign_changes(along_steep["lr = 0.05"]) == 0


def test_lr_too_low_stagnates():
    r = runs("lr-too-low")
    good, slow, low = r["lr = 0.01"], r["lr = 0.001"], r["lr = 0.0001"]
    minimum = get_surface("himmelblau").minima
    assert good.distance_to(minimum) < 1e-6 and slow.distance_to(minimum) < 1e-2
    assert low.final_loss > 100 * max(good.final_loss, slow.final_loss, 1e-12)
    start = np.asarray(low.spec.start)
    moved = np.linalg.norm(low.final_position - start)
    assert moved < 0.5 * np.linalg.norm(good.final_position - start)
    assert low.loss[-1] < low.loss[-11]  # still going downhill, just slowly


def test_momentum_overshoots_and_oscillates():
    r = runs("momentum-overshoot")
    x_star = get_surface("bowl").minima[0][0]
    assert sign_changes(r["SGD + momentum 0.9"].positions[:, 0] - x_star) >= 3
    assert sign_changes(r["SGD"].positions[:, 0] - x_star) == 0


def test_adam_escapes_the_saddle_much_faster_than_sgd():
    r = runs("saddle-adam-vs-sgd")
    saddle_point = np.zeros(2)
    distance = {k: np.linalg.norm(t.final_position - saddle_point) for k, t in r.items()}
    assert distance["Adam"] > 10 * distance["SGD"]
    assert np.min(np.linalg.norm(r["SGD"].positions - saddle_point, axis=1)) < 0.1


def test_warmup_prevents_the_early_blow_up():
    r = runs("warmup")
    cold, warm = r["no warm-up"], r["linear warm-up"]
    assert cold.diverged and cold.stop_step <= 10
    assert not warm.diverged and warm.distance_to(get_surface("double_well").minima) < 1e-3
    # Same peak lr; the warm run starts at a small fraction of it and ramps up (it may have
    # converged, and so stopped recording an lr, before the ramp ends).
    assert cold.lr[0] == warm.spec.lr and warm.lr[0] <= 0.1 * warm.spec.lr
    assert np.all(np.diff(warm.lr[: min(warm.stop_step, 20)]) > 0)


def test_decay_shapes_follow_their_formulas_and_beat_a_constant_lr():
    r = runs("lr-decay-shapes")
    t = np.arange(r["constant"].steps)
    lr0 = r["constant"].lr[0]
    np.testing.assert_allclose(r["constant"].lr, lr0)
    step = r["StepLR"].lr
    assert set(np.flatnonzero(np.diff(step)) + 1) == {100, 200}  # stairs at the milestones
    np.testing.assert_allclose(step[[0, 100, 200]], lr0 * np.array([1, 0.1, 0.01]))
    np.testing.assert_allclose(r["ExponentialLR"].lr[1:] / r["ExponentialLR"].lr[:-1], 0.99)
    cosine = r["CosineAnnealingLR"].lr
    np.testing.assert_allclose(cosine, lr0 * (1 + np.cos(np.pi * t / len(t))) / 2, atol=1e-15)
    assert cosine[len(t) // 2] > step[len(t) // 2]  # cosine stays high longest ...
    assert cosine[-1] < step[-1] < r["ExponentialLR"].lr[-1] < lr0  # ... and ends lowest
    for label in ("StepLR", "ExponentialLR", "CosineAnnealingLR"):
        assert tail_loss(r[label]) < tail_loss(r["constant"]) / 3, label


def test_cyclic_lr_hops_out_of_the_local_minimum():
    r = runs("cyclic-escape")
    constant, cyclic = r["constant lr"], r["CyclicLR"]
    global_min = get_surface("ackley").minima
    local = constant.final_position
    assert constant.converged and constant.distance_to(global_min) > 1.0
    # The cyclic run first sits in that same local minimum, then leaves it and ends in the
    # global one.
    assert np.min(np.linalg.norm(cyclic.positions - local, axis=1)) < 0.05
    assert cyclic.distance_to(global_min) < 0.05
    assert cyclic.distance_to(global_min) < cyclic.distance_to([local])


def test_one_cycle_moves_momentum_against_the_lr_and_ends_lower():
    r = runs("one-cycle")
    cycle = r["OneCycleLR"]
    momentum, lr = cycle.momentum, cycle.lr
    assert np.ptp(momentum) > 0.05
    assert math.isclose(momentum[0], momentum.max()) and math.isclose(momentum[-1], momentum.max())
    assert np.argmin(momentum) == np.argmax(lr)
    assert lr[-1] < lr[0] < lr.max()  # anneals far below where it started
    assert np.all(r["constant lr"].momentum == r["constant lr"].momentum[0])
    assert tail_loss(cycle) < tail_loss(r["constant lr"]) / 10


def test_adam_without_bias_correction_takes_oversized_first_steps():
    r = runs("adam-bias-correction")
    corrected, raw = r["bias-corrected"], r["no bias correction"]
    beta1, beta2 = corrected.spec.h["betas"]
    # Step 1: corrected Adam moves lr per coordinate; uncorrected moves (1-b1)/sqrt(1-b2) lr.
    ratio = displacement(raw, 1) / displacement(corrected, 1)
    assert ratio == pytest.approx((1 - beta1) / math.sqrt(1 - beta2), rel=1e-6)
    assert ratio >= 5
    assert np.nanmax(raw.loss) > 10 * np.nanmax(corrected.loss)
    minimum = get_surface("beale").minima
    assert corrected.distance_to(minimum) < 1e-2 < 0.1 < raw.distance_to(minimum)


def swings(t: Trajectory, floor: float) -> int:
    """Crossings of the valley floor (y = 0) that reach ``floor`` on both sides: the zig-zag a
    student sees, not rounding-level flips near the floor."""
    return sign_changes(t.positions[:, 1], floor)


def path_length(t: Trajectory) -> float:
    return float(np.sum(np.linalg.norm(np.diff(t.positions, axis=0), axis=1)))


def test_ill_conditioning_makes_sgd_zig_zag():
    r = runs("ill-conditioning")
    sgd, heavy, adam = r["SGD"], r["SGD + momentum"], r["Adam"]
    minimum = get_surface("bowl").minima
    visible = 0.05 * abs(sgd.spec.start[1])  # a twentieth of the start's offset across
    watch = LESSONS["ill-conditioning"].watch  # the claims checked below, as the text makes them
    for claim in ("every one of its 100 steps", "a quarter of a unit", "a dozen or so wide arcs",
                  "crossing the floor once", "dozens of times closer"):  # fmt: skip
        assert claim in watch, claim
    # "crosses the valley floor at every one of its 100 steps ... a quarter of a unit short"
    assert sign_changes(sgd.positions[:, 1]) == sgd.steps
    assert 0.2 < sgd.distance_to(minimum) < 0.3
    # "swings across in a dozen or so wide arcs that shrink": crossings well apart, each
    # swing smaller than the one before
    assert 8 <= swings(heavy, visible) <= 16
    assert swings(heavy, 1e-9) < sgd.steps / 3
    y = heavy.positions[:, 1]
    crossings = np.flatnonzero(np.diff(np.sign(y)))
    peaks = [
        np.abs(y[a + 1 : b + 1]).max() for a, b in zip(crossings, crossings[1:], strict=False)
    ][:8]
    assert len(peaks) == 8 and np.all(np.diff(peaks) < 0), peaks
    # "heads almost straight down, crossing the floor once"
    assert swings(adam, visible) == 1
    assert path_length(adam) < 1.25 * np.linalg.norm(adam.positions[0] - adam.positions[-1])
    # "both end dozens of times closer to the centre than 'SGD'"
    for t in (heavy, adam):
        assert t.distance_to(minimum) < sgd.distance_to(minimum) / 24, t.spec.label


def test_every_lesson_has_an_effect_test():
    named = set(re.findall(r'runs\("([a-z0-9-]+)"\)', pathlib.Path(__file__).read_text()))
    assert named == set(LESSONS)


def test_a_lesson_may_race_on_its_own_formula():
    from optim_core.config import config_from_lesson
    from optim_core.lessons import lesson_from_dict

    lesson = lesson_from_dict(
        {
            "id": "own",
            "title": "Two valleys",
            "watch": "SGD stays in the nearer valley. Adam crosses the ridge.",
            "surface": "custom",
            "formula": "min(x^2, (x - 2)^2 + 0.3) + y^2",
            "domain": [[-2, 4], [-2, 2]],
            "start": [-1.5, 1.0],
            "steps": 100,
            "runs": [{"label": "SGD", "optimizer": "SGD", "hyperparameters": {"lr": 0.05}}],
        }
    )
    (traj,) = lesson.run()
    assert traj.final_loss < 0.01
    config = config_from_lesson(lesson)
    assert config.specs()[0].surface_def.domain == ((-2.0, 4.0), (-2.0, 2.0))


# ---- a lesson the teacher has edited --------------------------------------------------------


def test_an_unchanged_lesson_reports_no_changes():
    from optim_core.config import config_from_lesson
    from optim_core.lessons import lesson_changes, name_modified_runs

    for lesson in LESSONS.values():
        config = config_from_lesson(lesson)
        assert lesson_changes(lesson, config) == [], lesson.id
        assert name_modified_runs(lesson, config) == config, lesson.id


def test_an_edited_lesson_names_what_changed_and_renames_the_edited_run():
    from dataclasses import replace

    from optim_core.config import Racer, config_from_lesson
    from optim_core.lessons import lesson_changes, name_modified_runs
    from optim_core.spec import freeze

    lesson = LESSONS["lr-too-high"]
    config = config_from_lesson(lesson)
    first = replace(config.racers[0], hyperparameters=freeze({"lr": 0.2}))
    edited = replace(config, racers=(first, *config.racers[1:]), steps=150)
    assert lesson_changes(lesson, edited) == ["steps", "racer 1 lr"]
    named = name_modified_runs(lesson, edited)
    labels = [s.label for s in named.specs()]
    assert labels[0] != "lr = 0.05" and "0.2" in labels[0] and "SGD" in labels[0]
    assert labels[1:] == ["lr = 0.105", "lr = 0.12"]  # unchanged runs keep the lesson's names
    mine = replace(first, label="my run")  # a name the teacher typed stays
    kept = name_modified_runs(lesson, replace(edited, racers=(mine, *config.racers[1:])))
    assert kept.racers[0].label == "my run"
    more = replace(config, racers=(*config.racers, Racer("Adam", freeze({"lr": 0.05}))))
    assert lesson_changes(lesson, more) == ["racer 4 added"]
