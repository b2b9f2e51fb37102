"""LR range test: the sweep, the cut-off, and suggestions checked against a fine lr sweep."""

import numpy as np
import pytest

from optim_core.engines import numba_engine
from optim_core.lr_finder import cut_off, lr_range_test, smooth, steepest_index, valley_index
from optim_core.spec import RunSpec
from optim_core.trajectory import DIVERGED


def best_fixed_lr(spec: RunSpec, lrs: np.ndarray) -> float:
    """The lr of ``lrs`` with the smallest final loss after ``spec.steps`` (one batch)."""
    res = numba_engine.run_settings(
        [spec.with_(hyperparameters={**spec.h, "lr": lr}) for lr in lrs]
    )
    return float(lrs[np.argmin(np.where(res.status == DIVERGED, np.inf, res.final_loss))])


def test_steepest_is_near_the_best_lr_for_adam_on_the_bowl():
    base = RunSpec(surface="bowl", optimizer="Adam", surface_params={"kappa": 100.0}, steps=50)
    best = best_fixed_lr(base, np.geomspace(1e-4, 10, 300))
    found = lr_range_test(base, lr_min=1e-4, lr_max=10, steps=200)
    assert best / 10 <= found.steepest <= best * 10, (found.steepest, best)


def test_sgd_on_the_bowl_min_over_10_is_near_best_and_steepest_is_early():
    # For gradient descent on a quadratic the loss falls fastest where the steep axis starts
    # to learn, ~1 / (kappa * steps per e-fold of lr): far below the best fixed lr ~2/(kappa+1).
    base = RunSpec(surface="bowl", optimizer="SGD", surface_params={"kappa": 10.0}, steps=100)
    best = best_fixed_lr(base, np.geomspace(1e-4, 1, 300))
    found = lr_range_test(base, lr_min=1e-4, lr_max=10, steps=200)
    assert best / 3 <= found.min_over_10 <= best * 3, (found.min_over_10, best)
    assert found.steepest < best / 3


def test_sweep_reaches_lr_min_and_lr_max_in_both_modes():
    base = RunSpec(surface="bowl", optimizer="Adam")
    for mode in ("exp", "linear"):
        spec = lr_range_test(base, lr_min=1e-5, lr_max=1e-3, steps=50, mode=mode).spec
        lr = spec.lr_schedule.lr(np.arange(spec.steps))
        np.testing.assert_allclose([lr[0], lr[-1]], [1e-5, 1e-3], rtol=1e-12)
        ratios = lr[1:] / lr[:-1] if mode == "exp" else np.diff(lr)
        np.testing.assert_allclose(ratios, ratios[0], rtol=1e-9)


def test_log_lr_derivative_differs_from_index_derivative_on_a_linear_sweep():
    # On a linear sweep the index is proportional to lr, and d/dlog(lr) = lr d/dlr: the
    # index derivative favours small lrs. On an exponential sweep the two coincide.
    base = RunSpec(surface="bowl", optimizer="SGD", surface_params={"kappa": 10.0})
    linear = lr_range_test(base, lr_min=1e-3, lr_max=1.0, steps=200, mode="linear")
    by_index = int(np.argmin(np.gradient(linear.smoothed)))
    by_log_lr = steepest_index(linear.lr, linear.smoothed)
    assert linear.lr[by_log_lr] > 1.5 * linear.lr[by_index]
    exp = lr_range_test(base, lr_min=1e-3, lr_max=1.0, steps=200, mode="exp")
    assert steepest_index(exp.lr, exp.smoothed) == int(np.argmin(np.gradient(exp.smoothed)))


def test_smoothing_is_bias_corrected_and_cut_off_uses_the_best_so_far():
    np.testing.assert_allclose(smooth(np.full(20, 3.0), 0.98), 3.0)
    assert cut_off(np.array([5.0, 2.0, 1.0, 3.0, 4.5, 0.5]), 4.0) == 4
    assert cut_off(np.array([3.0, 2.0, 1.0]), 4.0) == 3


def test_valley_lies_inside_the_longest_decrease():
    loss = np.concatenate([np.full(10, 5.0), np.linspace(5, 1, 30), np.linspace(1, 9, 10)])
    assert 10 <= valley_index(loss) <= 40


def test_divergence_cuts_the_curve():
    base = RunSpec(surface="bowl", optimizer="SGD", surface_params={"kappa": 10.0})
    found = lr_range_test(base, lr_min=1e-3, lr_max=100.0, steps=150)
    # SGD diverges on the steep axis above lr = 2 / kappa; the smoothed loss lags a few steps
    assert len(found.lr) < 150 and found.lr[-1] < 2.0
    assert np.all(found.smoothed <= 4.0 * np.minimum.accumulate(found.smoothed))


@pytest.mark.parametrize(
    "bad",
    [{"lr_min": 0.0}, {"lr_max": -1.0}, {"lr_min": 1.0, "lr_max": 0.5}, {"steps": 1},
     {"mode": "cubic"}, {"smoothing": 1.0}, {"diverge_factor": 1.0}],
)  # fmt: skip
def test_bad_arguments_name_the_parameter_and_value(bad):
    name, value = next(iter(bad.items())) if len(bad) == 1 else ("lr_max", 0.5)
    with pytest.raises(ValueError, match=f"lr_range_test: '{name}'.*{value!s}"):
        lr_range_test(RunSpec(surface="bowl"), **bad)


def test_steepest_skips_the_start_up_of_the_sweep():
    # A run that drops sharply in its first steps (leaving its start), then falls fastest at
    # lr = 1e-2: the suggestion is the second drop, and it is the first without the skip.
    lr = np.geomspace(1e-5, 1.0, 200)
    smoothed = 1.0 + np.exp(-np.arange(200) / 2.0) - 0.5 * np.tanh(4 * np.log10(lr / 1e-2))
    assert steepest_index(lr, smoothed, skip_start=0) < 5
    assert lr[steepest_index(lr, smoothed, skip_start=10)] == pytest.approx(1e-2, rel=0.1)
    assert steepest_index(lr[:4], smoothed[:4], skip_start=10) < 4  # short: the last ones count
