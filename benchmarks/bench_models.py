"""The model mode's speed: racers trained together vs one eager torch.optim loop each, and a
loss plane evaluated in batches vs one forward pass per grid point. ``python -m
benchmarks.bench_models``; CPU, float64, a couple of repetitions (< 60 s)."""

import time

import numpy as np
import torch

from landscapes.models import MLP, make_dataset
from landscapes.models.plane import pca_directions, plane_loss
from optim_core.models import Racer, TrainConfig, train

STEPS = 1000
RACERS = (
    Racer.make("SGD", lr=0.1, momentum=0.9),
    Racer.make("Adam", lr=0.01),
    Racer.make("RMSprop", lr=0.003),
    Racer.make("AdamW", lr=0.01),
)


def _best(fn, repeats=2) -> float:
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return min(times)


def _eager_loops(data, model: MLP, racers, steps: int) -> None:
    """What a torch user writes: one nn.Module, optimizer and loop per racer."""
    x, y = torch.as_tensor(data.x_train), torch.as_tensor(data.y_train)
    for racer in racers:
        torch.manual_seed(0)
        net = model.torch_module()
        h = {k: v for k, v in racer.h.items() if k != "bias_correction"}  # not a torch option
        opt = getattr(torch.optim, racer.optimizer_def.torch_class)(net.parameters(), **h)
        for _ in range(steps):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(x), y)
            loss.backward()
            opt.step()


def race_ratio(width: int, points: int) -> tuple[float, float]:
    data = make_dataset("moons", n_points=points, val_fraction=0.0)
    model = MLP(2, 2, depth=2, width=width)
    config = TrainConfig(steps=STEPS, grid_frames=0, snapshots=2, eval_every=STEPS)
    batched = _best(lambda: train(data, model, RACERS, config, device="cpu"))
    eager = _best(lambda: _eager_loops(data, model, RACERS, STEPS))
    return batched, eager


def plane_ratio(size: int = 41) -> tuple[float, float]:
    data = make_dataset("moons", n_points=1000, val_fraction=0.0)
    model = MLP(2, 2, depth=2, width=64)
    race = train(data, model, RACERS, TrainConfig(steps=100, grid_frames=0), device="cpu")
    centre = race.start
    d1, d2 = pca_directions(race.weights, centre)[:2]
    alphas = betas = np.linspace(-1, 1, size)
    x, y = torch.as_tensor(data.x_train, dtype=torch.float32), torch.as_tensor(data.y_train)
    batched = _best(lambda: plane_loss(model, x, y, centre, d1, d2, alphas, betas))
    theta, d1_t, d2_t = (torch.as_tensor(v, dtype=torch.float32) for v in (centre, d1, d2))

    sample = betas[:: size // 8]  # a sample of grid rows keeps the slow loop short

    @torch.no_grad()
    def loop():  # one forward pass per grid point, as a plain loop over the plane
        for b in sample:
            for a in alphas:
                model.loss((theta + float(a) * d1_t + float(b) * d2_t)[None], x, y)

    return batched, _best(loop, 1) * size / len(sample)


def main(quick: bool = False) -> None:
    print(f"model mode, {len(RACERS)} racers x {STEPS} full-batch steps, CPU float64")
    for width, points in ((16, 500), (64, 1000)):
        batched, eager = race_ratio(width, points)
        print(
            f"  MLP 2-{width}-{width}-2, {points} moons: batched {batched:.2f} s, "
            f"eager torch.optim loops {eager:.2f} s, ratio {eager / batched:.1f}x"
        )
    batched, loop = plane_ratio()
    print(
        f"  41x41 loss plane (float32), 2-64-64-2 on 1000 points: batched {batched:.2f} s, "
        f"per-point loop {loop:.2f} s (timed on a sample of rows), ratio {loop / batched:.1f}x"
    )


if __name__ == "__main__":
    main()
