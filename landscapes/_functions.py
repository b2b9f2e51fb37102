"""Value and hand-written gradient of every registered surface.

Each pair is written only with arithmetic and :mod:`common.xmath`, with no branches on values
and no loops, so the same source is inlined by Numba into the optimizer kernels (floats, with
``a`` a float64 array) and runs batched on torch tensors or numpy arrays in the other engines.
``a`` is the surface's parameter vector in table order; surfaces without parameters ignore it.
Gradients are analytic rather than autodiff because the Numba kernels have no autodiff; the
tests check them against torch autograd. Each function is self-contained: Numba cannot call a
plain Python helper, so shared sub-expressions are repeated rather than factored out.
"""

from common.xmath import cos, exp, maximum, pi, sin, sqrt

_E = 2.718281828459045
_SQRT2 = 2.0**0.5
_TINY = 1e-30  # see ackley_grad


def rosenbrock(x, y, a):
    return (1.0 - x) ** 2 + 100.0 * (y - x**2) ** 2


def rosenbrock_grad(x, y, a):
    valley = y - x**2
    return -2.0 * (1.0 - x) - 400.0 * x * valley, 200.0 * valley


def rastrigin(x, y, a):
    return 20.0 + x**2 - 10.0 * cos(2.0 * pi * x) + y**2 - 10.0 * cos(2.0 * pi * y)


def rastrigin_grad(x, y, a):
    return (
        2.0 * x + 20.0 * pi * sin(2.0 * pi * x),
        2.0 * y + 20.0 * pi * sin(2.0 * pi * y),
    )


def ackley(x, y, a):
    r = sqrt(0.5 * (x**2 + y**2))
    ripples = exp(0.5 * (cos(2.0 * pi * x) + cos(2.0 * pi * y)))
    return -20.0 * exp(-0.2 * r) - ripples + _E + 20.0


def ackley_grad(x, y, a):
    # The cone term's gradient is 2 sqrt(2) e^{-0.2 r} times the unit vector (x, y) / |(x, y)|,
    # which is 0/0 at the minimum. Scaling by m = max(|x|, |y|) first stops |(x, y)| from
    # underflowing, and the two _TINY terms (a value float32 can hold) make the gradient finite
    # everywhere, in any float type: the direction is exact to rounding while m > 1e-44 (the
    # _TINY in m scales ux and uy alike), fades to 0 below that and is 0 at the origin, a valid
    # subgradient.
    m = maximum(abs(x), abs(y)) + _TINY
    ux = x / m
    uy = y / m
    r = sqrt(0.5 * (x**2 + y**2))
    cone = 2.0 * _SQRT2 * exp(-0.2 * r) / (sqrt(ux**2 + uy**2) + _TINY)
    ripples = pi * exp(0.5 * (cos(2.0 * pi * x) + cos(2.0 * pi * y)))
    return cone * ux + ripples * sin(2.0 * pi * x), cone * uy + ripples * sin(2.0 * pi * y)


def himmelblau(x, y, a):
    return (x**2 + y - 11.0) ** 2 + (x + y**2 - 7.0) ** 2


def himmelblau_grad(x, y, a):
    u = x**2 + y - 11.0
    v = x + y**2 - 7.0
    return 4.0 * x * u + 2.0 * v, 2.0 * u + 4.0 * y * v


def beale(x, y, a):
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2


def beale_grad(x, y, a):
    t1 = 1.5 - x + x * y
    t2 = 2.25 - x + x * y**2
    t3 = 2.625 - x + x * y**3
    dx = 2.0 * (t1 * (y - 1.0) + t2 * (y**2 - 1.0) + t3 * (y**3 - 1.0))
    dy = 2.0 * x * (t1 + 2.0 * y * t2 + 3.0 * y**2 * t3)
    return dx, dy


def booth(x, y, a):
    return (x + 2.0 * y - 7.0) ** 2 + (2.0 * x + y - 5.0) ** 2


def booth_grad(x, y, a):
    u = x + 2.0 * y - 7.0
    v = 2.0 * x + y - 5.0
    return 2.0 * u + 4.0 * v, 4.0 * u + 2.0 * v


