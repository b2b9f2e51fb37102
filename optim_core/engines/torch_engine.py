"""The torch engine: the Numba engine's API on tensors, on ``cuda`` when present, else CPU.

It runs the very same ``update`` rules and surface functions (written with ``common.xmath``)
on tensors of shape (runs, 2), one Python iteration per step for all runs at once, so its
cost per step is a few dozen kernel launches however many runs there are: the GPU's form of
the batch kernel. Stop semantics (divergence, convergence, NaN after a divergence) are the
Numba engine's: the same rules of ``optim_core.trajectory`` applied to tensors, with the stop
tolerance of the engine's dtype. ReduceLROnPlateau runs the kernels' state machine on the
losses (one host round trip per step), and tests hold the two engines to each other. SAM
(``RunSpec.sam_rho``) takes the kernels' ascent point and a second gradient, for every run of
a batch where any has a radius (a radius of 0 steps as without SAM).
"""

from collections.abc import Sequence

import numpy as np
import torch

from ..spec import RunSpec
from ..trajectory import CONVERGED, DIVERGED, MAX_STEPS, BatchResult, Trajectory, inside, still
from ._kernels import ascent_point, plateau_start, plateau_steps
from .prepare import Prepared, limits, momentum_used, prepare


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def describe(device: str | None = None) -> str:
    device = device or default_device()
    if device.startswith("cuda"):
        return f"torch-cuda ({torch.cuda.get_device_name(device)})"
    return "torch-cpu"


class _Batch:
    """Runs that share surface, optimizer and step count, as tensors on one device."""

    def __init__(self, preps: Sequence[Prepared], starts, device, dtype, spec: RunSpec):
        p0 = preps[0]
        self.f, self.grad, self.update = p0.surface.f, p0.surface.grad, p0.optimizer.update
        self.device, self.dtype = device, dtype
        as_t = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=dtype, device=device)  # noqa: E731
        self.a = tuple(float(v) for v in p0.a)
        self.x = as_t(starts)  # (runs, 2)
        self.s = tuple(torch.full_like(self.x, float(v)) for v in p0.s0)
        shared = len(preps) == 1
        self.C = as_t(p0.C if shared else np.stack([p.C for p in preps]))  # (K, T) or (R, K, T)
        self.lr = as_t(p0.lr if shared else np.stack([p.lr for p in preps]))
        self.noise = as_t(p0.noise if shared else np.stack([p.noise for p in preps]))
        self.rho = p0.sam_rho if shared else as_t([p.sam_rho for p in preps])
        self.sam = any(p.sam_rho > 0.0 for p in preps)
        self.shared = shared
        self.tol, self.bound, self.cx, self.cy = map(float, limits(spec, p0.surface, dtype))
        self.plateau = p0.plateau
        if self.plateau.size:
            first_lr = np.array([p.lr[0] for p in preps], dtype=np.float64)
            self.plateau_lr = np.broadcast_to(first_lr, (len(starts),)).copy()
            self.plateau_state = plateau_start(len(self.plateau_lr), self.plateau)

    def step_inputs(self, t: int):
        if self.shared:
            c = tuple(float(v) for v in self.C[:, t].tolist())
            return c, float(self.lr[t]), self.noise[t]
        c = tuple(self.C[:, k, t, None] for k in range(self.C.shape[1]))
        return c, self.lr[:, t, None], self.noise[:, t]

    def gradient(self, x):
        gx, gy = (
            torch.as_tensor(g, dtype=x.dtype, device=x.device)
            for g in self.grad(x[:, 0], x[:, 1], self.a)
        )
        return torch.stack(torch.broadcast_tensors(gx, gy, x[:, 0]), dim=1)[:, :2]

    def loss(self, x):
        return self.f(x[:, 0], x[:, 1], self.a) + 0 * x[:, 0]

    def advance(self, t: int):
        """One step for every run; returns (new x, g, the gradient the update took, lr used):
        g = ∇f + noise at x, and the update's gradient the same at SAM's ascent point."""
        c, lr, noise = self.step_inputs(t)
        if self.plateau.size:
            lr = torch.tensor(self.plateau_lr[:, None], dtype=self.dtype, device=self.device)
        g = self.gradient(self.x) + noise
        used = g
        if self.sam:
            point = ascent_point(self.x[:, 0], self.x[:, 1], g[:, 0], g[:, 1], self.rho)
            used = self.gradient(torch.stack(point, dim=1)) + noise
        new_x, self.s = self.update(self.x, used, self.s, lr, c)
        return new_x, g, used, lr

    def reduce_on_plateau(self) -> None:
        """The plateau scheduler stepped on each run's loss before this step's move."""
        metrics = self.loss(self.x).double().cpu().numpy()
        plateau_steps(metrics, self.plateau_lr, self.plateau_state, self.plateau)

    def inside(self, x):
        return inside(x[:, 0], x[:, 1], self.loss(x), self.bound, self.cx, self.cy)

    def still(self, g, new_x):
        d = new_x - self.x
        return still(g[:, 0], g[:, 1], d[:, 0], d[:, 1], self.tol)


