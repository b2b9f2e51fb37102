"""The model mode's trainer against plain torch.nn + torch.optim (+ lr_scheduler) loops.

Every optimizer of the registry, with random valid hyperparameters, trains the same MLP on
the same data from the same seed; after 100 steps the flat weights must equal the torch loop's
to rtol 1e-9 in float64 (Lion: the paper's algorithm, as tests/ does for surfaces).
"""

from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn

from landscapes.models import DATASETS, MLP, make_dataset
from optim_core.models import EARLY_STOPPED, Racer, TrainConfig, minibatches, train
from optim_core.optimizers import OPTIMIZERS
from optim_core.schedules import plateau_reference
from optim_core.trajectory import DIVERGED, MAX_STEPS
from tests.test_optimizers import SAMPLERS
from tests.torch_reference import torch_kwargs, torch_scheduler

torch.set_default_dtype(torch.float64)  # NAdam keeps mu_product in the default dtype

STEPS = 100
RTOL = 1e-9
LR_RANGE = {  # log10 lr that trains the test MLP without chaos
    "SGD": (-2, -0.5),
    "Adagrad": (-2, -1),
    "RMSprop": (-3.5, -2.5),
    "Adadelta": (-1, 0),
    "Adam": (-3, -2),
    "AdamW": (-3, -2),
    "NAdam": (-3, -2),
    "RAdam": (-3, -2),
    "Adamax": (-3, -2),
    "Lion": (-4, -3),
}
# Where an L2 weight decay balances the loss gradient, or beta2 is near 0.9, adaptive
# optimizers divide near-zero gradients by near-zero averages: steps become sign-like and the
# run chaotic on this MLP, so the one-ulp differences between the shared rules and torch's
# fused kernels (add with alpha, addcdiv) grow 100x every 10 steps. Such runs cannot be held to
# 1e-9; the samplers keep decay small and beta2 near 1.
MODEL_SAMPLERS = {
    **SAMPLERS,
    "betas": lambda rng: (float(rng.uniform(0.5, 0.99)), float(rng.uniform(0.99, 0.9999))),
    "weight_decay": lambda rng: float(rng.choice([0.0, 10 ** rng.uniform(-5, -3)])),
}
DATA = make_dataset("moons", n_points=200, noise=0.2)
MODEL = MLP(2, 2, depth=2, width=8, activation="tanh")
QUIET = {"grid_frames": 0, "snapshots": 2}


def random_racer(name: str, seed: int, **schedule) -> Racer:
    rng = np.random.default_rng(seed)
    h = {"lr": float(10 ** rng.uniform(*LR_RANGE[name]))}
    for param in OPTIMIZERS[name].params[1:]:
        h[param.name] = MODEL_SAMPLERS[param.name](rng)
    if h.get("nesterov"):
        h["dampening"] = 0.0
    return Racer.make(name, **schedule, **h)


def reference_net(seed: int, model: MLP = MODEL) -> nn.Sequential:
    """The MLP built from torch.nn directly (not through MLP.torch_module)."""
    act = {"tanh": nn.Tanh, "relu": nn.ReLU, "gelu": nn.GELU}[model.activation]
    torch.manual_seed(seed)
    layers, sizes = [], model.sizes
    for n_in, n_out in zip(sizes[:-2], sizes[1:-1], strict=True):
        layers += [nn.Linear(n_in, n_out), act()]
    return nn.Sequential(*layers, nn.Linear(sizes[-2], sizes[-1]))


