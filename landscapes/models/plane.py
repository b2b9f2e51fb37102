r"""2D slices of a model's loss through weight space: :math:`L(\theta^* + \alpha d_1 + \beta d_2)`.

Two choices of directions (Li et al., Visualizing the Loss Landscape of Neural Nets, 2018):

* **PCA** of the racers' weight paths: the top two principal directions of the displacements
  :math:`\theta_s - \theta_0` from the common start (uncentred, so the plane passes through
  the start and every path begins at the origin). Orthonormal; they show where the racers
  actually went, and how much of their movement the plane captures (``explained``).
* **Filter-normalised random** directions around one racer's weights: a Gaussian direction
  whose every row (the incoming weights of one output neuron: the "filter" of a linear
  layer) is rescaled to that row's norm in the weights, so the slice's scale means the same
  in every layer. Bias directions are zero, the paper's default (its code's
  ``ignore='biasbn'``).

The grid is evaluated as one stack of weight sets per chunk, each chunk a few large batched
products (``MLP.loss``), in float32 by default; a few points are evaluated again in float64 and
the largest relative gap is reported. Paths are projected by least squares onto
:math:`(d_1, d_2)`, exact for points of the plane whether or not the directions are orthogonal.
"""

from dataclasses import dataclass

import numpy as np
import torch

from .data import Dataset
from .mlp import MLP

ACTIVATION_BUDGET = 2**24  # activations per chunk of grid points (64 MB in float32)
PATH_MARGIN = 0.25  # a PCA plane reaches this share beyond the extent of the paths


@dataclass(frozen=True, eq=False)
class LossPlane:
    kind: str  # "pca" or "random"
    centre: np.ndarray  # (P,) θ*
    d1: np.ndarray  # (P,)
    d2: np.ndarray  # (P,)
    alphas: np.ndarray  # (A,) along d1
    betas: np.ndarray  # (B,) along d2
    loss: np.ndarray  # (B, A) training loss, row = beta
    paths: np.ndarray  # (R, S, 2) each racer's recorded weights projected on the plane
    explained: np.ndarray | None  # PCA: share of the path variance along d1, d2
    float64_gap: float  # largest relative gap of the float32 grid to float64 at checked points


def pca_directions(paths: np.ndarray, centre: np.ndarray):
    """(d1, d2, explained share of each): top right-singular vectors of the finite rows of
    ``paths - centre`` (``paths`` (..., P)); each signed so its largest entry is positive."""
    rows = np.asarray(paths, np.float64).reshape(-1, len(centre)) - centre
    rows = rows[np.isfinite(rows).all(1)]
    _, s, vt = np.linalg.svd(rows, full_matrices=False)
    if len(s) < 2 or s[1] <= 0:
        raise ValueError("loss plane: the paths span fewer than two directions (no movement?)")
    d = vt[:2] * np.sign(vt[:2, np.abs(vt[:2]).argmax(1)].diagonal())[:, None]
    return d[0], d[1], s[:2] ** 2 / np.sum(s**2)


def filter_normalised_direction(model: MLP, weights: np.ndarray, rng) -> np.ndarray:
    """A Gaussian direction, each weight row scaled to the norm of that row of ``weights``,
    biases zero."""
    d = np.zeros_like(weights)
    for layer in model.layers:
        w = weights[layer.weight].reshape(layer.shape)
        g = rng.standard_normal(layer.shape)
        scale = np.linalg.norm(w, axis=1) / np.linalg.norm(g, axis=1)
        d[layer.weight] = (g * scale[:, None]).ravel()
    return d


def project(paths: np.ndarray, centre, d1, d2) -> np.ndarray:
    """(..., 2) least-squares coordinates of ``paths`` (..., P) on the plane; NaN rows stay NaN."""
    basis = np.stack([d1, d2], axis=1)  # (P, 2)
    return (np.asarray(paths) - centre) @ basis @ np.linalg.inv(basis.T @ basis)


