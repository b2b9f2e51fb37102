"""Train several racers on one model and data set together, from one seeded start.

All racers' weights are one (R, P) tensor: each step runs one batched forward/backward for
every racer (``MLP.loss_and_grad``: a few ``baddbmm``/``bmm`` kernels, not R small models),
and a second one for the SAM racers' rows at their perturbed weights (``sam.py``); then each
group of racers that share an optimizer takes its step with that optimizer's own
``update`` rule (the definition the surface engines run and the tests hold to torch.optim),
broadcast over the flat vectors with per-racer lr and constants as (R_g, 1) columns. Measured
here this is several times faster than one eager ``torch.optim`` loop per racer
(``benchmarks/bench_models.py``); ``torch.func.vmap`` was not (NOTES.md).

A racer whose loss or weights blow up (non-finite, or a loss DIVERGENCE_FACTOR times the
start's) stops at that step, its weights NaN from then on; the others carry on. Everything a
step records stays on the device until the end, so a run without ReduceLROnPlateau never waits
for the host inside the loop (a plateau racer reads its loss back once per step, as the torch
engine does).
"""

import math
from collections.abc import Sequence

import numpy as np
import torch

from common.limits import RACERS, check_size
from landscapes.models.data import Dataset
from landscapes.models.mlp import MLP, dropout_masks

from ..engines._kernels import plateau_start, plateau_steps
from ..engines.prepare import plateau_table, schedule_arrays, step_constants
from ..engines.torch_engine import default_device
from ..optimizers import N_STATE
from ..trajectory import DIVERGED, MAX_STEPS
from .record import Recorder, decision_grid
from .result import EARLY_STOPPED, ModelRace, blank_after_stop
from .sam import sam_gradient
from .spec import Racer, TrainConfig

DIVERGENCE_FACTOR = 100.0  # a loss this many times the start's (at least log C) has blown up
MAX_STEP_ACTIVATIONS = 2**25  # one step's forward for all racers (~1 GB with its backward)


