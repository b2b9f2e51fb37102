"""Copy as PyTorch for the model mode: the script runs on torch.nn + torch.optim alone and
ends where the lab's trainer ends (status, stop step, weights and losses to rtol 1e-9), for
full batches, mini-batches, dropout, SAM, early stopping and a bundled table."""

import ast
import contextlib
import io

import numpy as np
import pytest

from landscapes.models import MLP, make_dataset
from optim_core.models import EARLY_STOPPED, Racer, TrainConfig, train
from optim_core.models.export import to_pytorch_model
from optim_core.trajectory import DIVERGED, MAX_STEPS

RTOL = 1e-9
STATUS = {MAX_STEPS: "ran", DIVERGED: "diverged", EARLY_STOPPED: "stopped early"}
QUIET = {"grid_frames": 0, "snapshots": 2}
MOONS = {"name": "moons", "n_points": 120, "noise": 0.2}
CYCLE = {"max_lr": 0.05, "total_steps": 60}
PLATEAU = {"patience": 2, "factor": 0.5, "threshold": 1e-3}

CASES = {
    "full batch": (
        MOONS,
        MLP(2, 2, depth=2, width=8),
        [
            Racer.make("SGD", lr=0.1, momentum=0.9, nesterov=True),
            Racer.make("Adam", "OneCycleLR", CYCLE, lr=0.01, weight_decay=1e-4),
            Racer.make("SGD", lr=0.2, sam_rho=0.05, label="SAM-SGD"),
            Racer.make("Adam", lr=0.01, bias_correction=False, sam_rho=0.02, label="SAM raw Adam"),
            Racer.make("Lion", lr=1e-3, weight_decay=0.1),
            Racer.make("RMSprop", "ReduceLROnPlateau", PLATEAU, lr=3e-3),
        ],
        {"steps": 60},
    ),
    "mini-batch, dropout": (
        MOONS,
        MLP(2, 2, depth=2, width=8, activation="relu", dropout=0.2),
        [
            Racer.make("Adam", "CosineAnnealingLR", {"T_max": 30}, lr=0.01),
            Racer.make("SGD", lr=0.1, momentum=0.5, sam_rho=0.05),
            Racer.make("SGD", lr=1e4, label="too high"),
        ],
        {"steps": 60, "batch_size": 32, "seed": 3},
    ),
    "early stopping": (
        {"name": "moons", "n_points": 80, "noise": 0.35, "val_fraction": 0.5, "seed": 1},
        MLP(2, 2, depth=2, width=32),
        [Racer.make("Adam", lr=0.01), Racer.make("Adam", lr=0.01, weight_decay=0.01)],
        {"steps": 300, "patience": 3, "eval_every": 10},
    ),
    "bundled table": (
        {"name": "iris", "val_fraction": 0.3, "seed": 2},
        MLP(4, 3, depth=1, width=8, activation="gelu"),
        [Racer.make("AdamW", lr=0.01), Racer.make("NAdam", lr=0.01, sam_rho=0.05)],
        {"steps": 40, "batch_size": 25},
    ),
}


def run_script(source: str) -> tuple[list[dict], str]:
    namespace = {"__name__": "exported"}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(source, "exported.py", "exec"), namespace)
        results = namespace["main"]()
    return results, printed.getvalue()


@pytest.mark.parametrize("case", list(CASES))
def test_script_lands_where_the_trainer_lands(case):
    data_spec, model, racers, settings = CASES[case]
    config = TrainConfig(**settings, **QUIET)
    source = to_pytorch_model(data_spec, model, racers, config)
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in ([ast.alias(node.module)] if isinstance(node, ast.ImportFrom) else node.names)
    }
    assert imported <= {"math", "numpy", "torch", "sklearn"}
    params = {k: v for k, v in data_spec.items() if k != "name"}
    race = train(make_dataset(data_spec["name"], **params), model, racers, config, "cpu")
    results, printed = run_script(source)
    assert [r["label"] for r in results] == [r.label for r in race.racers]
    for r, result in enumerate(results):
        stop = race.stop_step[r]
        assert (result["status"], result["stop_step"]) == (STATUS[race.status[r]], stop)
        assert f"{result['label']}: {race.message(r)}, training loss" in printed
        if race.status[r] == DIVERGED:
            assert np.isnan(result["train_loss"])
            continue
        at_stop = race.eval_steps == stop
        expected = (race.eval_train_loss[r, at_stop][0], race.val_loss[r, at_stop][0])
        np.testing.assert_allclose(result["weights"].numpy(), race.final[r], rtol=RTOL, atol=1e-12)
        np.testing.assert_allclose((result["train_loss"], result["val_loss"]), expected, rtol=RTOL)
    if case == "early stopping":
        assert results[0]["status"] == "stopped early"
    if case == "mini-batch, dropout":
        assert results[2]["status"] == "diverged"


def test_generated_data_is_embedded_exactly_and_bundled_data_by_its_rows():
    source = to_pytorch_model(MOONS, MLP(2, 2), [Racer()], TrainConfig(steps=5))
    assert "sklearn" not in source and "numpy" not in source  # full batch: torch and math
    iris = to_pytorch_model({"name": "iris"}, MLP(4, 3), [Racer()], TrainConfig(steps=5))
    assert "datasets.load_iris(return_X_y=True)" in iris and "TRAIN_ROWS = [" in iris
    assert max(len(line) for line in (source + iris).splitlines()) <= 99


def test_bad_exports_are_rejected():
    with pytest.raises(ValueError, match="no racers"):
        to_pytorch_model(MOONS, MLP(2, 2), [], TrainConfig())
    with pytest.raises(ValueError, match="takes 3 features"):
        to_pytorch_model(MOONS, MLP(3, 2), [Racer()], TrainConfig())
    with pytest.raises(ValueError, match="unknown data set"):
        to_pytorch_model({"name": "nowhere"}, MLP(2, 2), [Racer()], TrainConfig())
