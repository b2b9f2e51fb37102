"""What the race chart receives per rerun (viz.race_payload) and how the app serves its image
(ui.race_chart); the browser tests check what the page draws from it."""

import base64
import json

import numpy as np
import pytest

from optim_core.config import LabConfig, Racer
from optim_core.engines import numba_engine
from optim_core.spec import freeze
from optim_core.trajectory import DIVERGED
from ui import race_chart
from viz import race_figure
from viz.race import CURVE_BUCKETS, play_steps
from viz.race_payload import race_payload

RACERS = (
    Racer("SGD", freeze({"lr": 0.01})),  # converges at step 77
    Racer("SGD", freeze({"lr": 0.05})),  # diverges at step 12
    Racer("Adam", freeze({"lr": 0.05})),
)


def _race(steps: int, racers=RACERS):
    specs = LabConfig(surface="himmelblau", steps=steps, racers=racers).specs()
    runs = [(s.label, numba_engine.run(s)) for s in specs]
    return specs[0].surface_def, runs, specs[0].start


def _decode(run: dict) -> np.ndarray:
    return np.frombuffer(base64.b64decode(run["xy"]), dtype="<f4").reshape(-1, 2)


def test_the_payload_carries_each_run_once_and_the_figure_without_paths():
    surface, runs, start = _race(600)
    payload = race_payload(surface, (), runs, start=start, frames=120, height=640)
    fig, play = json.loads(payload["figure"]), payload["play"]
    end = max(int(t.stop_step) for _, t in runs)  # the race ends when its last runner stops
    assert play["steps"] == play_steps(end, 120).tolist() and play["steps"][-1] == end
    assert all(fig["data"][i]["x"] == [] for i in play["paths"])
    assert "source" not in fig["layout"]["images"][0]
    assert payload["image"].startswith("data:image/png;base64,")
    for (_, traj), run in zip(runs, play["runs"], strict=True):
        xy = _decode(run)
        assert run["last"] == traj.last_finite and run["end"] == traj.stop_step
        assert len(xy) == min(run["last"], run["end"]) + 1  # nothing after the run stopped
        np.testing.assert_allclose(xy, traj.positions[: len(xy)], rtol=1e-6)
        assert run["blown_at"] == (traj.stop_step if traj.status == DIVERGED else -1)
    assert [r["blown_at"] for r in play["runs"]] == [-1, 12, -1]
    # the traces that move are exactly the frames' traces of the animated figure
    animated = race_figure(surface, (), runs, start=start, max_frames=120).frames[0].traces
    assert list(animated) == play["paths"] + play["markers"] + play["cursors"]


def test_the_payload_is_a_fraction_of_the_animated_figure():
    specs = LabConfig(steps=5000).specs()  # three runs that use all their steps
    runs = [(s.label, numba_engine.run(s)) for s in specs]
    surface, start = specs[0].surface_def, specs[0].start
    payload = json.dumps(race_payload(surface, (), runs, start=start, frames=120))
    figure = race_figure(surface, (), runs, start=start, max_frames=120).to_json()
    assert len(payload) < 0.5 * len(figure), (len(payload), len(figure))


def test_long_curves_keep_their_extremes_in_few_points():
    surface, runs, start = _race(5000, (Racer("SGD", freeze({"lr": 0.03})),))
    fig = json.loads(race_payload(surface, (), runs, start=start)["figure"])
    (curve,) = [t for t in fig["data"] if t.get("yaxis") == "y3" and t["name"] != "step"]
    values = np.frombuffer(base64.b64decode(curve["y"]["bdata"]), dtype="<f4")
    assert len(values) == 2 * CURVE_BUCKETS
    loss = runs[0][1].loss
    floor = np.maximum(loss - surface.f_min, 1e-16)
    assert values.max() == pytest.approx(floor.max(), rel=1e-6)
    assert values.min() == pytest.approx(floor.min(), rel=1e-5, abs=1e-16)


def test_surface_images_are_files_named_by_content_and_pruned(tmp_path, monkeypatch):
    monkeypatch.setattr(race_chart, "SURFACES", tmp_path)
    monkeypatch.setattr(race_chart, "KEPT_IMAGES", 3)
    uris = [
        "data:image/png;base64," + base64.b64encode(f"png {i}".encode()).decode() for i in range(5)
    ]
    first = race_chart.image_url(uris[0])
    assert first == race_chart.image_url(uris[0]) != race_chart.image_url(uris[1])
    written = tmp_path / first.rsplit("/", 1)[1]
    assert written.read_bytes() == b"png 0"
    assert written.stat().st_mode & 0o777 == 0o644  # the static server must read it
    for uri in uris[2:]:
        race_chart.image_url(uri)
    assert len(list(tmp_path.glob("*.png"))) == 3
    assert not list(tmp_path.glob("*.tmp"))
