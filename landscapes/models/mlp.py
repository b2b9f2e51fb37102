r"""A small classifier (an MLP, or logistic regression with no hidden layer) evaluated for many
weight vectors at once.

Weights are ONE flat float vector per model, so a racer's path is a (steps, P) array that can
be projected onto a plane. The layout is torch's own,
``torch.nn.utils.parameters_to_vector(model.torch_module().parameters())``: for each linear
layer in order, its weight :math:`W_l` (out × in, row-major: ``W[j, i]`` at
``layers[l].weight.start + j * in + i``) then its bias :math:`b_l` (out). :attr:`MLP.layers`
gives the slices.

Every function takes a stack ``theta`` of shape (R, P) (R racers, or R grid points of a loss
plane) and evaluates them together with batched matrix products (``torch.baddbmm`` / ``bmm``):
a few large kernels instead of R small forward passes. The gradient is written out by hand
(:meth:`MLP.loss_and_grad`), not taken by autograd: on tiny networks autograd's bookkeeping
costs more than the arithmetic, and the tests hold the hand-written gradient to autograd's.
The loss is the mean cross-entropy of softmax(logits), as ``F.cross_entropy``.
"""

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from common.params import Interval, Options, Param, validate

from .data import MAX_CLASSES, MAX_FEATURES

MAX_DEPTH = 6  # hidden layers
MAX_WIDTH = 512  # units per hidden layer
EVAL_BUDGET = 2**24  # activations evaluated at once (128 MB in float64)


# name -> (torch module class, f(z), backward(grad of a, z, a) -> grad of z). The backward
# functions are the fused kernels autograd itself calls: one pass instead of three, and the
# same rounding as the torch.nn reference.
_aten = torch.ops.aten
ACTIVATIONS = {
    "tanh": (nn.Tanh, torch.tanh, lambda g, z, a: _aten.tanh_backward(g, a)),
    "relu": (nn.ReLU, torch.relu, lambda g, z, a: _aten.threshold_backward(g, a, 0)),
    "gelu": (nn.GELU, nn.functional.gelu, lambda g, z, a: _aten.gelu_backward(g, z)),
}

MODEL_PARAMS = (
    Param("n_inputs", 2, Interval(1, MAX_FEATURES, integer=True), "features of the data"),
    Param("n_classes", 2, Interval(2, MAX_CLASSES, integer=True), "classes of the data"),
    Param("depth", 2, Interval(0, MAX_DEPTH, integer=True), "hidden layers (0: logistic regr.)"),
    Param("width", 16, Interval(1, MAX_WIDTH, integer=True), "units per hidden layer"),
    Param("activation", "tanh", Options(tuple(ACTIVATIONS)), "nonlinearity of hidden layers"),
    Param("dropout", 0.0, Interval(0.0, 0.9, "left"), "drop probability after each activation"),
)


@dataclass(frozen=True)
class Layer:
    """Where one linear layer's weight (out × in) and bias (out) sit in the flat vector."""

    weight: slice
    bias: slice
    shape: tuple[int, int]  # (out, in)


