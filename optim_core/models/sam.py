r"""Sharpness-aware minimisation (SAM) around any base optimizer of the lab.

Foret et al., Sharpness-Aware Minimization for Efficiently Improving Generalization (ICLR
2021), Algorithm 1: a step looks for the worst weights within radius :math:`\rho` (to first
order), and descends with the gradient found there:

.. math::
    g = \nabla L_B(\theta), \quad
    \hat\epsilon = \rho\, g / \lVert g \rVert_2, \quad
    g_\text{SAM} = \nabla L_B(\theta + \hat\epsilon)

then the base optimizer takes its usual step from :math:`\theta` with :math:`g_\text{SAM}` in
place of :math:`g` (its weight decay, momentum and moments see only :math:`g_\text{SAM}`, as
with the paper's SGD and the common ``SAM(base_optimizer)`` wrapper). Both gradients use the
same batch :math:`B` and the same dropout masks. The norm is over a racer's whole flat weight
vector; a zero gradient gives :math:`\hat\epsilon = 0` (the step is the base step). Each SAM
step costs a second forward and backward pass, for the SAM racers' rows only.
"""

import torch


def sam_gradient(model, theta, grad, rows, rho, x, y, masks=None) -> torch.Tensor:
    """``grad`` (R, P) with its rows ``rows`` (a LongTensor) replaced by the gradient at
    :math:`\\theta + \\hat\\epsilon`; ``rho`` (len(rows), 1) is each of those racers' radius."""
    g = grad.index_select(0, rows)
    norm = torch.linalg.vector_norm(g, dim=1, keepdim=True)
    scale = torch.where(norm > 0, rho / norm, 0.0)  # NaN norm (a diverged racer) -> 0 too
    _, g_sam, _ = model.loss_and_grad(theta.index_select(0, rows) + g * scale, x, y, masks)
    return grad.index_copy(0, rows, g_sam)
