"""Adam and its family: Adam (with AMSGrad as a flag), AdamW, NAdam, RAdam, Adamax."""

from common.params import BOOL, FLOAT_NONNEG, FLOAT_POS, UNIT_OPEN_RIGHT, Pair, Param
from common.xmath import cumprod as running_product
from common.xmath import (
    exp,
    inverse_one_minus_powers,
    maximum,
    one_minus_powers,
    powers,
    sqrt,
    where,
)

from .base import (
    OptimizerDef,
    decay_and_moments,
    lerp,
    select,
    split_weight_decay,
    zero_state,
)

BETAS = Pair(UNIT_OPEN_RIGHT, UNIT_OPEN_RIGHT)


def _adam_params(lr, weight_decay, extra=()):
    return (
        Param("lr", lr, FLOAT_POS, "learning rate"),
        Param("betas", (0.9, 0.999), BETAS, "(beta1, beta2): decay of the first and second moment"),
        Param("eps", 1e-8, FLOAT_NONNEG, "added to the denominator"),
        Param("weight_decay", weight_decay, FLOAT_NONNEG, "weight decay"),
        *extra,
    )


def _adam_scalars(t, beta1, h):
    beta2 = h["betas"][1]
    # the lab's bias_correction flag off: the corrections are ones
    on = float(h.get("bias_correction", True))
    l2, decoupled = split_weight_decay(h)
    # 1 / (1 - beta1^t) and 1 / sqrt(1 - beta2^t), so the update multiplies where torch
    # divides: within ulps of torch, and the batch kernel's throughput is bounded by its
    # divisions and square roots.
    inv_bc1 = inverse_one_minus_powers(beta1, t, on)
    inv_bc2_sqrt = inverse_one_minus_powers(beta2, t, on, root=True)
    return beta1, beta2, inv_bc1, inv_bc2_sqrt, h["eps"], l2, decoupled, float(h["amsgrad"])


def _adam_update(p, g, s, lr, c):
    beta1, beta2, inv_bc1, inv_bc2_sqrt, eps, l2, decoupled, amsgrad = c
    p, g, m, v = decay_and_moments(p, g, s, lr, beta1, beta2, l2, decoupled)
    v_max = maximum(s[2], v)
    denom = sqrt(select(amsgrad, v_max, v)) * inv_bc2_sqrt + eps
    return p - (lr * inv_bc1) * (m / denom), (m, v, v_max)


_ADAM_LATEX = r"""\begin{aligned}
m_t &\leftarrow \beta_1 m_{t-1} + (1-\beta_1) g_t, \quad
v_t \leftarrow \beta_2 v_{t-1} + (1-\beta_2) g_t^2 \\
\hat v_t &\leftarrow \max(\hat v_{t-1}, v_t) \text{ if AMSGrad else } v_t \\
\theta_t &\leftarrow \theta_{t-1}%s - \frac{\eta}{1-\beta_1^t}\,
  \frac{m_t}{\sqrt{\hat v_t}/\sqrt{1-\beta_2^t} + \epsilon}
\end{aligned}"""

_ADAM_FLAGS = (
    Param("amsgrad", False, BOOL, "use the running maximum of v (AMSGrad)"),
    Param("bias_correction", True, BOOL, "divide by 1 - beta^t (not a torch option)"),
)

Adam = OptimizerDef(
    name="Adam",
    params=_adam_params(
        1e-3,
        0.0,
        (
            *_ADAM_FLAGS,
            Param("decoupled_weight_decay", False, BOOL, "AdamW's decay instead of L2"),
        ),
    ),
    scalars=_adam_scalars,
    update=_adam_update,
    init=zero_state,
    momentum="betas",
    state_names=("exp_avg", "exp_avg_sq", "max_exp_avg_sq"),
    latex=_ADAM_LATEX % "",
    reference="Kingma & Ba, Adam (ICLR 2015); AMSGrad: Reddi et al. (ICLR 2018)",
    torch_class="Adam",
)


def _adamw_scalars(t, beta1, h):
    return _adam_scalars(t, beta1, {**h, "decoupled_weight_decay": True})


AdamW = OptimizerDef(
    name="AdamW",
    params=_adam_params(1e-3, 1e-2, _ADAM_FLAGS),
    scalars=_adamw_scalars,
    update=_adam_update,
    init=zero_state,
    momentum="betas",
    state_names=Adam.state_names,
    latex=_ADAM_LATEX % r" (1 - \eta\lambda)",
    reference="Loshchilov & Hutter, Decoupled Weight Decay Regularization (ICLR 2019)",
    torch_class="AdamW",
)


def _nadam_scalars(t, beta1, h):
    beta2, decay = h["betas"][1], h["momentum_decay"]
    # torch: mu_t = beta1 (1 - 0.5 * 0.96^(t * momentum_decay)), with the beta1 of step t.
    mu = beta1 * (1 - 0.5 * exp(t * decay * _LOG_096))
    mu_next = beta1 * (1 - 0.5 * exp((t + 1) * decay * _LOG_096))
    mu_product = running_product(mu)
    l2, decoupled = split_weight_decay(h)
    grad_coef = (1 - mu) / (1 - mu_product)
    avg_coef = mu_next / (1 - mu_product * mu_next)
    return beta1, beta2, one_minus_powers(beta2, t), grad_coef, avg_coef, h["eps"], l2, decoupled


_LOG_096 = -0.040821994520255166  # log(0.96)