def _run_batch(batch: _Batch, steps: int, record: bool):
    runs = batch.x.shape[0]
    dev = batch.device
    alive = torch.ones(runs, dtype=torch.bool, device=dev)
    status = torch.full((runs,), MAX_STEPS, dtype=torch.int8, device=dev)
    stop = torch.full((runs,), steps, dtype=torch.int64, device=dev)
    if record:
        pos = torch.full((runs, steps + 1, 2), float("nan"), dtype=batch.dtype, device=dev)
        lr_used = torch.full((runs, steps), float("nan"), dtype=batch.dtype, device=dev)
        eff = torch.full((runs, steps, 2), float("nan"), dtype=batch.dtype, device=dev)
        pos[:, 0] = batch.x
    start_bad = ~batch.inside(batch.x)
    status = torch.where(start_bad, DIVERGED, status)
    stop = torch.where(start_bad, 0, stop)
    alive &= ~start_bad
    for t in range(steps):
        new_x, g, used, step_lr = batch.advance(t)
        bad = ~batch.inside(new_x)
        still = batch.still(g, new_x) & ~bad
        ends = alive & (bad | still)
        stop = torch.where(ends, t + 1, stop)
        status = torch.where(ends & bad, DIVERGED, torch.where(ends, CONVERGED, status))
        moving = alive & ~bad
        if record:
            pos[:, t + 1] = torch.where(moving[:, None], new_x, pos[:, t])
            lr_used[:, t] = torch.where(
                alive, torch.as_tensor(step_lr, device=dev).flatten(), lr_used[:, t]
            )
            eff[:, t] = torch.where(alive[:, None], -(new_x - batch.x) / used, eff[:, t])
        if batch.plateau.size:
            batch.reduce_on_plateau()
        batch.x = torch.where(moving[:, None], new_x, batch.x)
        alive = moving & ~still
    result = {"x": batch.x, "status": status, "stop": stop}
    if record:
        result.update(pos=pos, lr=lr_used, eff=eff)
    return result


def _trajectories(specs, preps, out):
    trajs = []
    for r, (spec, p) in enumerate(zip(specs, preps, strict=True)):
        status, stop = int(out["status"][r]), int(out["stop"][r])
        pos = out["pos"][r].cpu().numpy().astype(np.float64)
        lr = out["lr"][r].cpu().numpy().astype(np.float64)
        eff = out["eff"][r].cpu().numpy().astype(np.float64)
        if status == DIVERGED:  # a start out of bounds stays in pos[0], as in numba_engine
            pos[max(stop, 1) :], lr[stop:], eff[stop:] = np.nan, np.nan, np.nan
        elif status == CONVERGED:
            pos[stop + 1 :] = pos[stop]
            lr[stop:], eff[stop:] = np.nan, np.nan
        eff[~np.isfinite(eff)] = np.nan
        loss = (
            np.asarray(p.surface.f(pos[:, 0], pos[:, 1], tuple(p.a)), dtype=np.float64)
            + 0 * pos[:, 0]
        )
        momentum = momentum_used(p.momentum, status, stop)
        trajs.append(Trajectory(pos, loss, lr, momentum, eff, status, stop, spec))
    return trajs


def run(spec: RunSpec, device: str | None = None, dtype=torch.float64) -> Trajectory:
    return run_many([spec], device, dtype)[0]


def run_many(specs: Sequence[RunSpec], device: str | None = None, dtype=torch.float64):
    """Full trajectories of runs that share surface, optimizer and steps (see numba_engine)."""
    if not specs:
        return []
    device = device or default_device()
    preps = [prepare(s) for s in specs]
    if len({p.plateau.tobytes() for p in preps}) > 1:
        return [run(s, device, dtype) for s in specs]
    starts = np.stack([p.start for p in preps])
    batch = _Batch(preps if len(preps) > 1 else preps[:1], starts, device, dtype, specs[0])
    with torch.no_grad():
        out = _run_batch(batch, specs[0].steps, record=True)
    return _trajectories(specs, preps, out)


def run_starts(
    spec: RunSpec, starts, device: str | None = None, dtype=torch.float64
) -> BatchResult:
    """One setting from many starts, final points only (see numba_engine.run_starts)."""
    device = device or default_device()
    p = prepare(spec)
    starts = np.asarray(starts, dtype=np.float64)
    batch = _Batch([p], starts, device, dtype, spec)
    with torch.no_grad():
        out = _run_batch(batch, spec.steps, record=False)
    return _final_points(p, out)


def run_settings(specs: Sequence[RunSpec], device: str | None = None, dtype=torch.float64):
    """Final points of runs with their own settings (see numba_engine.run_settings)."""
    device = device or default_device()
    preps = [prepare(s) for s in specs]
    if len({p.plateau.tobytes() for p in preps}) > 1:
        trajs = [run(s, device, dtype) for s in specs]
        return BatchResult(
            np.stack([t.final_position for t in trajs]),
            np.array([t.final_loss for t in trajs]),
            np.array([t.status for t in trajs], dtype=np.int8),
            np.array([t.stop_step for t in trajs], dtype=np.int64),
        )
    starts = np.stack([p.start for p in preps])
    batch = _Batch(preps if len(preps) > 1 else preps[:1], starts, device, dtype, specs[0])
    if len(preps) > 1:
        batch.s = tuple(
            torch.as_tensor(
                np.stack([p.s0 for p in preps])[:, k, None], dtype=dtype, device=device
            ).expand(-1, 2)
            for k in range(len(preps[0].s0))
        )
    with torch.no_grad():
        out = _run_batch(batch, specs[0].steps, record=False)
    return _final_points(preps[0], out)


def _final_points(p: Prepared, out) -> BatchResult:
    final = out["x"].double().cpu().numpy()
    final_loss = np.asarray(p.surface.f(final[:, 0], final[:, 1], tuple(p.a)), dtype=np.float64)
    return BatchResult(
        final, final_loss + 0 * final[:, 0], out["status"].cpu().numpy(), out["stop"].cpu().numpy()
    )
