r"""Sharpness of a model's training loss at given weights: the top eigenvalue of its Hessian.

The Hessian (P × P) is never formed: power iteration needs only Hessian-vector products,
each one more backward pass through the gradient's graph (Pearlmutter's trick, here
``torch.autograd.grad`` of :math:`\nabla L \cdot v`). Several weight sets are done together:
the summed loss of a stack (R, P) has a block-diagonal Hessian, so one product serves all.

Power iteration finds the eigenvalue of largest *magnitude*. Near a minimum that is the top
one; where it is negative (a saddle or a maximum along some direction), a second run on
:math:`H - \lambda I` finds how far above :math:`\lambda` the top eigenvalue lies. Each run
stops when every row's Rayleigh quotient changed by at most ``tol`` (relative) in one
iteration, or after ``iters``; its error then shrinks like :math:`(\lambda_2/\lambda_1)^{2k}`.
The Rayleigh quotient never exceeds the top eigenvalue, so an unconverged estimate is low.
Two eigenvalues of equal size and opposite sign never separate: the estimate then stays
between them. The loss is the full training set's, without dropout (the trained network as
it is evaluated), in float64.
"""

import numpy as np
import torch

from .data import Dataset
from .mlp import MLP

POWER_ITERS = 200  # at most this many Hessian-vector products per run
POWER_TOL = 1e-9  # relative change of the Rayleigh quotient that counts as converged


def top_hessian_eigenvalue(
    model: MLP, data: Dataset, theta, iters: int = POWER_ITERS, tol: float = POWER_TOL, seed=0
):
    """Top eigenvalue of the Hessian of the mean training cross-entropy at ``theta``: a float
    for (P,) weights, an (R,) array for a stack (R, P); NaN for non-finite weights (a diverged
    racer). ``seed`` draws the starting vectors."""
    theta = np.asarray(theta, dtype=np.float64)
    stack = theta.reshape(-1, model.n_params)
    top = np.full(len(stack), np.nan)
    finite = np.isfinite(stack).all(1)
    if finite.any():
        weights = torch.tensor(stack[finite], requires_grad=True)
        x, y = torch.as_tensor(data.x_train), torch.as_tensor(data.y_train)
        (grad,) = torch.autograd.grad(model.loss(weights, x, y).sum(), weights, create_graph=True)

        def hvp(v):
            return torch.autograd.grad(grad, weights, v, retain_graph=True)[0]

        generator = torch.Generator().manual_seed(seed)
        start = torch.randn(weights.shape, generator=generator, dtype=torch.float64)
        dominant = _power(hvp, start, torch.zeros(len(start), 1), iters, tol)
        shift = dominant.clamp(max=0.0)[:, None]
        if (shift < 0).any():
            dominant = torch.where(
                shift[:, 0] < 0, shift[:, 0] + _power(hvp, start, shift, iters, tol), dominant
            )
        top[finite] = dominant.detach().numpy()
    return top if theta.ndim == 2 else float(top[0])


def _power(hvp, v, shift, iters: int, tol: float) -> torch.Tensor:
    """(R,) dominant eigenvalue of each row's ``H - shift`` by power iteration from ``v``."""
    v = v / torch.linalg.vector_norm(v, dim=1, keepdim=True)
    rayleigh = torch.full((len(v),), torch.nan, dtype=v.dtype)
    for _ in range(iters):
        hv = hvp(v) - shift * v
        new = (v * hv).sum(1)
        norm = torch.linalg.vector_norm(hv, dim=1, keepdim=True)
        v = torch.where(norm > 0, hv / norm, v)  # H v = 0: v is an eigenvector for 0
        done = (new - rayleigh).abs() <= tol * new.abs()
        rayleigh = new
        if done.all():
            break
    return rayleigh.detach()
