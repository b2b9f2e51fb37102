"""A race as data: CSV for spreadsheets, JSON that reloads into the same race.

CSV (:func:`race_csv`) has one row per racer and step, from the start (step 0) to the step
where that racer's race ended (its ``stop_step``), with these columns:

============  =================================================================================
racer         the racer's position in the race, from 1
label         its name, as the legend shows it
step          t: the row describes the iterate before step t (t = 0 is the start)
x, y          that iterate; empty where the run diverged (no finite iterate)
loss          f(x, y) there; empty where not finite
lr            the learning rate step t used; empty on a racer's last row (no step taken there)
momentum      momentum / beta1 step t used; empty on the last row, or without momentum
status        ``running`` on every row but the last, which says how the race ended:
              ``max steps``, ``converged`` or ``diverged``
============  =================================================================================

Numbers are written with ``repr`` (shortest exact text), so a float64 reads back bit for bit.

JSON (:func:`race_json`) holds, per racer, the whole :class:`RunSpec` (``spec.to_dict()``)
and the trajectory (positions, loss, lr, momentum as full arrays, non-finite values as
``null``; status, stop step, message). :func:`specs_from_json` reads the specs back, validated
as a link or a widget is, and running them reproduces the stored trajectories exactly (the
engine is deterministic; noise comes from the stored seed).
"""

import csv
import io
import json
import math
from collections.abc import Sequence

import numpy as np

from common.limits import RACERS, check_size

from .spec import RunSpec
from .trajectory import STATUS_NAMES, Trajectory

CSV_COLUMNS = ("racer", "label", "step", "x", "y", "loss", "lr", "momentum", "status")
RUNNING = "running"
FORMAT = "optim-lab race"
VERSION = 1
_KEYS = ("format", "version", "racers")
_RACER_KEYS = ("spec", "trajectory")
# Stored arrays: rows beyond the run's steps, then the other dimensions.
_SHAPES = {"positions": (1, 2), "loss": (1,), "lr": (0,), "momentum": (0,), "effective_lr": (0, 2)}


def race_csv(runs: Sequence[Trajectory]) -> str:
    """The race as CSV text (columns in the module doc); each trajectory carries its spec."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for racer, traj in enumerate(runs, 1):
        writer.writerows(_csv_rows(racer, traj))
    return out.getvalue()


def _csv_rows(racer: int, traj: Trajectory):
    label = traj.spec.label if traj.spec is not None else ""
    end = int(traj.stop_step)
    final = STATUS_NAMES[traj.status]
    for t in range(end + 1):
        last = t == end
        x, y = traj.positions[t]
        yield (
            racer, label, t, _number(x), _number(y), _number(traj.loss[t]),
            "" if last else _number(traj.lr[t]),
            "" if last else _number(traj.momentum[t]),
            final if last else RUNNING,
        )  # fmt: skip


def _number(value) -> str:
    value = float(value)
    return repr(value) if math.isfinite(value) else ""


def race_json(runs: Sequence[Trajectory]) -> str:
    """The race as JSON: each racer's full spec and trajectory (see the module doc)."""
    racers = []
    for traj in runs:
        if traj.spec is None:
            raise ValueError("race_json: a trajectory without its RunSpec cannot be reloaded")
        racers.append({"spec": traj.spec.to_dict(), "trajectory": _trajectory_dict(traj)})
    data = {"format": FORMAT, "version": VERSION, "racers": racers}
    return json.dumps(data, separators=(",", ":"), allow_nan=False)


def _trajectory_dict(traj: Trajectory) -> dict:
    return {
        "status": STATUS_NAMES[traj.status],
        "stop_step": int(traj.stop_step),
        "message": traj.message,
        "positions": _floats(traj.positions),
        "loss": _floats(traj.loss),
        "lr": _floats(traj.lr),
        "momentum": _floats(traj.momentum),
        "effective_lr": _floats(traj.effective_lr),
    }


def _floats(a: np.ndarray) -> list:
    """Nested lists of floats, non-finite values as None (JSON has no NaN)."""
    a = np.asarray(a, dtype=np.float64)
    return np.where(np.isfinite(a), a, None).tolist()