def torch_loop(racer: Racer, steps=STEPS, seed=0, batch_size=None) -> np.ndarray:
    """Flat weights after ``steps`` of a plain torch training loop."""
    net = reference_net(seed)
    x, y = torch.as_tensor(DATA.x_train), torch.as_tensor(DATA.y_train)
    batches = minibatches(len(y), batch_size, steps, seed)
    if racer.optimizer == "Lion":
        return _lion_loop(net, racer, x, y, steps, batches)
    opt = getattr(torch.optim, racer.optimizer_def.torch_class)(
        net.parameters(), **torch_kwargs(racer)
    )
    scheduler = torch_scheduler(opt, racer)
    for t in range(steps):
        rows = slice(None) if batches is None else torch.as_tensor(batches[t])
        opt.zero_grad()
        loss = nn.functional.cross_entropy(net(x[rows]), y[rows])
        loss.backward()
        opt.step()
        if racer.schedule == "ReduceLROnPlateau":
            scheduler.step(loss.item())
        elif scheduler is not None:
            scheduler.step()
    return nn.utils.parameters_to_vector(net.parameters()).detach().numpy()


def _lion_loop(net, racer, x, y, steps, batches):
    """Lion as the paper's Algorithm 2 writes it (torch.optim has no Lion)."""
    h = racer.h
    (beta1, beta2), lr, wd = h["betas"], h["lr"], h["weight_decay"]
    params = list(net.parameters())
    moments = [torch.zeros_like(p) for p in params]
    for t in range(steps):
        rows = slice(None) if batches is None else torch.as_tensor(batches[t])
        net.zero_grad()
        nn.functional.cross_entropy(net(x[rows]), y[rows]).backward()
        with torch.no_grad():
            for p, m in zip(params, moments, strict=True):
                c = beta1 * m + (1 - beta1) * p.grad
                p -= lr * (torch.sign(c) + wd * p)
                m.mul_(beta2).add_((1 - beta2) * p.grad)
    return nn.utils.parameters_to_vector(params).detach().numpy()


def ours(racers, **config):
    race = train(DATA, MODEL, racers, TrainConfig(**{"steps": STEPS, **QUIET, **config}), "cpu")
    assert (race.status == MAX_STEPS).all(), [race.message(r) for r in range(len(racers))]
    return race


def test_initial_weights_are_torch_default_init_from_the_seed():
    for seed in (0, 7):
        net = reference_net(seed)
        expected = nn.utils.parameters_to_vector(net.parameters()).detach().numpy()
        np.testing.assert_array_equal(MODEL.init(seed), expected)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
@pytest.mark.parametrize("seed", range(2))
def test_every_optimizer_matches_torch(name, seed):
    racer = random_racer(name, seed)
    race = ours([racer])
    np.testing.assert_allclose(race.final[0], torch_loop(racer), rtol=RTOL, atol=1e-12)


SCHEDULES = {
    "OneCycleLR": {"max_lr": 0.05, "total_steps": STEPS, "cycle_momentum": True},
    "CosineAnnealingLR": {"T_max": 40, "eta_min": 1e-4},
    "StepLR": {"step_size": 30, "gamma": 0.5},
    "ReduceLROnPlateau": {"patience": 2, "factor": 0.5, "threshold": 1e-3},
    "SequentialLR": {
        "schedulers": [
            {"name": "LinearLR", "start_factor": 0.1, "total_iters": 20},
            {"name": "ExponentialLR", "gamma": 0.99},
        ],
        "milestones": [20],
    },
}


@pytest.mark.parametrize("name", ["SGD", "Adam"])
@pytest.mark.parametrize("schedule", list(SCHEDULES))
def test_schedules_match_torch(name, schedule):
    racer = random_racer(name, 3, schedule=schedule, schedule_params=SCHEDULES[schedule])
    race = ours([racer])
    np.testing.assert_allclose(race.final[0], torch_loop(racer), rtol=RTOL, atol=1e-12)


def test_onecycle_cycles_sgd_momentum_and_adam_beta1():
    params = SCHEDULES["OneCycleLR"]
    racers = [Racer.make("SGD", "OneCycleLR", params), Racer.make("Adam", "OneCycleLR", params)]
    race = ours(racers)
    for r, racer in enumerate(racers):
        assert race.momentum[r, 0] == 0.95  # max_momentum, then down to base_momentum and back
        assert race.momentum[r].min() == pytest.approx(0.85, abs=1e-3)
        np.testing.assert_allclose(race.final[r], torch_loop(racer), rtol=RTOL, atol=1e-12)


