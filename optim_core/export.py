"""Copy as PyTorch: runs as a self-contained script that uses ``torch.optim`` itself.

:func:`to_pytorch` writes a script that imports only ``torch`` and ``math``, writes the
surface out in torch operations (each surface entry's ``torch`` source, a built-in's or one
generated from a user's formula, tested against the entry's ``f``),
builds each run's ``torch.optim`` optimizer and ``torch.optim.lr_scheduler`` scheduler, and
steps them in float64 with the lab's loop: read the loss, add the gradient noise, step, step
the scheduler (ReduceLROnPlateau with the loss), stop on divergence or convergence as the lab
does. It prints where each run ends. A SAM run (``sam_rho > 0``) takes the paper's two
gradients before each step: the second at θ + ρ g / ‖g‖, with the same noise added.

Gradient noise cannot be reproduced bit for bit: the lab draws it from numpy's
``default_rng(seed)``, the script from ``torch.Generator().manual_seed(seed)``, so noisy runs
match the lab only in distribution. Noise-free runs match it to rounding (autograd of the
formula against the lab's hand-written gradient).

torch.optim has no Lion and no Adam without bias correction (a lab option); the script then
carries a minimal optimizer class of its own.
"""

from landscapes import Surface

from ._torch_text import WIDTH, call, keywords, literal, string
from .engines.prepare import limits
from .spec import RunSpec, thaw_dict

LAB_ONLY_HYPERPARAMETERS = ("bias_correction",)

_HEADER = '''"""{runs} from optim-lab, reproduced with torch.optim ("Copy as PyTorch").

Float64 throughout, like the lab. Noise-free runs reproduce the lab's to rounding. Gradient
noise comes from torch.Generator().manual_seed(seed) instead of the lab's numpy generator, so
noisy runs match the lab only in distribution, not step for step.
"""

import math

import torch

torch.set_default_dtype(torch.float64)  # as the lab; NAdam keeps its mu product in this dtype
'''

_TRAIN = '''

def sam_gradient(f, p, rho, drawn):
    """Replace p.grad (taken at p) by the gradient at p + rho g / |g|, plus the same noise
    (sharpness-aware minimisation, Foret et al. 2021, Algorithm 1)."""
    norm = torch.linalg.vector_norm(p.grad)
    scale = rho / norm if norm > 0 else 0.0
    before = p.detach().clone()
    with torch.no_grad():
        p.add_(p.grad * scale)
    p.grad = None
    f(p[0], p[1]).backward()
    with torch.no_grad():
        p.copy_(before)
        p.grad += drawn


def train(label, f, p, optimizer, scheduler, steps, noise, seed, tol, box, sam_rho=0.0):
    """The lab's loop; stops like the lab: diverged when the loss is not finite or the iterate
    leaves box = (centre_x, centre_y, half_width), converged when |g| and |step| <= tol > 0
    (g the gradient at p, also with SAM: sam_rho > 0)."""
    generator = torch.Generator().manual_seed(seed)
    centre, half_width = torch.tensor(box[:2]), box[2]
    status, stop = "max steps", steps
    for t in range(steps):
        optimizer.zero_grad()
        loss = f(p[0], p[1])
        loss.backward()
        drawn = noise * torch.randn(2, generator=generator) if noise else 0.0
        p.grad += drawn
        grad, before = p.grad.clone(), p.detach().clone()
        if sam_rho:
            sam_gradient(f, p, sam_rho, drawn)
        optimizer.step()
        new_loss = f(p[0], p[1]).item()
        if not (math.isfinite(new_loss) and (p.detach() - centre).abs().max() <= half_width):
            status, stop = "diverged", t + 1
            p, new_loss = before, loss.item()  # the lab reports the last finite iterate
            break
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            scheduler.step(loss.item())
        elif scheduler is not None and t < steps - 1:  # no lr is needed after the last step
            scheduler.step()
        if tol > 0 and grad.abs().max() <= tol and (p.detach() - before).abs().max() <= tol:
            status, stop = "converged", t + 1
            break
    else:
        new_loss = f(p[0], p[1]).item()
    x, y = p.detach().tolist()
    print(f"{label}: {status} after {stop} steps at ({x!r}, {y!r}), loss {new_loss!r}")
    return {"label": label, "status": status, "stop_step": stop, "position": (x, y),
            "loss": new_loss}
'''