def plane_loss(model: MLP, x, y, centre, d1, d2, alphas, betas, dtype=torch.float32):
    """(B, A) loss at ``centre + alphas[j] d1 + betas[i] d2``, chunks of grid points at once."""
    as_t = lambda a: torch.as_tensor(np.asarray(a), dtype=dtype, device=x.device)  # noqa: E731
    x = x.to(dtype)
    c, u, v = as_t(centre), as_t(d1), as_t(d2)
    b, a = (t.ravel() for t in torch.meshgrid(as_t(betas), as_t(alphas), indexing="ij"))
    chunk = max(1, ACTIVATION_BUDGET // (len(y) * sum(model.sizes[1:])))
    out = torch.empty(len(a), dtype=dtype, device=x.device)
    with torch.no_grad():
        for lo in range(0, len(a), chunk):
            hi = lo + chunk
            thetas = torch.addcmul(torch.addcmul(c, a[lo:hi, None], u), b[lo:hi, None], v)
            out[lo:hi] = model.loss(thetas, x, y)
    return out.double().cpu().numpy().reshape(len(betas), len(alphas))


def _float64_gap(model, x, y, centre, d1, d2, alphas, betas, grid) -> float:
    """Largest relative gap between ``grid`` and float64 at the centre and the four corners."""
    picks = [(len(betas) // 2, len(alphas) // 2), (0, 0), (0, -1), (-1, 0), (-1, -1)]
    gap = 0.0
    for i, j in picks:
        exact = plane_loss(model, x, y, centre, d1, d2, [alphas[j]], [betas[i]], torch.float64)
        gap = max(gap, abs(grid[i, j] - exact[0, 0]) / max(abs(exact[0, 0]), 1e-12))
    return gap


def _tensors(data: Dataset, device):
    x = torch.as_tensor(data.x_train, device=device)
    return x, torch.as_tensor(data.y_train, dtype=torch.int64, device=device)


def _plane(kind, model, data, centre, d1, d2, alphas, betas, paths, explained, device):
    x, y = _tensors(data, device)
    grid = plane_loss(model, x, y, centre, d1, d2, alphas, betas)
    gap = _float64_gap(model, x, y, centre, d1, d2, alphas, betas, grid)
    coords = project(paths, centre, d1, d2)
    return LossPlane(kind, centre, d1, d2, alphas, betas, grid, coords, explained, gap)


def pca_plane(model: MLP, data: Dataset, paths, start, size: int = 41, device="cpu"):
    """The plane through the common ``start`` spanned by the paths' top two PCA directions,
    ``size`` x ``size`` points covering every projected path with a margin."""
    start = np.asarray(start, np.float64)
    d1, d2, explained = pca_directions(paths, start)
    coords = project(paths, start, d1, d2)
    finite = coords[np.isfinite(coords).all(-1)]
    low, high = np.minimum(finite.min(0), 0), np.maximum(finite.max(0), 0)
    pad = PATH_MARGIN * np.maximum(high - low, 1e-6)
    alphas = np.linspace(low[0] - pad[0], high[0] + pad[0], size)
    betas = np.linspace(low[1] - pad[1], high[1] + pad[1], size)
    return _plane("pca", model, data, start, d1, d2, alphas, betas, paths, explained, device)


def random_plane(model, data, weights, paths, seed=0, size=41, span=1.0, device="cpu"):
    """The plane around ``weights`` (one racer's final weights) along two filter-normalised
    random directions, α and β in [-span, span] (the paper's [-1, 1] by default)."""
    weights = np.asarray(weights, np.float64)
    rng = np.random.default_rng(seed)
    d1 = filter_normalised_direction(model, weights, rng)
    d2 = filter_normalised_direction(model, weights, rng)
    axis = np.linspace(-span, span, size)
    return _plane("random", model, data, weights, d1, d2, axis, axis, paths, None, device)
