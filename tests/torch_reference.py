"""Reference runs through the real torch.optim / torch.optim.lr_scheduler, step by step.

This is what the engines are checked against: a plain training loop as a torch user writes it,
with the lr read from the param group *before* ``optimizer.step()``.
"""

import numpy as np
import torch

from landscapes import get_surface
from optim_core.engines.prepare import gradient_noise
from optim_core.optimizers import get_optimizer
from optim_core.spec import RunSpec, thaw_dict

LAB_ONLY = {"bias_correction"}  # our extension; parity runs keep its default


def torch_kwargs(spec: RunSpec) -> dict:
    h = spec.h
    for name in LAB_ONLY & set(h):
        assert h.pop(name) is True
    return h


def torch_scheduler(optimizer, spec: RunSpec):
    params = thaw_dict(spec.schedule_params)
    name = spec.schedule
    if name == "none":
        return None
    if name == "InverseTimeLR":
        rate, every, stair = params["decay_rate"], params["decay_steps"], params["staircase"]
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda t: 1 / (1 + rate * ((t // every) if stair else t / every))
        )
    if name == "SequentialLR":
        children = [
            _plain(optimizer, c["name"], {k: v for k, v in c.items() if k != "name"})
            for c in params["schedulers"]
        ]
        return torch.optim.lr_scheduler.SequentialLR(optimizer, children, params["milestones"])
    return _plain(optimizer, name, params)


def _plain(optimizer, name, params):
    return getattr(torch.optim.lr_scheduler, name)(optimizer, **params)


def torch_run(spec: RunSpec):
    """(positions (steps+1, 2), lr (steps,)) of the torch loop; stops at the first non-finite."""
    surface = get_surface(spec.surface)
    a = tuple(v for _, v in spec.surface_params)
    opt_def = get_optimizer(spec.optimizer)
    p = torch.tensor(spec.start, dtype=torch.float64, requires_grad=True)
    optimizer = getattr(torch.optim, opt_def.torch_class)([p], **torch_kwargs(spec))
    scheduler = torch_scheduler(optimizer, spec)
    noise = torch.from_numpy(gradient_noise(spec))
    positions = np.full((spec.steps + 1, 2), np.nan)
    positions[0] = spec.start
    lrs = np.full(spec.steps, np.nan)
    for t in range(spec.steps):
        optimizer.zero_grad()
        loss = surface.f(p[0], p[1], a)
        loss.backward()
        p.grad += noise[t]
        lrs[t] = optimizer.param_groups[0]["lr"]
        optimizer.step()
        if scheduler is not None:
            if spec.schedule == "ReduceLROnPlateau":
                scheduler.step(loss.item())
            else:
                scheduler.step()
        positions[t + 1] = p.detach().numpy()
        if not np.all(np.isfinite(positions[t + 1])):
            break
    return positions, lrs


def lion_reference(spec: RunSpec) -> np.ndarray:
    """Lion as written in the paper's Algorithm 2, in plain numpy (torch.optim has no Lion)."""
    surface = get_surface(spec.surface)
    a = tuple(v for _, v in spec.surface_params)
    h = spec.h
    beta1, beta2 = h["betas"]
    theta = np.array(spec.start, dtype=np.float64)
    m = np.zeros(2)
    out = [theta.copy()]
    noise = gradient_noise(spec)
    for t in range(spec.steps):
        g = np.array(surface.grad(theta[0], theta[1], a)) + noise[t]
        c = beta1 * m + (1 - beta1) * g
        theta = theta - h["lr"] * (np.sign(c) + h["weight_decay"] * theta)
        m = beta2 * m + (1 - beta2) * g
        out.append(theta.copy())
    return np.array(out)