def _nadam_update(p, g, s, lr, c):
    beta1, beta2, bc2, grad_coef, avg_coef, eps, l2, decoupled = c
    p, g, m, v = decay_and_moments(p, g, s, lr, beta1, beta2, l2, decoupled)
    denom = sqrt(v / bc2) + eps
    p = p - lr * grad_coef * (g / denom)
    return p - lr * avg_coef * (m / denom), (m, v, s[2])


NAdam = OptimizerDef(
    name="NAdam",
    params=_adam_params(
        2e-3,
        0.0,
        (
            Param("momentum_decay", 4e-3, FLOAT_NONNEG, "psi in mu_t = beta1 (1 - 0.96^(t psi)/2)"),
            Param("decoupled_weight_decay", False, BOOL, "AdamW's decay instead of L2"),
        ),
    ),
    scalars=_nadam_scalars,
    update=_nadam_update,
    init=zero_state,
    momentum="betas",
    state_names=("exp_avg", "exp_avg_sq"),
    latex=r"""\begin{aligned}
\mu_t &= \beta_1\big(1 - \tfrac12 0.96^{t\psi}\big), \quad
m_t \leftarrow \beta_1 m_{t-1} + (1-\beta_1) g_t, \quad
v_t \leftarrow \beta_2 v_{t-1} + (1-\beta_2) g_t^2 \\
\theta_t &\leftarrow \theta_{t-1} - \eta\Big(\frac{1-\mu_t}{1-\prod_{i\le t}\mu_i}\, g_t
  + \frac{\mu_{t+1}}{1-\prod_{i\le t+1}\mu_i}\, m_t\Big) \Big/
  \Big(\sqrt{v_t/(1-\beta_2^t)} + \epsilon\Big)
\end{aligned}""",
    reference="Dozat, Incorporating Nesterov Momentum into Adam (ICLR 2016 workshop)",
    torch_class="NAdam",
)


def _radam_scalars(t, beta1, h):
    beta2 = h["betas"][1]
    bc1 = one_minus_powers(beta1, t)
    beta2_t = powers(beta2, t)
    rho_inf = 2 / (1 - beta2) - 1
    rho_t = rho_inf - 2 * t * beta2_t / (1 - beta2_t)
    # torch rectifies only once the variance estimate is tractable (rho_t > 5); before that
    # the step is plain momentum, lr * m_hat.
    rectified = rho_t > 5
    ratio = (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
    rect = where(rectified, sqrt(where(rectified, ratio, 1.0)), 0.0)
    l2, decoupled = split_weight_decay(h)
    return beta1, beta2, bc1, rect * sqrt(1 - beta2_t), 1.0 * rectified, h["eps"], l2, decoupled


def _radam_update(p, g, s, lr, c):
    beta1, beta2, bc1, rect_bc2_sqrt, rectified, eps, l2, decoupled = c
    p, g, m, v = decay_and_moments(p, g, s, lr, beta1, beta2, l2, decoupled)
    scale = select(rectified, rect_bc2_sqrt / (sqrt(v) + eps), 1.0)
    return p - (m / bc1) * lr * scale, (m, v, s[2])


RAdam = OptimizerDef(
    name="RAdam",
    params=_adam_params(
        1e-3, 0.0, (Param("decoupled_weight_decay", False, BOOL, "AdamW's decay instead of L2"),)
    ),
    scalars=_radam_scalars,
    update=_radam_update,
    init=zero_state,
    momentum="betas",
    state_names=("exp_avg", "exp_avg_sq"),
    latex=r"""\begin{aligned}
\rho_\infty &= \tfrac{2}{1-\beta_2} - 1, \quad
\rho_t = \rho_\infty - \tfrac{2t\beta_2^t}{1-\beta_2^t}, \quad
\hat m_t = \tfrac{m_t}{1-\beta_1^t} \\
\theta_t &\leftarrow \theta_{t-1} - \eta\,\hat m_t \cdot
  \begin{cases} r_t \sqrt{1-\beta_2^t}/(\sqrt{v_t}+\epsilon) & \rho_t > 5 \\ 1 & \text{else}
  \end{cases}, \quad
r_t = \sqrt{\tfrac{(\rho_t-4)(\rho_t-2)\rho_\infty}{(\rho_\infty-4)(\rho_\infty-2)\rho_t}}
\end{aligned}""",
    reference="Liu et al., On the Variance of the Adaptive Learning Rate and Beyond (ICLR 2020)",
    torch_class="RAdam",
)


def _adamax_scalars(t, beta1, h):
    return beta1, h["betas"][1], one_minus_powers(beta1, t), h["eps"], h["weight_decay"]


def _adamax_update(p, g, s, lr, c):
    beta1, beta2, bc1, eps, weight_decay = c
    g = g + weight_decay * p
    m = lerp(s[0], g, 1 - beta1)
    # torch puts eps inside the max, not in the denominator.
    u = maximum(beta2 * s[1], abs(g) + eps)
    return p - (lr / bc1) * (m / u), (m, u, s[2])


Adamax = OptimizerDef(
    name="Adamax",
    params=_adam_params(2e-3, 0.0),
    scalars=_adamax_scalars,
    update=_adamax_update,
    init=zero_state,
    momentum="betas",
    state_names=("exp_avg", "exp_inf"),
    latex=r"""\begin{aligned}
m_t &\leftarrow \beta_1 m_{t-1} + (1-\beta_1) g_t, \quad
u_t \leftarrow \max(\beta_2 u_{t-1}, |g_t| + \epsilon) \\
\theta_t &\leftarrow \theta_{t-1} - \frac{\eta}{1-\beta_1^t}\,\frac{m_t}{u_t}
\end{aligned}""",
    reference="Kingma & Ba, Adam (ICLR 2015), section 7.1",
    torch_class="Adamax",
)
