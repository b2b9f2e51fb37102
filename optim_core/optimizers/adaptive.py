"""Per-coordinate step sizes from gradient history: Adagrad, RMSprop, Adadelta."""

from common.params import BOOL, FLOAT_NONNEG, FLOAT_POS, UNIT_CLOSED, UNIT_OPEN_RIGHT, Param
from common.xmath import sqrt

from .base import N_STATE, OptimizerDef, ema_sq, fma, zero_state


def _adagrad_init(h):
    return (h["initial_accumulator_value"],) + (0.0,) * (N_STATE - 1)


def _adagrad_scalars(t, momentum, h):
    return 1 + (t - 1) * h["lr_decay"], h["eps"], h["weight_decay"]


def _adagrad_update(p, g, s, lr, c):
    lr_divisor, eps, weight_decay = c
    g = g + weight_decay * p
    total = s[0] + g * g
    return p - (lr / lr_divisor) * (g / (sqrt(total) + eps)), (total, s[1], s[2])


Adagrad = OptimizerDef(
    name="Adagrad",
    params=(
        Param("lr", 1e-2, FLOAT_POS, "learning rate"),
        Param("lr_decay", 0.0, FLOAT_NONNEG, "lr / (1 + (t-1) lr_decay)"),
        Param("weight_decay", 0.0, FLOAT_NONNEG, "L2 penalty"),
        Param("initial_accumulator_value", 0.0, FLOAT_NONNEG, "starting sum of squares"),
        Param("eps", 1e-10, FLOAT_NONNEG, "added to the denominator"),
    ),
    scalars=_adagrad_scalars,
    update=_adagrad_update,
    init=_adagrad_init,
    momentum=None,
    state_names=("sum",),
    latex=r"""\begin{aligned}
G_t &\leftarrow G_{t-1} + g_t^2 \\
\theta_t &\leftarrow \theta_{t-1}
  - \frac{\eta}{1 + (t-1)\,\delta}\,\frac{g_t}{\sqrt{G_t} + \epsilon}
\end{aligned}""",
    reference="Duchi, Hazan, Singer, Adaptive Subgradient Methods (JMLR 2011)",
    torch_class="Adagrad",
)


def _rmsprop_scalars(t, momentum, h):
    return momentum, h["alpha"], h["eps"], h["weight_decay"], float(h["centered"])


def _rmsprop_update(p, g, s, lr, c):
    momentum, alpha, eps, weight_decay, centered = c
    g = g + weight_decay * p
    # torch's order, fused where its CPU kernels fuse (mul_ + addcmul_, lerp_, addcmul, add_
    # with alpha): the centered variance cancels near a minimum, where one rounding apart
    # grows into a different path within a few hundred steps.
    square_avg = fma((1 - alpha) * g, g, s[0] * alpha)
    grad_avg = fma(1 - alpha, g - s[1], s[1])
    avg = sqrt(fma(-centered * grad_avg, grad_avg, square_avg)) + eps
    # With momentum 0 the buffer is just g / avg, which is torch's momentum-free step.
    buf = s[2] * momentum + g / avg
    return fma(-lr, buf, p), (square_avg, grad_avg, buf)


RMSprop = OptimizerDef(
    name="RMSprop",
    params=(
        Param("lr", 1e-2, FLOAT_POS, "learning rate"),
        Param("alpha", 0.99, UNIT_CLOSED, "smoothing constant of the squared-gradient average"),
        Param("eps", 1e-8, FLOAT_NONNEG, "added to the denominator"),
        Param("weight_decay", 0.0, FLOAT_NONNEG, "L2 penalty"),
        Param("momentum", 0.0, UNIT_OPEN_RIGHT, "momentum factor"),
        Param("centered", False, BOOL, "divide by the estimated variance instead"),
    ),
    scalars=_rmsprop_scalars,
    update=_rmsprop_update,
    init=zero_state,
    momentum="momentum",
    state_names=("square_avg", "grad_avg", "momentum_buffer"),
    latex=r"""\begin{aligned}
v_t &\leftarrow \alpha v_{t-1} + (1-\alpha) g_t^2, \quad
\bar g_t \leftarrow \alpha \bar g_{t-1} + (1-\alpha) g_t \\
b_t &\leftarrow \mu b_{t-1}
  + g_t / \big(\sqrt{v_t - \bar g_t^2\,[\text{centered}]} + \epsilon\big) \\
\theta_t &\leftarrow \theta_{t-1} - \eta\, b_t
\end{aligned}""",
    reference="Hinton, Neural Networks for Machine Learning, lecture 6e (2012)",
    torch_class="RMSprop",
)


def _adadelta_scalars(t, momentum, h):
    return h["rho"], h["eps"], h["weight_decay"]


def _adadelta_update(p, g, s, lr, c):
    rho, eps, weight_decay = c
    g = g + weight_decay * p
    square_avg = ema_sq(s[0], g, rho)
    delta = sqrt(s[1] + eps) / sqrt(square_avg + eps) * g
    acc_delta = ema_sq(s[1], delta, rho)
    return p - lr * delta, (square_avg, acc_delta, s[2])


Adadelta = OptimizerDef(
    name="Adadelta",
    params=(
        Param("lr", 1.0, FLOAT_POS, "scales the delta (the paper has none: lr=1)"),
        Param("rho", 0.9, UNIT_OPEN_RIGHT, "decay of both running averages"),
        Param("eps", 1e-6, FLOAT_POS, "added inside both square roots"),
        Param("weight_decay", 0.0, FLOAT_NONNEG, "L2 penalty"),
    ),
    scalars=_adadelta_scalars,
    update=_adadelta_update,
    init=zero_state,
    momentum=None,
    state_names=("square_avg", "acc_delta"),
    latex=r"""\begin{aligned}
v_t &\leftarrow \rho v_{t-1} + (1-\rho) g_t^2 \\
\Delta_t &\leftarrow \frac{\sqrt{u_{t-1} + \epsilon}}{\sqrt{v_t + \epsilon}}\, g_t, \quad
u_t \leftarrow \rho u_{t-1} + (1-\rho)\Delta_t^2 \\
\theta_t &\leftarrow \theta_{t-1} - \eta\,\Delta_t
\end{aligned}""",
    reference="Zeiler, ADADELTA: An Adaptive Learning Rate Method (2012)",
    torch_class="Adadelta",
)