def goldstein_price(x, y, a):
    return (
        1.0
        + (x + y + 1.0) ** 2 * (19.0 - 14.0 * x + 3.0 * x**2 - 14.0 * y + 6.0 * x * y + 3.0 * y**2)
    ) * (
        30.0
        + (2.0 * x - 3.0 * y) ** 2
        * (18.0 - 32.0 * x + 12.0 * x**2 + 48.0 * y - 36.0 * x * y + 27.0 * y**2)
    )


def goldstein_price_grad(x, y, a):
    u = x + y + 1.0
    p = 19.0 - 14.0 * x + 3.0 * x**2 - 14.0 * y + 6.0 * x * y + 3.0 * y**2
    v = 2.0 * x - 3.0 * y
    q = 18.0 - 32.0 * x + 12.0 * x**2 + 48.0 * y - 36.0 * x * y + 27.0 * y**2
    first = 1.0 + u**2 * p
    second = 30.0 + v**2 * q
    # p is symmetric in its derivatives (dp/dx == dp/dy), so the first factor's are equal too.
    d_first = 2.0 * u * p + u**2 * (-14.0 + 6.0 * x + 6.0 * y)
    d_second_dx = 4.0 * v * q + v**2 * (-32.0 + 24.0 * x - 36.0 * y)
    d_second_dy = -6.0 * v * q + v**2 * (48.0 - 36.0 * x + 54.0 * y)
    return d_first * second + first * d_second_dx, d_first * second + first * d_second_dy


def styblinski_tang(x, y, a):
    return 0.5 * (x**4 - 16.0 * x**2 + 5.0 * x + y**4 - 16.0 * y**2 + 5.0 * y)


def styblinski_tang_grad(x, y, a):
    return 2.0 * x**3 - 16.0 * x + 2.5, 2.0 * y**3 - 16.0 * y + 2.5


def six_hump_camel(x, y, a):
    return (4.0 - 2.1 * x**2 + x**4 / 3.0) * x**2 + x * y + (4.0 * y**2 - 4.0) * y**2


def six_hump_camel_grad(x, y, a):
    return 8.0 * x - 8.4 * x**3 + 2.0 * x**5 + y, x - 8.0 * y + 16.0 * y**3


def levy13(x, y, a):
    return (
        sin(3.0 * pi * x) ** 2
        + (x - 1.0) ** 2 * (1.0 + sin(3.0 * pi * y) ** 2)
        + (y - 1.0) ** 2 * (1.0 + sin(2.0 * pi * y) ** 2)
    )


def levy13_grad(x, y, a):
    # d/dt sin(k t)^2 = k sin(2 k t), the double-angle form of 2 k sin cos.
    dx = 3.0 * pi * sin(6.0 * pi * x) + 2.0 * (x - 1.0) * (1.0 + sin(3.0 * pi * y) ** 2)
    dy = (
        3.0 * pi * (x - 1.0) ** 2 * sin(6.0 * pi * y)
        + 2.0 * (y - 1.0) * (1.0 + sin(2.0 * pi * y) ** 2)
        + 2.0 * pi * (y - 1.0) ** 2 * sin(4.0 * pi * y)
    )
    return dx, dy


def saddle(x, y, a):
    return x**2 - y**2


def saddle_grad(x, y, a):
    return 2.0 * x, -2.0 * y


def monkey_saddle(x, y, a):
    return x**3 - 3.0 * x * y**2


def monkey_saddle_grad(x, y, a):
    return 3.0 * x**2 - 3.0 * y**2, -6.0 * x * y


def bowl(x, y, a):
    kappa = a[0]
    return 0.5 * (x**2 + kappa * y**2)


def bowl_grad(x, y, a):
    kappa = a[0]
    # 1.0 * x, not x: a gradient that aliases the iterate would be corrupted by in-place updates.
    return 1.0 * x, kappa * y


def double_well(x, y, a):
    # (x + 1)^2 (3x^2 - 7x + 5) + 10 y^2 expanded: the second factor has no real root, so f >= 0
    # with equality only at (-1, 0); f' = 12 (x + 1)(x - 1/4)(x - 1) puts the barrier at x = 1/4.
    return 3.0 * x**4 - x**3 - 6.0 * x**2 + 3.0 * x + 5.0 + 10.0 * y**2


def double_well_grad(x, y, a):
    return 12.0 * x**3 - 3.0 * x**2 - 12.0 * x + 3.0, 20.0 * y