def test_racers_together_equal_racers_alone():
    """Grouping by optimizer, per-racer constants and the row order change nothing."""
    racers = [random_racer(n, s) for n, s in (("Adam", 1), ("SGD", 2), ("Adam", 3), ("Lion", 4))]
    plateau = SCHEDULES["ReduceLROnPlateau"]
    racers.append(random_racer("RMSprop", 5, schedule="ReduceLROnPlateau", schedule_params=plateau))
    race = ours(racers)
    for r, racer in enumerate(racers):
        np.testing.assert_allclose(race.final[r], torch_loop(racer), rtol=RTOL, atol=1e-12)


@pytest.mark.parametrize("name", ["SGD", "Adam", "Lion", "Adagrad"])
def test_minibatch_run_matches_torch(name):
    racer = random_racer(name, 11)
    race = ours([racer], batch_size=32, seed=5)
    expected = torch_loop(racer, seed=5, batch_size=32)
    np.testing.assert_allclose(race.final[0], expected, rtol=RTOL, atol=1e-12)


def test_minibatches_cover_each_epoch_once():
    batches = minibatches(10, 4, steps=7, seed=0)
    assert [len(b) for b in batches] == [4, 4, 2, 4, 4, 2, 4]
    assert sorted(np.concatenate(batches[:3])) == list(range(10))
    assert minibatches(10, None, 7, 0) is None


def test_plateau_lr_follows_the_reference_state_machine():
    params = {"patience": 1, "factor": 0.5, "threshold": 0.05}
    race = ours([Racer.make("SGD", "ReduceLROnPlateau", params, lr=0.3)])
    expected = plateau_reference(race.train_loss[0], 0.3, **params)
    np.testing.assert_array_equal(race.lr[0], expected)
    assert race.lr[0, -1] < 0.3


def test_too_high_lr_diverges_and_the_others_carry_on():
    racers = [Racer.make("Adam", lr=0.01), Racer.make("SGD", lr=1e4), Racer.make("Adam", lr=1e6)]
    race = train(DATA, MLP(2, 2, 2, 8, "relu"), racers, TrainConfig(steps=50, **QUIET), "cpu")
    assert race.status.tolist() == [MAX_STEPS, DIVERGED, DIVERGED]
    for r in (1, 2):
        k = race.stop_step[r]
        assert race.message(r) == f"diverged at step {k}"
        assert np.isnan(race.train_loss[r, k:]).all() and np.isnan(race.lr[r, k:]).all()
        assert np.isfinite(race.train_loss[r, : k - 1]).all()
        assert np.isnan(race.final[r]).all() and np.isnan(race.val_loss[r, -1])
    assert np.isfinite(race.final[0]).all() and race.train_loss[0, -1] < race.train_loss[0, 0]


def test_early_stopping_halts_on_a_rising_validation_loss():
    # validation labels flipped: the better the fit, the worse the validation loss
    flipped = replace(DATA, x_val=DATA.x_train, y_val=1 - DATA.y_train)
    config = TrainConfig(steps=60, eval_every=5, patience=2, **QUIET)
    race = train(flipped, MODEL, [Racer.make("Adam", lr=0.01)], config, "cpu")
    assert race.status[0] == EARLY_STOPPED and race.stop_step[0] == 10
    assert race.message(0) == "stopped early at step 10 (best validation loss at step 0)"
    assert np.isnan(race.train_loss[0, 10:]).all() and np.isfinite(race.train_loss[0, :10]).all()
    assert np.isnan(race.val_loss[0, race.eval_steps > 10]).all()
    np.testing.assert_array_equal(race.weights[0, -1], race.final[0])  # held, not NaN


