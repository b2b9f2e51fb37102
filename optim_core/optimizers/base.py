"""The shape every optimizer shares, and the math they share.

An optimizer is three pure functions, mirroring how ``torch.optim`` splits its own work:

* ``init(h) -> s``: the per-coordinate state (a tuple of ``N_STATE`` numbers) before step 1.
* ``scalars(t, momentum, h) -> c``: everything that depends only on the step ``t`` (1-based,
  torch's ``state['step']``), the momentum (or beta1) of that step and the hyperparameters ``h``
  (bias corrections, decay factors, flags as 0/1). Evaluated for all steps at once on numpy
  arrays or torch tensors, before the loop, so ``beta ** t`` is never paid inside it.
* ``update(p, g, s, lr, c) -> (p, s)``: one coordinate (or a tensor of them) takes one step.
  Only arithmetic and ``common.xmath`` calls, so the same function is inlined into the Numba
  kernel and broadcast over torch tensors by the torch engine.

Notation in the docstrings: :math:`\\theta` parameter, :math:`g` gradient, :math:`\\eta` lr,
:math:`t` step, :math:`\\lambda` weight decay, :math:`m, v` first and second moments.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import torch
from numba import types
from numba.extending import intrinsic, overload, register_jitable

from common.params import Param

N_STATE = 3


@dataclass(frozen=True)
class OptimizerDef:
    name: str  # torch.optim class name, the registry key
    params: tuple[Param, ...]  # torch names and defaults, lr first
    scalars: Callable
    update: Callable
    init: Callable
    momentum: str | None  # the hyperparameter a momentum schedule drives: "momentum" or "betas"
    state_names: tuple[str, ...]  # torch's names for the state slots in use
    latex: str
    reference: str  # the paper
    torch_class: str | None  # None when torch.optim has no such optimizer
    # For "Copy as PyTorch" when torch_class is None: a torch.optim.Optimizer subclass named
    # like the optimizer, as source text.
    script_class: str = ""
    check: Callable | None = None  # cross-parameter checks: h -> h (raises ValueError)

    @property
    def defaults(self) -> dict:
        return {p.name: p.default for p in self.params}


def zero_state(h):
    return (0.0,) * N_STATE


def momentum_value(opt: OptimizerDef, h: dict) -> float | None:
    """The constant momentum / beta1 of ``h``, the value a momentum schedule replaces."""
    if opt.momentum == "betas":
        return h["betas"][0]
    if opt.momentum == "momentum":
        return h["momentum"]
    return None


def fma(a, b, c):
    """``a * b + c`` rounded once, as torch's CPU kernels compute ``addcmul`` / ``add(alpha=)`` /
    ``lerp`` (fused multiply-add). Where a difference of nearly equal numbers follows (the
    centered RMSprop variance), one rounding more or less is the whole result, so rules that
    must follow torch step for step use this."""
    if any(isinstance(v, torch.Tensor) for v in (a, b, c)):
        ref = next(v for v in (a, b, c) if isinstance(v, torch.Tensor))
        a, b, c = (torch.as_tensor(v, dtype=ref.dtype, device=ref.device) for v in (a, b, c))
        return torch.addcmul(c, a, b)
    return _fma_exact(a, b, c)


@np.vectorize(otypes=[np.float64])
def _fma_exact(a, b, c):
    # Python before 3.13 and numpy have no fma: rationals are exact, then one rounding.
    if not (math.isfinite(a) and math.isfinite(b) and math.isfinite(c)):
        return a * b + c
    return float(Fraction(a) * Fraction(b) + Fraction(c))


@intrinsic
def _llvm_fma(typingctx, a, b, c):
    def codegen(context, builder, signature, args):
        return builder.fma(*args)

    return types.float64(types.float64, types.float64, types.float64), codegen


@overload(fma, inline="always")
def _fma_scalar(a, b, c):
    if all(isinstance(v, types.Float | types.Integer) for v in (a, b, c)):
        return lambda a, b, c: _llvm_fma(float(a), float(b), float(c))


@register_jitable(inline="always")
def lerp(avg, x, weight):
    """``avg + weight * (x - avg)``: torch's ``exp_avg.lerp_(grad, 1 - beta1)``."""
    return avg + weight * (x - avg)


@register_jitable(inline="always")
def ema_sq(avg, g, beta):
    """``beta * avg + (1 - beta) * g²``, as torch's ``mul_(beta).addcmul_(g, g, 1 - beta)``."""
    return beta * avg + (1 - beta) * g * g


@register_jitable(inline="always")
def select(flag, a, b):
    """``a`` if ``flag`` is 1 else ``b``, branch-free for 0/1 flags (exact for finite values)."""
    return flag * a + (1 - flag) * b


@register_jitable(inline="always")
def decay_and_moments(p, g, s, lr, beta1, beta2, l2, decoupled):
    """Weight decay (L2 into g, or decoupled into θ) then Adam's two moments: (θ, g, m, v)."""
    g = g + l2 * p
    p = p * (1 - lr * decoupled)
    return p, g, lerp(s[0], g, 1 - beta1), ema_sq(s[1], g, beta2)


def split_weight_decay(h):
    """(L2 coefficient added to the gradient, decoupled coefficient multiplied into lr·θ).

    torch's ``decoupled_weight_decay`` flag (AdamW, and an option of Adam/NAdam/RAdam) is one
    of the two; the other is zero, so one update rule serves both.
    """
    wd = h["weight_decay"]
    decoupled = float(h.get("decoupled_weight_decay", False))
    return wd * (1 - decoupled), wd * decoupled
