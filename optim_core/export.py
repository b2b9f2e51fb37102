"""Copy as PyTorch: runs as a self-contained script that uses ``torch.optim`` itself.

:func:`to_pytorch` writes a script that imports only ``torch`` and ``math``, writes each
surface out in torch operations (:data:`TORCH_SURFACES`, tested against the registry's ``f``),
builds each run's ``torch.optim`` optimizer and ``torch.optim.lr_scheduler`` scheduler, and
steps them in float64 with the lab's loop: read the loss, add the gradient noise, step, step
the scheduler (ReduceLROnPlateau with the loss), stop on divergence or convergence as the lab
does. It prints where each run ends.

Gradient noise cannot be reproduced bit for bit: the lab draws it from numpy's
``default_rng(seed)``, the script from ``torch.Generator().manual_seed(seed)``, so noisy runs
match the lab only in distribution. Noise-free runs match it to rounding (autograd of the
formula against the lab's hand-written gradient).

torch.optim has no Lion and no Adam without bias correction (a lab option); the script then
carries a minimal optimizer class of its own.
"""

import json
import math

from landscapes import get_surface

from .engines.prepare import limits
from .optimizers import get_optimizer
from .schedules import SCHEDULES
from .spec import RunSpec, thaw_dict

# Each surface's f in torch operations on tensors x, y (and the surface's parameters by name).
TORCH_SURFACES: dict[str, str] = {
    "rosenbrock": "(1 - x) ** 2 + 100 * (y - x**2) ** 2",
    "rastrigin": "20 + x**2 - 10 * torch.cos(2 * math.pi * x) + y**2"
    " - 10 * torch.cos(2 * math.pi * y)",
    "ackley": "-20 * torch.exp(-0.2 * torch.sqrt(0.5 * (x**2 + y**2)))"
    " - torch.exp(0.5 * (torch.cos(2 * math.pi * x) + torch.cos(2 * math.pi * y))) + math.e + 20",
    "himmelblau": "(x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2",
    "beale": "(1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2",
    "booth": "(x + 2 * y - 7) ** 2 + (2 * x + y - 5) ** 2",
    "goldstein_price": "(1 + (x + y + 1) ** 2"
    " * (19 - 14 * x + 3 * x**2 - 14 * y + 6 * x * y + 3 * y**2))"
    " * (30 + (2 * x - 3 * y) ** 2"
    " * (18 - 32 * x + 12 * x**2 + 48 * y - 36 * x * y + 27 * y**2))",
    "styblinski_tang": "0.5 * (x**4 - 16 * x**2 + 5 * x + y**4 - 16 * y**2 + 5 * y)",
    "six_hump_camel": "(4 - 2.1 * x**2 + x**4 / 3) * x**2 + x * y + (4 * y**2 - 4) * y**2",
    "levy13": "torch.sin(3 * math.pi * x) ** 2"
    " + (x - 1) ** 2 * (1 + torch.sin(3 * math.pi * y) ** 2)"
    " + (y - 1) ** 2 * (1 + torch.sin(2 * math.pi * y) ** 2)",
    "saddle": "x**2 - y**2",
    "monkey_saddle": "x**3 - 3 * x * y**2",
    "bowl": "0.5 * (x**2 + kappa * y**2)",
    "double_well": "3 * x**4 - x**3 - 6 * x**2 + 3 * x + 5 + 10 * y**2",
}

LAB_ONLY_HYPERPARAMETERS = ("bias_correction",)
_SCHED = "torch.optim.lr_scheduler."
_WIDTH = 99

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