RAW_ADAM = '''

class AdamWithoutBiasCorrection(torch.optim.Optimizer):
    """torch.optim.Adam / AdamW minus the division by 1 - beta**t: an optim-lab option
    (bias_correction=False) that torch does not offer."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False, decoupled_weight_decay=False):
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                    "amsgrad": amsgrad, "decoupled_weight_decay": decoupled_weight_decay}
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            lr, wd = group["lr"], group["weight_decay"]
            for p in group["params"]:
                state = self.state[p]
                if not state:
                    for name in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
                        state[name] = torch.zeros_like(p)
                grad = p.grad
                if group["decoupled_weight_decay"]:
                    p.mul_(1 - lr * wd)
                else:
                    grad = grad.add(p, alpha=wd)
                state["exp_avg"].lerp_(grad, 1 - beta1)
                state["exp_avg_sq"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                v = state["exp_avg_sq"]
                if group["amsgrad"]:
                    v = torch.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
                p.addcdiv_(state["exp_avg"], v.sqrt().add_(group["eps"]), value=-lr)
'''


def to_pytorch(specs: list[RunSpec]) -> str:
    """A runnable Python script reproducing ``specs`` with torch.optim (see the module doc).

    Noise-free runs reproduce the Numba engine's to rounding; noisy ones use torch's random
    generator and so match only in distribution.
    """
    if not specs:
        raise ValueError("to_pytorch: no runs to export")
    surfaces = {s.surface_def.name: s.surface_def for s in specs}
    body = "".join(surface_source(surface) for surface in surfaces.values())
    body += "".join(opt.script_class for opt in dict.fromkeys(s.optimizer_def for s in specs))
    if any(without_bias_correction(s) for s in specs):
        body += RAW_ADAM
    body += _TRAIN + "\n\ndef main():\n    results = []\n"
    body += "\n".join(_run_source(i, spec) for i, spec in enumerate(specs, 1))
    body += '    return results\n\n\nif __name__ == "__main__":\n    main()\n'
    runs = "One run" if len(specs) == 1 else f"{len(specs)} runs"
    return _HEADER.format(runs=runs) + body


def surface_source(surface: Surface) -> str:
    """``def <name>(x, y, <params>): return <torch expression>`` for one surface."""
    params = "".join(f", {p.name}" for p in surface.params)
    return f"\n\ndef {surface.name}(x, y{params}):\n    return {surface.torch}\n"


def optimizer_call(run, parameters: str, indent: int) -> str:
    """``torch.optim.X(parameters, ...)`` for ``run`` (a RunSpec or a model racer: anything
    with ``optimizer_def`` and ``h``), torch's defaults left out; the script's own class
    where torch has none or the lab's option has no torch form (``bias_correction``)."""
    opt, h = run.optimizer_def, run.h
    kwargs = {"lr": h["lr"]}
    kwargs |= {k: v for k, v in h.items() if v != opt.defaults[k] and k != "lr"}
    for name in LAB_ONLY_HYPERPARAMETERS:
        kwargs.pop(name, None)
    if without_bias_correction(run):
        cls = "AdamWithoutBiasCorrection"
        if opt.name == "AdamW":
            kwargs["decoupled_weight_decay"] = True
            kwargs.setdefault("weight_decay", h["weight_decay"])
    else:
        cls = f"torch.optim.{opt.torch_class}" if opt.torch_class else opt.name
    return call(cls, [parameters, *keywords(kwargs)], indent)


def _run_source(index: int, spec: RunSpec) -> str:
    tol, bound, cx, cy = (float(v) for v in limits(spec, spec.surface_def))
    loop = {
        "steps": spec.steps,
        "noise": spec.noise,
        "seed": spec.seed,
        "tol": tol,
        "box": (cx, cy, bound),
    }
    if spec.sam_rho:
        loop["sam_rho"] = spec.sam_rho
    f = spec.surface_def.name
    if spec.surface_params:
        args = ", ".join(["x", "y", *keywords(dict(spec.surface_params))])
        f = f"lambda x, y: {f}({args})"
    train = f"train({string(spec.label)}, {f}, p, optimizer, scheduler, **loop)"
    scheduler = spec.lr_schedule.definition.torch_source(thaw_dict(spec.schedule_params), 4)
    what = f"SAM (rho {spec.sam_rho!r}) around {spec.optimizer}" if spec.sam_rho else spec.optimizer
    lines = [
        f"    # {index}. {' '.join(spec.label.split()) or 'run'}: {what}, schedule {spec.schedule}",
        f"    p = torch.tensor({literal(list(spec.start))}, requires_grad=True)",
        f"    optimizer = {optimizer_call(spec, '[p]', 4)}",
        f"    scheduler = {scheduler}",
        f"    loop = {literal(loop, 4)}",
        f"    results.append({train})"
        if len(train) <= WIDTH - 20
        else f"    results.append(\n        {train}\n    )",
    ]
    return "\n".join(lines) + "\n"


def without_bias_correction(spec: RunSpec) -> bool:
    return spec.h.get("bias_correction", True) is False
