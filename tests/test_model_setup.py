"""The model mode's setup (validation once, links) and its figures."""

import numpy as np
import pytest

from landscapes.models import pca_plane
from optim_core.config import Racer
from optim_core.models import train
from optim_core.models.setup import ModelSetup
from optim_core.spec import freeze
from viz.model import curves_figure, decision_figure, plane_runs, plane_surface


def query_of(setup: ModelSetup) -> dict:
    return {k: v if isinstance(v, list) else [v] for k, v in setup.to_query().items()}


@pytest.fixture(scope="module")
def small():
    setup = ModelSetup(data_params=freeze({"n_points": 120}), steps=60)
    race = train(setup.dataset, setup.mlp, setup.model_racers, setup.config)
    return setup, race


def test_a_setup_round_trips_through_a_link():
    setup = ModelSetup(
        data="circles", data_params=freeze({"n_points": 200, "noise": 0.05, "seed": 3}),
        model=freeze({"depth": 3, "width": 8, "activation": "relu", "dropout": 0.1}),
        racers=(Racer("SGD", freeze({"lr": 0.05}), "StepLR", freeze({"step_size": 50})),),
        steps=300, batch_size=32, seed=7, patience=4, plane="random",
    )  # fmt: skip
    back = ModelSetup.from_query(query_of(setup))
    assert not back.warnings
    assert back == setup


@pytest.mark.parametrize(
    ("name", "value"),
    [("data", "no-such-set"), ("steps", "1e9"), ("batch_size", "0"), ("model", "[1]"),
     ("model", '{"depth": 99}'), ("plane", "sideways"), ("racer", '{"optimizer": "Nope"}'),
     ("data_params", '{"n_points": 1e12}')],
)  # fmt: skip
def test_a_bad_link_value_keeps_its_default_with_a_reason(name, value):
    setup = ModelSetup.from_query({name: [value]})
    assert len(setup.warnings) == 1 and name in setup.warnings[0], setup.warnings
    assert ModelSetup(**{f: getattr(setup, f) for f in ("data", "steps", "plane")})


def test_an_uploaded_file_cannot_travel_in_a_link():
    setup = ModelSetup.from_query({"data": ["csv"]})
    assert "upload" in setup.warnings[0] and setup.data == "moons"


def test_a_csv_setup_trains():
    rows = ["a,b,label"] + [f"{i % 7},{(i * 3) % 5},{i % 2}" for i in range(60)]
    setup = ModelSetup(data="csv", csv_text="\n".join(rows), steps=20)
    assert setup.dataset.n_features == 2
    with pytest.raises(ValueError, match="upload"):
        ModelSetup(data="csv")


def test_validated_values_are_normalised():
    setup = ModelSetup(steps=300.0, batch_size=32.0)
    assert setup.steps == 300 and type(setup.steps) is int and type(setup.batch_size) is int


def test_the_plane_surface_is_the_plane_loss_at_its_grid_points(small):
    setup, race = small
    plane = pca_plane(setup.mlp, setup.dataset, race.weights, race.start, size=11)
    surface = plane_surface(plane)
    a, b = np.meshgrid(plane.alphas, plane.betas)
    np.testing.assert_allclose(surface.f(a, b), plane.loss, rtol=1e-12)
    runs = plane_runs(race, plane)
    assert len(runs) == len(race.racers)
    for (_, traj), path in zip(runs, plane.paths, strict=True):
        assert traj.positions.shape == (setup.steps + 1, 2)
        np.testing.assert_allclose(traj.positions[race.snapshot_steps], path, atol=1e-12)
        np.testing.assert_allclose(traj.positions[0], (0.0, 0.0), atol=1e-12)


def test_the_decision_figure_animates_every_racer(small):
    setup, race = small
    fig = decision_figure(race, setup.dataset)
    assert len(fig.frames) == len(race.frames.steps)
    assert all(len(f.data) == len(race.racers) for f in fig.frames)
    curves = curves_figure(race)
    assert len(curves.data) >= 4 * len(race.racers)