def train(label, f, p, optimizer, scheduler, steps, noise, seed, tol, box):
    """The lab's loop; stops like the lab: diverged when the loss is not finite or the iterate
    leaves box = (centre_x, centre_y, half_width), converged when |g| and |step| <= tol."""
    generator = torch.Generator().manual_seed(seed)
    centre, half_width = torch.tensor(box[:2]), box[2]
    status, stop = "max steps", steps
    for t in range(steps):
        optimizer.zero_grad()
        loss = f(p[0], p[1])
        loss.backward()
        if noise:
            p.grad += noise * torch.randn(2, generator=generator)
        grad, before = p.grad.clone(), p.detach().clone()
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
        if grad.abs().max() <= tol and (p.detach() - before).abs().max() <= tol:
            status, stop = "converged", t + 1
            break
    else:
        new_loss = f(p[0], p[1]).item()
    x, y = p.detach().tolist()
    print(f"{label}: {status} after {stop} steps at ({x!r}, {y!r}), loss {new_loss!r}")
    return {"label": label, "status": status, "stop_step": stop, "position": (x, y),
            "loss": new_loss}
'''

_LION = '''

class Lion(torch.optim.Optimizer):
    """Lion, Chen et al. (2023), Algorithm 2 with decoupled weight decay (not in torch.optim)."""

    def __init__(self, params, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0):
        super().__init__(params, {"lr": lr, "betas": betas, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                m = self.state[p].setdefault("exp_avg", torch.zeros_like(p))
                p.mul_(1 - group["lr"] * group["weight_decay"])
                p.add_(torch.sign(m.lerp(p.grad, 1 - beta1)), alpha=-group["lr"])
                m.lerp_(p.grad, 1 - beta2)
'''

_RAW_ADAM = '''

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

    Raises ValueError for a surface without a torch formula in :data:`TORCH_SURFACES`.
    Noise-free runs reproduce the Numba engine's to rounding; noisy ones use torch's random
    generator and so match only in distribution.
    """
    if not specs:
        raise ValueError("to_pytorch: no runs to export")
    surfaces = dict.fromkeys(s.surface for s in specs)
    missing = [name for name in surfaces if name not in TORCH_SURFACES]
    if missing:
        raise ValueError(
            f"to_pytorch: no torch formula for surface {missing[0]!r}; "
            f"expected one of {', '.join(TORCH_SURFACES)}"
        )
    body = "".join(surface_source(name) for name in surfaces)
    if any(s.optimizer == "Lion" for s in specs):
        body += _LION
    if any(_without_bias_correction(s) for s in specs):
        body += _RAW_ADAM
    body += _TRAIN + "\n\ndef main():\n    results = []\n"
    body += "\n".join(_run_source(i, spec) for i, spec in enumerate(specs, 1))
    body += '    return results\n\n\nif __name__ == "__main__":\n    main()\n'
    runs = "One run" if len(specs) == 1 else f"{len(specs)} runs"
    return _HEADER.format(runs=runs) + body


def surface_source(name: str) -> str:
    """``def <name>(x, y, <params>): return <torch expression>`` for one surface."""
    params = "".join(f", {p.name}" for p in get_surface(name).params)
    return f"\n\ndef {name}(x, y{params}):\n    return {TORCH_SURFACES[name]}\n"


def _run_source(index: int, spec: RunSpec) -> str:
    opt = get_optimizer(spec.optimizer)
    h = spec.h
    kwargs = {"lr": h["lr"]}
    kwargs |= {k: v for k, v in h.items() if v != opt.defaults[k] and k != "lr"}
    for name in LAB_ONLY_HYPERPARAMETERS:
        kwargs.pop(name, None)
    if _without_bias_correction(spec):
        cls = "AdamWithoutBiasCorrection"
        if spec.optimizer == "AdamW":
            kwargs["decoupled_weight_decay"] = True
            kwargs.setdefault("weight_decay", h["weight_decay"])
    else:
        cls = f"torch.optim.{opt.torch_class}" if opt.torch_class else opt.name
    _, bound, cx, cy = (float(v) for v in limits(spec, get_surface(spec.surface)))
    loop = {
        "steps": spec.steps,
        "noise": spec.noise,
        "seed": spec.seed,
        "tol": spec.tol,
        "box": (cx, cy, bound),
    }
    f = spec.surface
    if spec.surface_params:
        args = ", ".join(["x", "y", *_keywords(dict(spec.surface_params))])
        f = f"lambda x, y: {f}({args})"
    train = f"train({_string(spec.label)}, {f}, p, optimizer, scheduler, **loop)"
    lines = [
        f"    # {index}. {' '.join(spec.label.split()) or 'run'}: {spec.optimizer},"
        f" schedule {spec.schedule}",
        f"    p = torch.tensor({_literal(list(spec.start))}, requires_grad=True)",
        f"    optimizer = {_call(cls, ['[p]', *_keywords(kwargs)], 4)}",
        f"    scheduler = {_scheduler(spec.schedule, thaw_dict(spec.schedule_params), 4)}",
        f"    loop = {_literal(loop, 4)}",
        f"    results.append({train})"
        if len(train) <= _WIDTH - 20
        else f"    results.append(\n        {train}\n    )",
    ]
    return "\n".join(lines) + "\n"


def _without_bias_correction(spec: RunSpec) -> bool:
    return spec.h.get("bias_correction", True) is False


def _scheduler(name: str, params: dict, indent: int, child: bool = False) -> str:
    if name == "none":
        # A SequentialLR child "none" keeps the base lr: a LambdaLR with factor 1.
        return f"{_SCHED}LambdaLR(optimizer, lambda t: 1.0)" if child else "None"
    if name == "InverseTimeLR":
        k = "t // {}" if params["staircase"] else "t / {}"
        rate, steps = params["decay_rate"], params["decay_steps"]
        return f"{_SCHED}LambdaLR(optimizer, lambda t: 1 / (1 + {rate!r} * ({k.format(steps)})))"
    if name == "SequentialLR":
        children = [
            _scheduler(c["name"], {k: v for k, v in c.items() if k != "name"}, indent + 8, True)
            for c in params["schedulers"]
        ]
        inner = _list(children, indent + 4)
        milestones = _literal(list(params["milestones"]))
        args = ["optimizer", f"schedulers={inner}", f"milestones={milestones}"]
        return _call(f"{_SCHED}SequentialLR", args, indent)
    table = {p.name: p.default for p in SCHEDULES[name].params}
    shown = {k: v for k, v in params.items() if table[k] is None or v != table[k]}
    return _call(f"{_SCHED}{name}", ["optimizer", *_keywords(shown)], indent)


def _keywords(values: dict) -> list[str]:
    return [f"{k}={_literal(v)}" for k, v in values.items()]


def _string(text: str) -> str:
    """A double-quoted Python literal: JSON's escapes are all valid Python escapes."""
    return json.dumps(text, ensure_ascii=False)


def _literal(value, indent: int | None = None) -> str:
    """Python source for a value (tuples stay tuples, floats round-trip); a dict wider than
    the page at ``indent`` gets one entry per line."""
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, float) and math.isinf(value):
        return "math.inf" if value > 0 else "-math.inf"
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    if isinstance(value, tuple):
        return "(" + ", ".join(_literal(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, dict):
        items = [f"{_string(k)}: {_literal(v)}" for k, v in value.items()]
        one_line = "{" + ", ".join(items) + "}"
        if indent is None or indent + 7 + len(one_line) <= _WIDTH:
            return one_line
        return "{\n" + "".join(f"{' ' * (indent + 4)}{i},\n" for i in items) + " " * indent + "}"
    return repr(value)


def _call(func: str, args: list[str], indent: int) -> str:
    """``func(a, b)`` on one line if it fits, else one argument per line (black's layout)."""
    one_line = f"{func}({', '.join(args)})"
    if indent + len(one_line) <= _WIDTH and "\n" not in one_line:
        return one_line
    pad = " " * (indent + 4)
    return f"{func}(\n" + "".join(f"{pad}{a},\n" for a in args) + " " * indent + ")"


def _list(items: list[str], indent: int) -> str:
    pad = " " * (indent + 4)
    return "[\n" + "".join(f"{pad}{item},\n" for item in items) + " " * indent + "]"
