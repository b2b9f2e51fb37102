"""The model mode's speed: racers trained together vs one eager torch.optim loop each, and a
loss plane evaluated in batches vs one forward pass per grid point. ``python -m
benchmarks.bench_models``; CPU, float64, a couple of repetitions (< 60 s)."""

import numpy as np
import torch

from benchmarks.bench_core import best_of
from landscapes.models import MLP, make_dataset
from landscapes.models.plane import pca_directions, pca_plane, plane_loss
from optim_core.models import Racer, TrainConfig, train

STEPS = 1000
RACERS = (
    Racer.make("SGD", lr=0.1, momentum=0.9),
    Racer.make("Adam", lr=0.01),
    Racer.make("RMSprop", lr=0.003),
    Racer.make("AdamW", lr=0.01),
)


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
    batched = best_of(lambda: train(data, model, RACERS, config, device="cpu"), 2)
    eager = best_of(lambda: _eager_loops(data, model, RACERS, STEPS), 2)
    return batched, eager


def plane_ratio(size: int = 41) -> tuple[float, float]:
    data = make_dataset("moons", n_points=1000, val_fraction=0.0)
    model = MLP(2, 2, depth=2, width=64)
    race = train(data, model, RACERS, TrainConfig(steps=100, grid_frames=0), device="cpu")
    centre = race.start
    d1, d2 = pca_directions(race.weights, centre)[:2]
    alphas = betas = np.linspace(-1, 1, size)
    x, y = torch.as_tensor(data.x_train, dtype=torch.float32), torch.as_tensor(data.y_train)
    batched = best_of(lambda: plane_loss(model, x, y, centre, d1, d2, alphas, betas), 2)
    theta, d1_t, d2_t = (torch.as_tensor(v, dtype=torch.float32) for v in (centre, d1, d2))

    sample = betas[:: size // 8]  # a sample of grid rows keeps the slow loop short

    @torch.no_grad()
    def loop():  # one forward pass per grid point, as a plain loop over the plane
        for b in sample:
            for a in alphas:
                model.loss((theta + float(a) * d1_t + float(b) * d2_t)[None], x, y)

    return batched, best_of(loop, 1) * size / len(sample)


def loss_landscapes_time(size: int = 41) -> float | None:
    """The ``loss-landscapes`` package's filter-normalised random plane on the same model and
    data (a speed reference only), or None when it is not installed."""
    try:
        import loss_landscapes
        from loss_landscapes.metrics import Loss
    except ImportError:
        return None
    data = make_dataset("moons", n_points=1000, val_fraction=0.0)
    model = MLP(2, 2, depth=2, width=64)
    torch.manual_seed(0)
    net = model.torch_module(dtype=torch.float32)
    x, y = torch.as_tensor(data.x_train, dtype=torch.float32), torch.as_tensor(data.y_train)
    metric = Loss(torch.nn.functional.cross_entropy, x, y)
    with torch.no_grad():
        return best_of(lambda: loss_landscapes.random_plane(net, metric, steps=size), 1)


def app_rerun() -> float:
    """One model-mode rerun of the default page, server side: train the racers, the loss
    plane, and every figure as JSON (what the app's caches hold after the first run)."""
    from optim_core.models.setup import ModelSetup
    from viz import race_figure
    from viz.model import curves_figure, decision_figure, plane_runs, plane_surface

    def rerun():
        setup = ModelSetup()
        race = train(setup.dataset, setup.mlp, setup.model_racers, setup.config)
        plane = pca_plane(setup.mlp, setup.dataset, race.weights, race.start)
        figures = [
            decision_figure(race, setup.dataset),
            curves_figure(race),
            race_figure(plane_surface(plane), (), plane_runs(race, plane), start=(0.0, 0.0),
                        max_frames=120),
        ]  # fmt: skip
        return [f.to_json() for f in figures]

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as app.py sets it for the server
    try:
        rerun()  # warm: imports, compiled kernels
        return best_of(rerun, 3)
    finally:
        torch.set_num_threads(threads)


def cuda_row() -> str:
    if not torch.cuda.is_available():
        return "  CUDA: not measured (no GPU on this machine)"
    data = make_dataset("moons", n_points=1000, val_fraction=0.0)
    model = MLP(2, 2, depth=2, width=64)
    config = TrainConfig(steps=STEPS, grid_frames=0, snapshots=2, eval_every=STEPS)
    train(data, model, RACERS, config, device="cuda")
    seconds = best_of(lambda: train(data, model, RACERS, config, device="cuda"), 2)
    return f"  CUDA ({torch.cuda.get_device_name()}): 2-64-64-2, 1000 moons: {seconds:.2f} s"


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
    reference = loss_landscapes_time()
    if reference is None:
        print("  loss-landscapes package: not installed (pip install loss-landscapes)")
    else:
        print(
            f"  same plane with the loss-landscapes package: {reference:.2f} s, "
            f"ratio {reference / batched:.1f}x (target >= 2.5x)"
        )
    print(f"  one model-mode rerun of the default page (train + plane + figures): "
          f"{app_rerun() * 1e3:.0f} ms (target <= 1000 ms)")  # fmt: skip
    print(cuda_row())


if __name__ == "__main__":
    main()