def test_records_have_the_documented_shapes():
    config = TrainConfig(steps=120, eval_every=25, snapshots=7, grid_frames=4, grid_size=9)
    race = train(DATA, MODEL, [Racer(), Racer.make("SGD", lr=0.1)], config, "cpu")
    assert race.train_loss.shape == race.lr.shape == race.momentum.shape == (2, 120)
    assert race.eval_steps.tolist() == [0, 25, 50, 75, 100, 120]
    assert race.val_accuracy.shape == (2, 6) and race.snapshot_steps.tolist() == [
        0,
        20,
        40,
        60,
        80,
        100,
        120,
    ]
    assert race.weights.shape == (2, 7, MODEL.n_params)
    np.testing.assert_array_equal(race.weights[:, 0], np.tile(race.start, (2, 1)))
    np.testing.assert_array_equal(race.weights[:, -1], race.final)
    frames = race.frames
    assert frames.label.shape == frames.confidence.shape == (2, 4, 9, 9)
    assert frames.steps.tolist() == [0, 40, 80, 120]
    assert set(np.unique(frames.label)) <= {0, 1} and (frames.confidence >= 0.5).all()
    assert (race.momentum[0] == 0.9).all() and (race.momentum[1] == 0.0).all()  # beta1, SGD's 0
    assert race.train_loss[0, 0] == pytest.approx(race.eval_train_loss[0, 0], rel=1e-12)


@pytest.mark.parametrize("name", list(DATASETS))
def test_default_settings_reduce_the_training_loss(name):
    data = make_dataset(name, **({"n_points": 300} if DATASETS[name].params else {}))
    model = MLP(data.n_features, data.n_classes, depth=1, width=16)
    race = train(data, model, [Racer()], TrainConfig(steps=60, grid_frames=2, snapshots=2), "cpu")
    assert race.eval_train_loss[0, -1] < 0.98 * race.eval_train_loss[0, 0]
    assert race.frames is None if data.n_features != 2 else race.frames.label.shape[1] == 2


def test_dropout_trains_reproducibly():
    model = MLP(2, 2, depth=2, width=8, dropout=0.3)
    config = TrainConfig(steps=40, seed=3, **QUIET)
    first = train(DATA, model, [Racer.make("Adam", lr=0.01)], config, "cpu")
    again = train(DATA, model, [Racer.make("Adam", lr=0.01)], config, "cpu")
    np.testing.assert_array_equal(first.final, again.final)
    assert first.train_loss[0, -1] < first.train_loss[0, 0]


def test_bad_settings_are_rejected_at_the_boundary():
    with pytest.raises(ValueError, match="SGD: 'lr' must be a float"):
        Racer.make("SGD", lr=-1)
    with pytest.raises(ValueError, match="cycle_momentum=True needs"):
        Racer.make("Adagrad", "OneCycleLR", {"max_lr": 0.1, "total_steps": 10})
    with pytest.raises(ValueError, match="'batch_size' must be"):
        TrainConfig(batch_size=0)
    with pytest.raises(ValueError, match="'patience' must be an integer in \\[1, inf\\)"):
        TrainConfig(patience=0)
    with pytest.raises(ValueError, match="set a smaller batch_size"):
        big = make_dataset("moons", n_points=20_000)
        train(big, MLP(2, 2, 6, 512), [Racer()] * 6, TrainConfig(steps=5), "cpu")
    with pytest.raises(ValueError, match="takes 3 features"):
        train(DATA, MLP(3, 2), [Racer()], TrainConfig(steps=5), "cpu")
    with pytest.raises(ValueError, match="'racers' must be"):
        train(DATA, MODEL, [Racer()] * 7, TrainConfig(steps=5), "cpu")
    with pytest.raises(ValueError, match="total_steps"):
        train(
            DATA,
            MODEL,
            [Racer.make("SGD", "OneCycleLR", {"max_lr": 0.1, "total_steps": 10})],
            TrainConfig(steps=20),
            "cpu",
        )
