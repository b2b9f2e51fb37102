"""optim-lab on the command line: each format written, the app's messages for bad arguments,
exit status 0 / 1 (cannot write) / 2 (bad arguments)."""

import csv
import io
import json

import pytest

from optim_core.cli import main, parse_item
from optim_core.config import LabConfig, Racer
from optim_core.lessons import LESSONS
from optim_core.spec import freeze

SMALL = ["--steps", "40", "--frames", "6", "--size", "200", "--no-progress"]
MAGIC = {
    ".gif": b"GIF89a",
    ".mp4": b"ftyp",  # at offset 4
    ".html": b"<html>",
    ".png": b"\x89PNG",
    ".csv": b"racer,label,step",
    ".json": b'{"format":"optim-lab race"',
}


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def app_message(**config) -> str:
    """What the app says about the same configuration."""
    with pytest.raises(ValueError) as err:
        LabConfig(**config).specs()
    return str(err.value)


@pytest.mark.parametrize("suffix", [s for s in MAGIC if s != ".png"])
def test_each_format_is_written(capsys, tmp_path, suffix):
    out = tmp_path / f"race{suffix}"
    status, _, err = run(capsys, "race", "--optimizer", "Adam:lr=0.05", "--out", str(out), *SMALL)
    assert status == 0, err
    head = out.read_bytes()[:64]
    assert MAGIC[suffix] in head
    assert f"wrote {out}" in err
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temporary file left


@pytest.mark.slow
def test_png_is_written(capsys, tmp_path):
    out = tmp_path / "race.png"
    status, _, err = run(capsys, "race", "--out", str(out), *SMALL)
    assert status == 0, err
    assert out.read_bytes()[:4] == MAGIC[".png"]


def test_the_brief_example_runs_with_schedule_defaults_and_a_negative_start(capsys, tmp_path):
    out = tmp_path / "race.csv"
    status, _, err = run(
        capsys, "race", "--surface", "rastrigin", "--optimizer", "Adam:lr=0.05",
        "--optimizer", "SGD:lr=0.01,momentum=0.9", "--schedule", "OneCycleLR:max_lr=0.1",
        "--steps", "60", "--start", "-1,1", "--out", str(out),
    )  # fmt: skip
    assert status == 0, err
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert (rows[0]["x"], rows[0]["y"]) == ("-1.0", "1.0")
    adam = [float(r["lr"]) for r in rows if r["racer"] == "1" and r["lr"]]
    assert max(adam) == pytest.approx(0.1, rel=1e-3)  # OneCycleLR, total_steps = steps


def test_json_replays_to_the_same_race(capsys, tmp_path):
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    argv = ["--optimizer", "SGD:lr=0.002,momentum=0.9,nesterov=true", "--label", "nesterov",
            "--optimizer", "AdamW:lr=0.05,betas=[0.8,0.99]", "--noise", "0.2",
            "--seed", "7"]  # fmt: skip
    assert run(capsys, "race", *argv, "--out", str(first), *SMALL)[0] == 0
    assert run(capsys, "replay", str(first), "--out", str(second), "--no-progress")[0] == 0
    assert json.loads(first.read_text()) == json.loads(second.read_text())
    spec = json.loads(first.read_text())["racers"][1]["spec"]
    assert spec["hyperparameters"]["betas"] == [0.8, 0.99] and spec["noise"] == 0.2


def test_a_formula_is_a_surface(capsys, tmp_path):
    out = tmp_path / "f.json"
    status, _, err = run(capsys, "race", "--formula", "x**2 + 10*y**2", "--domain", "-2,2,-2,2",
                         "--start", "1.5,1", "--out", str(out), *SMALL)  # fmt: skip
    assert status == 0, err
    spec = json.loads(out.read_text())["racers"][0]["spec"]
    assert spec["surface"] == "custom" and spec["domain"] == [[-2.0, 2.0], [-2.0, 2.0]]


def test_lesson_and_lessons(capsys, tmp_path):
    status, out, _ = run(capsys, "lessons")
    assert status == 0 and [line.split()[0] for line in out.splitlines()] == list(LESSONS)
    path = tmp_path / "lesson.json"
    status, _, err = run(capsys, "lesson", "one-cycle", "--out", str(path), "--no-progress")
    assert status == 0, err
    assert len(json.loads(path.read_text())["racers"]) == len(LESSONS["one-cycle"].runs)


def test_help(capsys):
    for argv in (["--help"], ["race", "--help"], ["lesson", "--help"]):
        status, out, _ = run(capsys, *argv)
        assert status == 0 and out.startswith("usage: optim-lab")
    assert "--schedule" in run(capsys, "race", "--help")[1]


