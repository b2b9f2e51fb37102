"""SGD with momentum, dampening, Nesterov and L2 weight decay, and Lion."""

from common.params import BOOL, FLOAT_NONNEG, FLOAT_POS, UNIT_CLOSED, UNIT_OPEN_RIGHT, Pair, Param
from common.xmath import sign, where

from .base import OptimizerDef, lerp, select, zero_state


def _sgd_scalars(t, momentum, h):
    # torch starts the buffer at the raw gradient (no dampening) and ignores dampening when
    # momentum is 0; both become "dampen by nothing" on those steps.
    one_minus_dampening = where((t == 1) | (momentum == 0), 1.0, 1.0 - h["dampening"])
    return momentum, one_minus_dampening, h["weight_decay"], float(h["nesterov"])


def _sgd_check(h):
    if h["nesterov"] and (h["momentum"] <= 0 or h["dampening"] != 0):
        raise ValueError(
            "SGD: 'nesterov' needs momentum > 0 and dampening == 0 (as in torch); "
            f"got momentum={h['momentum']!r}, dampening={h['dampening']!r}"
        )
    return h


def _sgd_update(p, g, s, lr, c):
    momentum, one_minus_dampening, weight_decay, nesterov = c
    g = g + weight_decay * p
    buf = momentum * s[0] + one_minus_dampening * g
    direction = select(nesterov, g + momentum * buf, buf)
    return p - lr * direction, (buf, s[1], s[2])


SGD = OptimizerDef(
    name="SGD",
    params=(
        Param("lr", 1e-3, FLOAT_POS, "learning rate"),
        Param("momentum", 0.0, UNIT_OPEN_RIGHT, "momentum factor"),
        Param("dampening", 0.0, UNIT_CLOSED, "dampening of the gradient in the buffer"),
        Param("weight_decay", 0.0, FLOAT_NONNEG, "L2 penalty"),
        Param("nesterov", False, BOOL, "Nesterov momentum (needs momentum > 0, dampening 0)"),
    ),
    scalars=_sgd_scalars,
    update=_sgd_update,
    init=zero_state,
    momentum="momentum",
    state_names=("momentum_buffer",),
    latex=r"""\begin{aligned}
g_t &\leftarrow g_t + \lambda\theta_{t-1} \\
b_t &\leftarrow \mu b_{t-1} + (1-\tau) g_t \quad (b_1 = g_1) \\
\theta_t &\leftarrow \theta_{t-1} - \eta \,(g_t + \mu b_t \text{ if Nesterov else } b_t)
\end{aligned}""",
    reference="Sutskever et al., On the importance of initialization and momentum (2013)",
    torch_class="SGD",
    check=_sgd_check,
)


def _lion_scalars(t, beta1, h):
    return beta1, h["betas"][1], h["weight_decay"]


def _lion_update(p, g, s, lr, c):
    beta1, beta2, weight_decay = c
    p = p * (1 - lr * weight_decay)
    p = p - lr * sign(lerp(s[0], g, 1 - beta1))
    return p, (lerp(s[0], g, 1 - beta2), s[1], s[2])


Lion = OptimizerDef(
    name="Lion",
    params=(
        Param("lr", 1e-4, FLOAT_POS, "learning rate (3-10x smaller than AdamW's)"),
        Param("betas", (0.9, 0.99), Pair(UNIT_OPEN_RIGHT, UNIT_OPEN_RIGHT), "(beta1, beta2)"),
        Param("weight_decay", 0.0, FLOAT_NONNEG, "decoupled weight decay"),
    ),
    scalars=_lion_scalars,
    update=_lion_update,
    init=zero_state,
    momentum="betas",
    state_names=("exp_avg",),
    latex=r"""\begin{aligned}
c_t &\leftarrow \beta_1 m_{t-1} + (1-\beta_1) g_t \\
\theta_t &\leftarrow \theta_{t-1} - \eta\,(\operatorname{sign}(c_t) + \lambda\theta_{t-1}) \\
m_t &\leftarrow \beta_2 m_{t-1} + (1-\beta_2) g_t
\end{aligned}""",
    reference="Chen et al., Symbolic Discovery of Optimization Algorithms (2023), Algorithm 2",
    torch_class=None,
    script_class='''

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
''',
)
