"""SAM in the model trainer against the paper's algorithm written as a plain torch loop, and
the sharpness measure against the exact Hessian.

The reference is Foret et al. (2021), Algorithm 1, around a real ``torch.optim`` optimizer:
gradient at θ, ε = ρ g / ‖g‖ over all weights, gradient at θ + ε on the same batch, restore
θ, ``optimizer.step()`` with that gradient.
"""

import numpy as np
import pytest
import torch
from torch import nn

from landscapes.models import MLP, make_dataset, top_hessian_eigenvalue
from optim_core.models import Racer, TrainConfig, minibatches, train
from optim_core.models.sam import sam_gradient
from optim_core.trajectory import MAX_STEPS
from tests.test_models import DATA, MODEL, QUIET, reference_net
from tests.torch_reference import torch_kwargs

STEPS = 50
RTOL = 1e-9


def sam_loop(racer: Racer, steps=STEPS, seed=0, batch_size=None) -> np.ndarray:
    """Flat weights after ``steps`` of the paper's SAM around ``torch.optim.<optimizer>``."""
    net = reference_net(seed)
    params = list(net.parameters())
    x, y = torch.as_tensor(DATA.x_train), torch.as_tensor(DATA.y_train)
    batches = minibatches(len(y), batch_size, steps, seed)
    opt = getattr(torch.optim, racer.optimizer)(params, **torch_kwargs(racer))
    for t in range(steps):
        rows = slice(None) if batches is None else torch.as_tensor(batches[t])
        opt.zero_grad()
        nn.functional.cross_entropy(net(x[rows]), y[rows]).backward()
        g = nn.utils.parameters_to_vector([p.grad for p in params])
        norm = torch.linalg.vector_norm(g)
        scale = racer.sam_rho / norm if norm > 0 else 0.0
        theta = [p.detach().clone() for p in params]
        with torch.no_grad():
            for p in params:
                p.add_(p.grad * scale)
        opt.zero_grad()
        nn.functional.cross_entropy(net(x[rows]), y[rows]).backward()  # at θ + ε
        with torch.no_grad():
            for p, old in zip(params, theta, strict=True):
                p.copy_(old)
        opt.step()
    return nn.utils.parameters_to_vector(params).detach().numpy()


CASES = {
    "SGD": Racer.make("SGD", lr=0.1, momentum=0.9, weight_decay=1e-3, sam_rho=0.05),
    "Adam": Racer.make("Adam", lr=0.01, weight_decay=1e-4, sam_rho=0.1),
    "AdamW": Racer.make("AdamW", lr=0.005, weight_decay=0.05, sam_rho=0.02),
}


@pytest.mark.parametrize("batch_size", [None, 32])
@pytest.mark.parametrize("name", list(CASES))
def test_sam_matches_the_papers_loop_around_torch_optim(name, batch_size):
    racer = CASES[name]
    config = TrainConfig(steps=STEPS, batch_size=batch_size, seed=4, **QUIET)
    race = train(DATA, MODEL, [racer], config, "cpu")
    assert race.status[0] == MAX_STEPS
    expected = sam_loop(racer, seed=4, batch_size=batch_size)
    np.testing.assert_allclose(race.final[0], expected, rtol=RTOL, atol=1e-12)


def test_sam_racers_beside_plain_ones_change_nothing_for_the_plain_ones():
    """The second pass touches only the SAM rows, and a SAM racer is no base racer."""
    plain, sam = Racer.make("SGD", lr=0.1), Racer.make("SGD", lr=0.1, sam_rho=0.05)
    config = TrainConfig(steps=STEPS, **QUIET)
    together = train(DATA, MODEL, [sam, plain, CASES["Adam"]], config, "cpu")
    alone = train(DATA, MODEL, [plain], config, "cpu")
    np.testing.assert_array_equal(together.final[1], alone.final[0])
    np.testing.assert_allclose(together.final[0], sam_loop(sam), rtol=RTOL, atol=1e-12)
    np.testing.assert_allclose(together.final[2], sam_loop(CASES["Adam"]), rtol=RTOL, atol=1e-12)
    assert not np.allclose(together.final[0], together.final[1])
    assert [r.label for r in together.racers] == ["SAM-SGD", "SGD", "SAM-Adam"]


def test_sam_with_dropout_uses_the_same_masks_in_both_passes():
    """With ρ → 0 the SAM gradient tends to the plain one only if both passes drop the same
    units: a fresh mask in the second pass would leave an O(1) difference."""
    model = MLP(2, 2, depth=2, width=8, dropout=0.3)
    config = TrainConfig(steps=20, seed=1, **QUIET)
    racers = [Racer.make("SGD", lr=0.1), Racer.make("SGD", lr=0.1, sam_rho=1e-9)]
    race = train(DATA, model, racers, config, "cpu")
    np.testing.assert_allclose(race.final[1], race.final[0], rtol=1e-6)


def test_a_zero_gradient_gives_no_ascent_step():
    """ε = 0 where ‖g‖ = 0 (not 0/0 = NaN): the SAM gradient is then the one at θ itself."""
    x, y = torch.as_tensor(DATA.x_train), torch.as_tensor(DATA.y_train)
    theta = torch.as_tensor(np.stack([MODEL.init(0), MODEL.init(1)]))
    _, at_theta, _ = MODEL.loss_and_grad(theta, x, y)
    zero_first = torch.cat([torch.zeros_like(at_theta[:1]), at_theta[1:]])
    rows, rho = torch.tensor([0, 1]), torch.tensor([[0.1], [0.1]])
    sam = sam_gradient(MODEL, theta, zero_first, rows, rho, x, y)
    torch.testing.assert_close(sam[0], at_theta[0], rtol=0, atol=0)
    assert not torch.allclose(sam[1], at_theta[1])


def test_sam_rho_is_validated_like_every_parameter():
    with pytest.raises(ValueError, match=r"SAM: 'sam_rho' must be a float in \[0, inf\); got -1"):
        Racer.make("SGD", sam_rho=-1)
    assert Racer.make("SGD").sam_rho == 0.0 and Racer.make("SGD", sam_rho=1).sam_rho == 1.0


def test_top_hessian_eigenvalue_equals_the_full_hessians():
    """Against eigvalsh of the exact Hessian of a 22-weight MLP at six weight vectors (inits,
    scaled up), one of them where the most negative eigenvalue outweighs the top one (the
    shifted second run)."""
    data = make_dataset("moons", n_points=60, noise=0.2)
    model = MLP(2, 2, depth=1, width=4)
    x, y = torch.as_tensor(data.x_train), torch.as_tensor(data.y_train)
    thetas = np.stack([model.init(seed) * (1 + seed) for seed in range(6)])
    exact = []
    for theta in thetas:
        loss = lambda t: model.loss(t[None], x, y)[0]  # noqa: E731
        eigenvalues = np.linalg.eigvalsh(
            torch.autograd.functional.hessian(loss, torch.tensor(theta))
        )
        exact.append(eigenvalues)
    tops = top_hessian_eigenvalue(model, data, thetas)
    np.testing.assert_allclose(tops, [e[-1] for e in exact], rtol=1e-6)
    assert any(-e[0] > e[-1] for e in exact)  # the shift was needed for one of them
    assert top_hessian_eigenvalue(model, data, thetas[0]) == pytest.approx(exact[0][-1], rel=1e-6)
    with_nan = np.vstack([thetas[:1], np.full_like(thetas[:1], np.nan)])
    assert np.isnan(top_hessian_eigenvalue(model, data, with_nan)[1])