@dataclass(frozen=True)
class MLP:
    """``n_inputs -> [width, activation, dropout] * depth -> n_classes`` logits.

    Valid once constructed (ValueError otherwise). ``depth = 0`` is multinomial logistic
    regression; ``width``, ``activation`` and ``dropout`` then play no part.
    """

    n_inputs: int = 2
    n_classes: int = 2
    depth: int = 2
    width: int = 16
    activation: str = "tanh"
    dropout: float = 0.0

    def __post_init__(self):
        values = {p.name: getattr(self, p.name) for p in MODEL_PARAMS}
        for name, value in validate("model", MODEL_PARAMS, values).items():
            object.__setattr__(self, name, value)

    @property
    def sizes(self) -> tuple[int, ...]:
        return (self.n_inputs, *[self.width] * self.depth, self.n_classes)

    @property
    def layers(self) -> tuple[Layer, ...]:
        layers, start = [], 0
        for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:], strict=True):
            weight = slice(start, start + n_out * n_in)
            bias = slice(weight.stop, weight.stop + n_out)
            layers.append(Layer(weight, bias, (n_out, n_in)))
            start = bias.stop
        return tuple(layers)

    @property
    def n_params(self) -> int:
        return self.layers[-1].bias.stop

    def torch_module(self, dtype=torch.float64) -> nn.Sequential:
        """The same network as ``torch.nn`` layers (for references and exported code)."""
        act = ACTIVATIONS[self.activation][0]
        parts = []
        for layer in self.layers[:-1]:
            parts += [nn.Linear(layer.shape[1], layer.shape[0], dtype=dtype), act()]
            parts += [nn.Dropout(self.dropout)] if self.dropout else []
        last = self.layers[-1].shape
        return nn.Sequential(*parts, nn.Linear(last[1], last[0], dtype=dtype))

    def init(self, seed: int) -> np.ndarray:
        """(P,) float64: torch's default ``nn.Linear`` init after ``torch.manual_seed(seed)``,
        drawn in float64. Every racer starts here; torch's global RNG is left as it was."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            module = self.torch_module(torch.float64)
        return nn.utils.parameters_to_vector(module.parameters()).detach().numpy()

    def unflatten(self, theta: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Views (W (R, out, in), b (R, out)) of each layer of a stack ``theta`` (R, P)."""
        R = theta.shape[0]
        return [(theta[:, L.weight].view(R, *L.shape), theta[:, L.bias]) for L in self.layers]

    def forward(self, theta, x, masks=None):
        """(logits (R, N, C), per hidden layer (z, a)) for inputs ``x`` (N, D) shared by all
        R weight sets. ``masks``: one dropout mask (N, width) per hidden layer, or None."""
        _, act, _ = ACTIVATIONS[self.activation]
        params = self.unflatten(theta)
        h = x.expand(theta.shape[0], *x.shape)
        hidden = []
        for k, (W, b) in enumerate(params):
            z = torch.baddbmm(b[:, None, :], h, W.transpose(1, 2))
            if k == len(params) - 1:
                return z, hidden
            a = act(z)
            hidden.append((z, a))
            h = a if masks is None else a * masks[k]

    def loss(self, theta, x, y) -> torch.Tensor:
        """(R,) mean cross-entropy of each weight set on (x, y)."""
        log_p = torch.log_softmax(self.forward(theta, x)[0], dim=-1)
        return -log_p.gather(2, y.expand(len(theta), -1)[..., None])[..., 0].mean(1)

    def evaluate(self, theta, x, y) -> tuple[torch.Tensor, torch.Tensor]:
        """((R,) mean cross-entropy, (R,) accuracy) of each weight set on (x, y), a chunk of
        rows at a time (at most EVAL_BUDGET activations held)."""
        loss, hits = 0.0, 0.0
        for rows in self.row_chunks(theta.shape[0], len(y)):
            logits, _ = self.forward(theta, x[rows])
            log_p = torch.log_softmax(logits, dim=-1)
            loss = loss - log_p.gather(2, y[rows].expand(len(theta), -1)[..., None]).sum((1, 2))
            hits = hits + (logits.argmax(-1) == y[rows]).sum(1)
        return loss / len(y), hits / len(y)

    def proba(self, theta, x) -> torch.Tensor:
        """(R, N, C) class probabilities, a chunk of rows at a time."""
        chunks = self.row_chunks(theta.shape[0], len(x))
        return torch.cat([torch.softmax(self.forward(theta, x[r])[0], -1) for r in chunks], 1)

    def row_chunks(self, weight_sets: int, rows: int) -> list[slice]:
        """Slices of ``rows`` whose activations for ``weight_sets`` fit EVAL_BUDGET."""
        step = max(1, EVAL_BUDGET // (weight_sets * sum(self.sizes[1:])))
        return [slice(lo, lo + step) for lo in range(0, rows, step)]

    def loss_and_grad(self, theta, x, y, masks=None):
        """((R,) loss, (R, P) gradient of each weight set's loss, (R, N, C) logits), by
        backpropagation written out with batched products."""
        _, _, backward = ACTIVATIONS[self.activation]
        logits, hidden = self.forward(theta, x, masks)
        log_p = torch.log_softmax(logits, dim=-1)
        # torch's own reduction per weight set: ReduceLROnPlateau compares these losses, and a
        # one-ulp difference from the torch.nn loop could flip one of its decisions.
        loss = torch.stack([nn.functional.nll_loss(lp, y) for lp in log_p])
        # d loss / d logits as autograd forms it (nll_loss's -1/N at the label, then
        # log_softmax's backward kernel), so the gradient matches torch.nn bit for bit.
        picked = nn.functional.one_hot(y, self.n_classes).to(log_p.dtype) * (-1.0 / len(y))
        delta = _aten._log_softmax_backward_data(picked.expand_as(log_p), log_p, 2, log_p.dtype)
        params = self.unflatten(theta)
        pieces = []
        for k in range(len(params) - 1, -1, -1):
            below = x if k == 0 else hidden[k - 1][1]
            if k and masks is not None:
                below = below * masks[k - 1]
            pieces += [delta.sum(1), torch.matmul(delta.transpose(1, 2), below).flatten(1)]
            if k:
                z, a = hidden[k - 1]
                up = torch.bmm(delta, params[k][0])
                delta = backward(up if masks is None else up * masks[k - 1], z, a)
        return loss, torch.cat(pieces[::-1], dim=1), logits


def dropout_masks(model: MLP, n: int, generator: torch.Generator, dtype, device):
    """One dropout mask per hidden layer, (n, width) of 0 or 1/(1-p), shared by all racers
    (common random numbers: racers differ by their optimizer, not by their luck)."""
    keep = 1.0 - model.dropout
    odds = torch.full((n, model.width), keep, dtype=dtype)
    draws = [torch.bernoulli(odds, generator=generator) for _ in range(model.depth)]
    return [(mask / keep).to(device) for mask in draws]
