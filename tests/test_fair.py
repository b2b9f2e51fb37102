"""Fair comparison: equal budgets and seeds, reproducible tuned specs, a clear winner."""

import optuna
import pytest

from optim_core.engines import numba_engine
from optim_core.fair import Tuned, compare
from optim_core.spec import RunSpec

optuna.logging.set_verbosity(optuna.logging.WARNING)
BOWL = RunSpec(surface="bowl", surface_params={"kappa": 1000.0}, steps=50)


def test_every_optimizer_gets_the_same_budget_and_seeds():
    calls = []
    result = compare(BOWL, ("SGD", "Adam", "RMSprop"), budget=7, seeds=(3, 5), sampler="random",
                     progress=lambda done, total: calls.append((done, total)))  # fmt: skip
    assert [r.optimizer for r in result.results] == ["SGD", "Adam", "RMSprop"]
    for r in result.results:
        assert r.seeds == (3, 5) and r.trials == (7, 7)
        assert len(r.best) == len(r.settings) == 2
    done = [d for d, _ in calls]
    assert done == sorted(done) and calls[-1] == (42, 42)


def test_same_seeds_give_the_same_result_and_other_seeds_another():
    noisy = BOWL.with_(noise=0.5, seed=99)
    first = compare(noisy, ("SGD", "Adam"), budget=12, seeds=(0, 1, 2))
    again = compare(noisy, ("SGD", "Adam"), budget=12, seeds=(0, 1, 2))
    other = compare(noisy, ("SGD", "Adam"), budget=12, seeds=(3, 4, 5))
    assert first == again
    assert [r.spec for r in first.results] == [r.spec for r in again.results]
    for a, b in zip(first.results, other.results, strict=True):
        assert a.settings != b.settings and a.best != b.best
    # the gradient noise follows the seed of the search whose setting is raced
    for r in first.results:
        assert r.spec.seed == r.race_seed and r.spec.noise == 0.5
    plain = compare(BOWL.with_(seed=99), ("Adam",), budget=4, seeds=(1, 2), sampler="random")
    assert plain.results[0].spec.seed == 99  # no noise: the seed means nothing, kept


def test_tuned_specs_reproduce_the_reported_best_loss():
    result = compare(RunSpec(surface="rosenbrock", steps=80), ("SGD", "Adam", "Lion"),
                     budget=15, seeds=(0, 1, 2))  # fmt: skip
    for r in result.results:
        i = r.seeds.index(r.race_seed)
        assert r.best[i] == r.median  # three seeds: the median is one of them
        assert numba_engine.run(r.spec).final_loss == r.best[i]
        assert r.spec.optimizer == r.optimizer and r.spec.surface == "rosenbrock"
        assert r.spec.lr == r.settings[i]["lr"]


def test_adam_beats_sgd_on_an_ill_conditioned_bowl():
    """kappa = 1000: SGD's lr must stay under 2/1000 for the steep axis, so 50 steps barely
    move it along the flat one; Adam scales each axis by its own gradient size."""
    result = compare(BOWL, ("SGD", "Adam"), budget=20, seeds=range(5))
    sgd, adam = result.results
    assert result.ranking()[0] is adam
    assert max(adam.best) < 1e-3 * min(sgd.best), (adam.best, sgd.best)


def test_the_raced_setting_is_the_lower_median_seed():
    r = Tuned("Adam", (7, 8, 9, 10), (0.4, 0.1, 0.3, 0.2), ({},) * 4, (1,) * 4, BOWL)
    assert r.race_seed == 10 and r.median == pytest.approx(0.25) and r.spread == (0.1, 0.4)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"optimizers": ("SGD", "Adamm")}, "'optimizers' must be among SGD, .*; got 'Adamm'"),
        ({"optimizers": ()}, "'optimizers' must be a non-empty list; got ()"),
        ({"optimizers": "Adam"}, "'optimizers' must be a non-empty list; got 'Adam'"),
        ({"optimizers": ("SGD", "SGD")}, "must not repeat a name"),
        ({"budget": 0}, r"'budget' must be an integer in \[1, 500\]; got 0"),
        ({"budget": 501}, r"'budget' must be an integer in \[1, 500\]; got 501"),
        ({"budget": 2.5}, r"'budget' must be an integer in \[1, 500\]; got 2.5"),
        ({"seeds": ()}, r"'number of seeds' must be an integer in \[1, 20\]; got 0"),
        ({"seeds": range(21)}, r"'number of seeds' must be an integer in \[1, 20\]; got 21"),
        ({"seeds": (0, -1)}, r"'seeds' must be an integer in \[0, 4294967295\]; got -1"),
        ({"seeds": 5}, "'seeds' must be a list of integers; got 5"),
        ({"seeds": (1, 1)}, "must not repeat a seed"),
        ({"sampler": "grid"}, "'sampler' must be one of 'tpe', 'random'; got 'grid'"),
        ({"optimizers": ("Adam", "Adagrad"),
          "base": RunSpec(schedule="OneCycleLR",
                         schedule_params={"max_lr": 0.1, "total_steps": 500})},
         "Adagrad cannot run the base spec: .*cycle_momentum"),
    ],
)  # fmt: skip
def test_bad_inputs_are_rejected_with_the_value(kwargs, message):
    args = {"base": BOWL, "budget": 3, "seeds": (0,), **kwargs}
    with pytest.raises(ValueError, match=message):
        compare(**args)