def minibatches(n: int, batch_size: int | None, steps: int, seed: int) -> list | None:
    """The training rows of each step, shared by every racer: a fresh seeded permutation per
    epoch cut into batches, the last one smaller (``DataLoader(shuffle=True)``). None for
    full batch."""
    if batch_size is None or batch_size >= n:
        return None
    rng = np.random.default_rng(seed)
    per_epoch = math.ceil(n / batch_size)
    epochs = [rng.permutation(n) for _ in range(math.ceil(steps / per_epoch))]
    return [
        epochs[t // per_epoch][(t % per_epoch) * batch_size :][:batch_size] for t in range(steps)
    ]


class _Group:
    """Racers (rows ``rows`` of the stack) that share one optimizer's update rule."""

    def __init__(self, rows: slice, racers, steps, as_t, n_params):
        opt = racers[0].optimizer_def
        self.rows, self.update = rows, opt.update
        tables = []
        for racer in racers:
            _, momentum, _ = schedule_arrays(racer.lr_schedule, opt, racer.h, steps)
            constant = np.where(np.isnan(momentum), 0.0, momentum)  # unused where NaN
            tables.append(step_constants(opt, racer.h, constant))
        self.consts = as_t(np.stack(tables).transpose(2, 1, 0)[..., None])  # (T, K, R_g, 1)
        s0 = np.array([opt.init(r.h) for r in racers], dtype=np.float64)  # (R_g, N_STATE)
        self.state = tuple(
            as_t(s0[:, k, None]).expand(-1, n_params).clone() for k in range(N_STATE)
        )

    def step(self, theta, grad, lr, t):
        p, self.state = self.update(
            theta[self.rows], grad[self.rows], self.state, lr[self.rows], self.consts[t].unbind(0)
        )
        return p


def train(
    data: Dataset,
    model: MLP,
    racers: Sequence[Racer],
    config: TrainConfig | None = None,
    device: str | None = None,
    dtype=torch.float64,
) -> ModelRace:
    """Every racer trained on ``data`` from ``model.init(config.seed)``; see ModelRace.
    ``config`` defaults to ``TrainConfig()``."""
    config = config or TrainConfig()
    check_size("training", "racers", RACERS, len(racers))
    if (model.n_inputs, model.n_classes) != (data.n_features, data.n_classes):
        raise ValueError(
            f"training: the model takes {model.n_inputs} features and {model.n_classes} "
            f"classes; {data.name} has {data.n_features} and {data.n_classes}"
        )
    if config.patience is not None and not len(data.y_val):
        raise ValueError("training: early stopping ('patience') needs a validation set")
    for racer in racers:
        racer.lr_schedule.check_steps(config.steps)
    rows = min(config.batch_size or len(data.y_train), len(data.y_train))
    if len(racers) * rows * sum(model.sizes[1:]) > MAX_STEP_ACTIVATIONS:
        raise ValueError(
            f"training: {len(racers)} racers x {rows} rows x {sum(model.sizes[1:])} units "
            f"exceed {MAX_STEP_ACTIVATIONS:,} activations per step; set a smaller batch_size"
        )
    race = _Race(data, model, list(racers), config, device or default_device(), dtype)
    return race.run()


class _Race:
    def __init__(self, data, model, racers, config, device, dtype):
        self.model, self.config, self.racers = model, config, racers
        self.as_t = lambda a: torch.as_tensor(np.asarray(a), dtype=dtype, device=device)
        steps, R, P = config.steps, len(racers), model.n_params
        # Racers sorted by optimizer so each group is a contiguous block of rows.
        self.order = sorted(range(R), key=lambda r: racers[r].optimizer)
        ordered = [racers[r] for r in self.order]
        self.groups, start = [], 0
        for name in dict.fromkeys(r.optimizer for r in ordered):
            members = [r for r in ordered if r.optimizer == name]
            rows = slice(start, start + len(members))
            self.groups.append(_Group(rows, members, steps, self.as_t, P))
            start = rows.stop
        arrays = [schedule_arrays(r.lr_schedule, r.optimizer_def, r.h, steps) for r in ordered]
        self.lr = np.stack([a[0] for a in arrays])  # (R, T), plateau columns filled as it runs
        self.momentum = np.stack([a[1] for a in arrays])
        self.plateau = []  # (row, table, state, [lr]) of each ReduceLROnPlateau racer
        for r, racer in enumerate(ordered):
            if racer.lr_schedule.plateau:
                table = plateau_table(racer.lr_schedule.plateau)
                self.plateau.append((r, table, plateau_start(1, table), self.lr[r, :1].copy()))
        self.lr_t = self.as_t(self.lr.T[..., None])  # (T, R, 1)
        rho = np.array([r.sam_rho for r in ordered])
        self.sam_rows = torch.as_tensor(np.flatnonzero(rho > 0), device=device)
        self.sam_rho = self.as_t(rho[rho > 0, None])
        self.start = model.init(config.seed)
        self.theta = self.as_t(np.tile(self.start, (R, 1)))
        self._tensors(data, device)

    def _tensors(self, data, device):
        long = lambda a: torch.as_tensor(a, dtype=torch.int64, device=device)  # noqa: E731
        self.x, self.y = self.as_t(data.x_train), long(data.y_train)
        self.x_val, self.y_val = self.as_t(data.x_val), long(data.y_val)
        c = self.config
        self.batches = minibatches(len(data.y_train), c.batch_size, c.steps, c.seed)
        if self.batches is not None:
            self.batches = [long(b) for b in self.batches]
        self.dropout = torch.Generator().manual_seed(c.seed) if self.model.dropout else None
        start_loss = float(self.model.loss(self.theta[:1], self.x, self.y)[0])
        self.blowup = DIVERGENCE_FACTOR * max(start_loss, math.log(data.n_classes))
        grid = decision_grid(data, c.grid_size) if data.n_features == 2 else None
        self.recorder = Recorder(c, len(self.racers), self.model.n_params, grid)

    def run(self) -> ModelRace:
        c, R = self.config, self.theta.shape[0]
        dev = self.theta.device
        self.running = torch.ones(R, dtype=torch.bool, device=dev)
        self.status = torch.full((R,), MAX_STEPS, dtype=torch.int8, device=dev)
        self.stop = torch.full((R,), c.steps, dtype=torch.int64, device=dev)
        self.best = torch.full((R,), math.inf, dtype=self.theta.dtype, device=dev)
        self.best_step = torch.full((R,), -1, dtype=torch.int64, device=dev)
        self.bad_evals = torch.zeros(R, dtype=torch.int64, device=dev)
        self.losses = torch.empty((c.steps, R), dtype=self.theta.dtype, device=dev)
        self.recorder.record(self, 0)
        for t in range(c.steps):
            self.step(t)
            self.recorder.record(self, t + 1)
        return self.result()

    def step(self, t: int) -> None:
        xb, yb = (self.x, self.y) if self.batches is None else self._batch(t)
        masks = None
        if self.dropout is not None:
            masks = dropout_masks(self.model, len(yb), self.dropout, xb.dtype, xb.device)
        loss, grad, _ = self.model.loss_and_grad(self.theta, xb, yb, masks)
        if len(self.sam_rows):
            grad = sam_gradient(
                self.model, self.theta, grad, self.sam_rows, self.sam_rho, xb, yb, masks
            )
        self.losses[t] = loss
        lr = self._lr(t, loss)
        new = torch.cat([g.step(self.theta, grad, lr, t) for g in self.groups])
        ok = torch.isfinite(loss) & (loss <= self.blowup) & torch.isfinite(new).all(1)
        diverges = self.running & ~ok
        self.status = torch.where(diverges, DIVERGED, self.status)
        self.stop = torch.where(diverges, t + 1, self.stop)
        self.running &= ok
        held = torch.where(self.running[:, None], new, self.theta)
        self.theta = held.masked_fill(diverges[:, None], math.nan)

    def _batch(self, t):
        rows = self.batches[t]
        return self.x.index_select(0, rows), self.y.index_select(0, rows)

    def _lr(self, t: int, loss) -> torch.Tensor:
        """(R, 1) lr of step t; a plateau racer's comes from its state machine, stepped here
        with this step's loss after its lr was read (torch: ``scheduler.step(loss)`` after
        ``optimizer.step()``)."""
        if not self.plateau:
            return self.lr_t[t]
        metrics = loss.double().cpu().numpy()
        for r, table, state, lr in self.plateau:
            self.lr[r, t] = lr[0]
            plateau_steps(metrics[r : r + 1], lr, state, table)
        return self.as_t(self.lr[:, t, None])

    def evaluate(self, s: int):
        """(train loss, train accuracy, val loss, val accuracy) at θ_s; early stopping."""
        train = self.model.evaluate(self.theta, self.x, self.y)
        if not len(self.y_val):
            return (
                *train,
                torch.full_like(train[0], math.nan),
                torch.full_like(train[0], math.nan),
            )
        val_loss, val_acc = self.model.evaluate(self.theta, self.x_val, self.y_val)
        better = val_loss < self.best
        self.best = torch.where(better, val_loss, self.best)
        self.best_step = torch.where(better, s, self.best_step)
        self.bad_evals = torch.where(better, 0, self.bad_evals + 1)
        if self.config.patience is not None:
            halt = self.running & (self.bad_evals >= self.config.patience)
            self.status = torch.where(halt, EARLY_STOPPED, self.status)
            self.stop = torch.where(halt, s, self.stop)
            self.running &= ~halt
        return (*train, val_loss, val_acc)

    def result(self) -> ModelRace:
        back = np.argsort(self.order)  # stacked row -> the caller's racer order
        host = lambda t: t.double().cpu().numpy()  # noqa: E731
        status, stop = self.status.cpu().numpy()[back], self.stop.cpu().numpy()[back]
        rec = self.recorder
        evals = [host(torch.stack(column, 1))[back] for column in zip(*rec.evals, strict=True)]
        arrays = {
            "train_loss": host(self.losses).T[back],
            "lr": self.lr[back],
            "momentum": self.momentum[back],
            "eval_steps": np.array(rec.eval_steps),
            **dict(
                zip(
                    ("eval_train_loss", "eval_train_accuracy", "val_loss", "val_accuracy"),
                    evals,
                    strict=True,
                )
            ),
        }
        blank_after_stop(arrays, status, stop)
        return ModelRace(
            racers=tuple(self.racers),
            model=self.model,
            config=self.config,
            start=self.start,
            final=host(self.theta)[back],
            snapshot_steps=np.array(rec.snapshot_steps),
            weights=host(torch.stack(rec.snapshots, 1))[back],
            frames=rec.frames(back),
            status=status,
            stop_step=stop,
            best_step=self.best_step.cpu().numpy()[back],
            **arrays,
        )
