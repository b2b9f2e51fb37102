"""The results table's text: numbers a reader can read, no "None", one mark for "nothing"."""

import numpy as np

from landscapes import get_surface
from optim_core.report import number, results_rows
from optim_core.spec import RunSpec
from optim_core.trajectory import CONVERGED, DIVERGED, Trajectory


def _traj(positions, loss, status, stop) -> Trajectory:
    positions, loss = np.asarray(positions, dtype=float), np.asarray(loss, dtype=float)
    steps = len(loss) - 1
    nan = np.full(steps, np.nan)
    spec = RunSpec.from_dict(
        {
            "surface": "rosenbrock",
            "optimizer": "SGD",
            "steps": steps,
            "hyperparameters": {"lr": 0.01},
            "start": list(positions[0]),
        }
    )
    return Trajectory(positions, loss, np.full(steps, 0.01), nan, np.full((steps, 2), np.nan),
                      status, stop, spec)  # fmt: skip


def test_number_is_short_and_scientific_where_needed():
    cases = {2e-16: "2e-16", 1.23456e-5: "1.23e-5", 0.001834: "0.00183", 0.1528: "0.153",
             1.0: "1", 123.456: "123", 12345.6: "1.23e4", -2.5e-7: "-2.5e-7", 0.0: "0",
             1e300: "1e300"}  # fmt: skip
    for value, text in cases.items():
        assert number(value) == text, value
    for missing in (float("nan"), float("inf"), None):
        assert number(missing) == "—"


def test_rows_hold_formatted_text_and_no_none():
    surface = get_surface("rosenbrock")
    tiny = _traj([[-1.2, 1.0], [1.0, 1.0 + 1e-8]], [24.2, 2e-16], CONVERGED, 1)
    blown = _traj([[-1.2, 1.0], [50.0, -80.0], [np.nan, np.nan]], [24.2, 3.3e12, np.nan],
                  DIVERGED, 2)  # fmt: skip
    rows = results_rows([("1. SGD", tiny), ("lr = 0.2", blown)], surface)
    assert [r["run"] for r in rows] == ["1. SGD", "lr = 0.2"]
    assert rows[0]["final loss"] == "2e-16" and rows[0]["distance"] == "1e-8"
    assert rows[0]["nearest minimum"] == "global (1, 1)"
    assert rows[1]["nearest minimum"] == rows[1]["distance"] == "—"
    assert rows[1]["final loss"] == "3.3e12"
    for row in rows:
        for value in row.values():
            assert isinstance(value, str) and value and "None" not in value and "nan" not in value
