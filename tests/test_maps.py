"""Basin, sensitivity and noise maps on cases whose answer is known."""

import numpy as np
import pytest

from landscapes import get_surface
from optim_core import maps
from optim_core.engines import numba_engine, torch_engine
from optim_core.spec import RunSpec
from optim_core.trajectory import DIVERGED


def test_every_start_of_a_convex_bowl_reaches_its_one_minimum():
    spec = RunSpec(surface="bowl", optimizer="SGD", hyperparameters=(("lr", 0.05),), steps=800)
    basins = maps.basin_map(spec, 48)
    assert (basins.label == 0).all()
    assert maps.reached_share(basins)["global"] == 1.0


def test_himmelblau_shows_its_four_basins_and_each_start_ends_in_its_own():
    spec = RunSpec(
        surface="himmelblau", optimizer="SGD", hyperparameters=(("lr", 0.005),), steps=600
    )
    basins = maps.basin_map(spec, 64)
    assert set(np.unique(basins.label)) == {0, 1, 2, 3}
    minima = np.array(get_surface("himmelblau").minima)
    # Each minimum's own neighbourhood is its basin.
    for k, (mx, my) in enumerate(minima):
        i, j = np.argmin(np.abs(basins.ys - my)), np.argmin(np.abs(basins.xs - mx))
        assert basins.label[i, j] == k


def test_the_double_well_splits_between_local_and_global_minimum():
    spec = RunSpec(
        surface="double_well", optimizer="SGD", hyperparameters=(("lr", 0.01),), steps=1500
    )
    share = maps.reached_share(maps.basin_map(spec, 40))
    assert share["global"] > 0.2 and share["local"] > 0.2


def test_too_large_a_learning_rate_shows_as_diverged_starts():
    spec = RunSpec(
        surface="rosenbrock", optimizer="SGD", hyperparameters=(("lr", 0.01),), steps=200
    )
    basins = maps.basin_map(spec, 32)
    assert (basins.label == maps.DIVERGED_LABEL).any()
    assert (basins.status[basins.label == maps.DIVERGED_LABEL] == DIVERGED).all()


def test_basin_map_is_the_same_on_both_engines():
    spec = RunSpec(
        surface="six_hump_camel", optimizer="Adam", hyperparameters=(("lr", 0.02),), steps=300
    )
    a = maps.basin_map(spec, 24)
    b = maps.basin_map(spec, 24, engine=torch_engine)
    np.testing.assert_array_equal(a.label, b.label)


def test_sensitivity_map_finds_the_stable_learning_rates_of_a_quadratic():
    # SGD on 0.5 (x² + κy²) is stable exactly for lr < 2/κ: the map must show that edge.
    kappa = 10.0
    spec = RunSpec(
        surface="bowl", surface_params=(("kappa", kappa),), optimizer="SGD", steps=300, tol=0.0
    )
    lrs = np.array([0.05, 0.1, 0.15, 0.19, 0.21, 0.25, 0.3])
    sm = maps.sensitivity_map(spec, "lr", lrs, "momentum", [0.0])
    diverged = sm.status[0] == DIVERGED
    np.testing.assert_array_equal(diverged, lrs > 2 / kappa)


def test_sensitivity_cells_are_loadable_specs():
    spec = RunSpec(optimizer="Adam", steps=100)
    sm = maps.sensitivity_map(spec, "lr", [1e-3, 1e-2], "betas[1]", [0.9, 0.999])
    assert sm.final_loss.shape == (2, 2)
    cell = sm.specs[1 * 2 + 0]
    assert cell.h["lr"] == 1e-3 and cell.h["betas"][1] == 0.999
    assert numba_engine.run(cell).final_loss == pytest.approx(sm.final_loss[1, 0], rel=1e-12)


def test_schedule_parameters_can_be_mapped():
    spec = RunSpec(
        optimizer="SGD",
        schedule="CyclicLR",
        schedule_params=(("base_lr", 1e-4), ("max_lr", 1e-3), ("step_size_up", 50)),
        steps=200,
    )
    sm = maps.sensitivity_map(
        spec, "schedule.base_lr", [1e-5, 1e-4], "schedule.max_lr", [1e-3, 2e-3]
    )
    assert np.isfinite(sm.final_loss).all()


def test_unknown_map_parameter_is_rejected_with_the_choices():
    with pytest.raises(ValueError, match="'nope' is not a parameter of Adam"):
        maps.sensitivity_map(RunSpec(), "nope", [1], "lr", [1e-3])


def test_noise_ensemble_fans_out_and_its_band_is_ordered():
    spec = RunSpec(
        surface="bowl", optimizer="SGD", hyperparameters=(("lr", 0.05),), noise=0.5, steps=200
    )
    trajs, (median, low, high) = maps.noise_ensemble(spec, 12)
    finals = np.array([t.final_position for t in trajs])
    assert np.ptp(finals[:, 0]) > 0  # the seeds differ
    assert np.all(low <= median) and np.all(median <= high)
    assert sorted(t.spec.seed for t in trajs) == list(range(spec.seed, spec.seed + 12))
    with pytest.raises(ValueError, match="noise"):
        maps.noise_ensemble(spec.with_(noise=0.0))


class NoRuns:
    """An engine that fails the test if a map starts running before checking its size."""

    def __getattr__(self, name):
        raise AssertionError(f"the map called engine.{name} with a size out of bounds")


@pytest.mark.parametrize("resolution", [1, 513, 1024, 10**400, 64.5, "64", True])
def test_basin_map_resolution_has_one_limit(resolution):
    with pytest.raises(ValueError) as err:
        maps.basin_map(RunSpec(), resolution, engine=NoRuns())
    message = str(err.value)
    assert message.startswith("basin map: 'resolution' must be an integer in [2, 512]; got ")
    assert len(message) < 120


@pytest.mark.parametrize("runs", [1, 257, 10**6, 10**400, 8.5, None])
def test_noise_ensemble_runs_have_one_limit(runs):
    spec = RunSpec(surface="bowl", optimizer="SGD", noise=0.5, steps=10)
    with pytest.raises(ValueError) as err:
        maps.noise_ensemble(spec, runs, engine=NoRuns())
    assert str(err.value).startswith("noise ensemble: 'runs' must be an integer in [2, 256]; got ")


@pytest.mark.parametrize(("n_x", "n_y", "axis"), [(65, 2, "xs"), (2, 65, "ys"), (0, 2, "xs")])
def test_sensitivity_map_axes_have_one_limit(n_x, n_y, axis):
    xs, ys = np.linspace(1e-3, 1e-2, n_x), np.linspace(0.0, 0.9, n_y)
    with pytest.raises(ValueError) as err:
        maps.sensitivity_map(RunSpec(optimizer="SGD"), "lr", xs, "momentum", ys, engine=NoRuns())
    bad = n_x if axis == "xs" else n_y
    assert str(err.value) == (
        f"sensitivity map: 'len({axis})' must be an integer in [1, 64]; got {bad}"
    )