def test_progress_bar_on_stderr(capsys, tmp_path):
    out = tmp_path / "race.gif"
    status, _, err = run(capsys, "race", "--out", str(out), *SMALL[:-1], "--progress")
    assert status == 0
    assert "writing race.gif [" in err and "] 6/6" in err


APP_ERRORS = {
    "bad lr": (["--optimizer", "Adam:lr=-1"], {"racers": (Racer("Adam", freeze({"lr": -1})),)}),
    "unknown optimizer": (["--optimizer", "Adamm"], {"racers": (Racer("Adamm"),)}),
    "unknown hyperparameter": (
        ["--optimizer", "SGD:lr=0.1,momentun=0.9"],
        {"racers": (Racer("SGD", freeze({"lr": 0.1, "momentun": 0.9})),)},
    ),
    "unknown surface": (["--surface", "rosenbrok"], {"surface": "rosenbrok"}),
    "steps": (["--steps", "0"], {"steps": 0}),
    "formula": (["--formula", "x +* y"], {"surface": "custom", "formula": "x +* y"}),
}


@pytest.mark.parametrize("case", APP_ERRORS)
def test_bad_arguments_get_the_apps_message_and_status_2(capsys, tmp_path, case):
    argv, config = APP_ERRORS[case]
    status, _, err = run(capsys, "race", *argv, "--out", str(tmp_path / "r.gif"))
    assert status == 2
    assert err == f"optim-lab: error: {app_message(**config)}\n"
    assert not list(tmp_path.iterdir())


USAGE_ERRORS = {
    "unknown format": (["--out", "race.txt"], "unknown format '.txt'; expected one of .gif"),
    "number": (["--steps", "ten"], "--steps: expected a whole number"),
    "start": (["--start", "1,2,3"], "--start: expected 2 numbers x,y"),
    "too many schedules": (["--schedule", "none"] * 4, "4 --schedule options for 3 racers"),
    "item": (["--optimizer", "Adam:lr"], "expected name=value; got 'lr'"),
    "value": (["--optimizer", "Adam:lr=0.0.1"], "lr: expected a number written with digits"),
    "json": (["--optimizer", "Adam:betas=[0.9,"], "betas: not valid JSON"),
    "schedule": (["--schedule", "OneCycle"], "unknown schedule 'OneCycle'; expected one of"),
    "frames": (["--frames", "1"], "--frames: 'frames' must be an integer in [2, 2000]; got 1"),
    "size": (["--size", "99999"], "--size: 'size' must be an integer in [160, 2000]"),
    "lesson": (None, "unknown lesson 'nope'; expected one of"),
    "missing out": (["--out"], "expected one argument"),
}


@pytest.mark.parametrize("case", USAGE_ERRORS)
def test_bad_usage_exits_2_with_a_message(capsys, case):
    argv, message = USAGE_ERRORS[case]
    if argv is None:
        argv = ["lesson", "nope", "--out", "x.gif"]
    else:
        argv = ["race", *argv] if "--out" in argv else ["race", *argv, "--out", "x.gif"]
    status, _, err = run(capsys, *argv)
    assert status == 2
    assert message in err, err


def test_a_file_that_cannot_be_written_exits_1(capsys, tmp_path):
    missing = tmp_path / "no" / "such" / "dir" / "race.csv"
    status, _, err = run(capsys, "race", "--out", str(missing), *SMALL)
    assert status == 1
    assert err.startswith(f"optim-lab: error: cannot write {missing}: ")


def test_a_file_that_cannot_be_read_exits_2(capsys, tmp_path):
    status, _, err = run(capsys, "replay", str(tmp_path / "none.json"), "--out", "x.gif")
    assert status == 2 and "cannot read" in err
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "optim-lab race", "version": 1, "racers": [{"spec": {}}]}')
    status, _, err = run(capsys, "replay", str(bad), "--out", "x.gif")
    assert status == 2 and "racer 1 must be an object with 'spec' and 'trajectory'" in err


def test_items_split_on_commas_outside_brackets():
    text = "CyclicLR:base_lr=1e-3,max_lr=0.1,mode=triangular2,cycle_momentum=false,x=[1,2],"
    name, params = parse_item("--x", text + 'y={"a":[3,4]},n=30')
    assert name == "CyclicLR"
    assert params == {
        "base_lr": 1e-3, "max_lr": 0.1, "mode": "triangular2", "cycle_momentum": False,
        "x": [1, 2], "y": {"a": [3, 4]}, "n": 30,
    }  # fmt: skip
    assert isinstance(params["n"], int) and parse_item("--x", "Adam") == ("Adam", {})