def specs_from_json(text: str) -> list[RunSpec]:
    """The racers' specs from :func:`race_json`'s text, validated like any run.

    Raises ValueError naming what is wrong: not JSON, not a race file, a version from the
    future, too many racers, or a racer whose spec is invalid (with RunSpec's own message).
    """
    racers = _racers(text, "specs_from_json")
    return [_spec("specs_from_json", i, racer) for i, racer in enumerate(racers, 1)]


def trajectories_from_json(text: str) -> list[Trajectory]:
    """The stored trajectories (each with its reloaded spec), as race_json wrote them."""
    owner = "trajectories_from_json"
    racers = _racers(text, owner)
    return [
        _trajectory(racer["trajectory"], _spec(owner, i, racer))
        for i, racer in enumerate(racers, 1)
    ]


def _spec(owner: str, i: int, racer: dict) -> RunSpec:
    try:
        return RunSpec.from_dict(racer["spec"])
    except (ValueError, TypeError) as err:  # TypeError: a field of the wrong kind (a list...)
        raise ValueError(f"{owner}: racer {i}: {err}") from None


def _racers(text, owner: str) -> list[dict]:
    if not isinstance(text, str | bytes):
        raise ValueError(f"{owner}: expected the text of a race file; got {type(text).__name__}")
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as err:
        raise ValueError(f"{owner}: not a race file: not valid JSON ({err})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(
            f'{owner}: not a race file: expected a JSON object with "format": {FORMAT!r}'
        )
    unknown = sorted(set(data) - set(_KEYS))
    if unknown:
        raise ValueError(f"{owner}: unknown field {unknown[0]!r}; expected {', '.join(_KEYS)}")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= VERSION:
        raise ValueError(
            f"{owner}: 'version' must be an integer in [1, {VERSION}]; got {version!r}"
        )
    racers = data.get("racers")
    if not isinstance(racers, list):
        raise ValueError(f"{owner}: 'racers' must be a list; got {type(racers).__name__}")
    check_size(owner, "racers", RACERS, len(racers))
    for i, racer in enumerate(racers, 1):
        if not isinstance(racer, dict) or set(racer) != set(_RACER_KEYS):
            raise ValueError(f"{owner}: racer {i} must be an object with 'spec' and 'trajectory'")
        if not isinstance(racer["spec"], dict):
            raise ValueError(f"{owner}: racer {i}: 'spec' must be an object")
    return racers


def _trajectory(data: dict, spec: RunSpec) -> Trajectory:
    try:
        status = STATUS_NAMES.index(data["status"])
        arrays = {k: _array(data[k]) for k in _SHAPES}
        stop = data["stop_step"]
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"trajectories_from_json: malformed trajectory ({err!r})") from None
    steps = spec.steps
    for name, rows in _SHAPES.items():
        shape = (steps + rows[0], *rows[1:])
        if arrays[name].shape != shape:
            raise ValueError(
                f"trajectories_from_json: {name!r} must have shape {shape} for {steps} steps; "
                f"got {arrays[name].shape}"
            )
    if not isinstance(stop, int) or isinstance(stop, bool) or not 0 <= stop <= steps:
        raise ValueError(
            f"trajectories_from_json: 'stop_step' must be in [0, {steps}]; got {stop!r}"
        )
    return Trajectory(**arrays, status=status, stop_step=stop, spec=spec)


def _array(values) -> np.ndarray:
    return np.array(values, dtype=np.float64)  # None becomes NaN


MODEL_CSV_COLUMNS = ("racer", "label", "step", "train_loss", "lr", "momentum", "val_loss",
                     "val_accuracy")  # fmt: skip


def model_race_csv(race) -> str:
    """A model race (``optim_core.models.ModelRace``) as CSV: one row per racer and step with
    the step's training-batch loss, lr and momentum, and the validation loss and accuracy on
    the steps where they were evaluated (empty elsewhere)."""
    evals = {int(s): k for k, s in enumerate(race.eval_steps)}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(MODEL_CSV_COLUMNS)
    for r, racer in enumerate(race.racers):
        for t in range(race.train_loss.shape[1]):
            k = evals.get(t + 1)
            val = (None, None) if k is None else (race.val_loss[r, k], race.val_accuracy[r, k])
            values = (race.train_loss[r, t], race.lr[r, t], race.momentum[r, t], *val)
            cells = ("" if v is None else _number(v) for v in values)
            writer.writerow((r + 1, racer.label, t + 1, *cells))
    return out.getvalue()
