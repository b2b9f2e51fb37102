"""The registry of analytic 2D test surfaces, looked up by name.

A :class:`Surface` bundles a value/gradient pair from :mod:`landscapes._functions` with what
the lab needs around it: where to plot, where the minima are (so runs can report their
distance to the answer), a few starts that make the surface's point visible, and the one-line
lesson shown beside the figure. Minima and ``f_min`` hold for the default parameters; the one
parameterised surface, ``bowl``, keeps its minimum at the origin for every ``kappa``.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from common.params import Interval, Param, lookup, validate
from landscapes import _functions as fn


@dataclass(frozen=True)
class Surface:
    """One entry of :data:`SURFACES`: ``f(x, y, a)`` and ``grad(x, y, a)`` plus teaching data.

    ``a`` is :func:`surface_args`'s tuple (a float64 array inside Numba), empty for surfaces
    without parameters. ``torch`` is ``f`` as a torch expression in tensors ``x``, ``y`` and
    the parameters by name, using only ``torch.*`` and ``math.*`` (what "Copy as PyTorch"
    writes; tests hold it to ``f``).
    """

    name: str
    title: str
    f: Callable
    grad: Callable
    domain: tuple[tuple[float, float], tuple[float, float]]
    minima: tuple[tuple[float, float], ...]
    f_min: float
    starts: tuple[tuple[float, float], ...]
    lesson: str
    local_minima: tuple[tuple[float, float], ...] = ()
    params: tuple[Param, ...] = ()
    formula: str = ""
    torch: str = ""
    # f is finite at every (x, y) with |x|, |y| <= finite_within (0: nothing known). Where that
    # covers the divergence box, the batch kernel need not evaluate f at every step.
    finite_within: float = 0.0
    # Read-only values the Numba engine appends to the parameters in ``a``: a custom formula's
    # program, which its kernel functions (f.kernel, grad.kernel) interpret. Python callers of
    # f and grad never pass them. Not compared: f and grad already identify the program.
    kernel_data: np.ndarray = field(default_factory=lambda: np.empty(0), compare=False, repr=False)


def _square(half_width: float) -> tuple[tuple[float, float], tuple[float, float]]:
    return ((-half_width, half_width), (-half_width, half_width))


# Minima below were polished with Newton's method in 40-digit arithmetic and rounded to float64.
_STYBLINSKI_TANG_DEEP = -2.903534027771177
_STYBLINSKI_TANG_SHALLOW = 2.746802770990837
_CAMEL_GLOBAL = (0.08984201310031806, -0.7126564030207396)
_CAMEL_SIDE = (1.703606714969981, -0.7960835686726251)
_CAMEL_TOP = (1.6071047529201972, 0.5686514548841314)

_ALL = (
    Surface(
        name="rosenbrock",
        title="Rosenbrock",
        torch="(1 - x) ** 2 + 100 * (y - x**2) ** 2",
        f=fn.rosenbrock,
        grad=fn.rosenbrock_grad,
        domain=((-2.0, 2.0), (-1.0, 3.0)),
        minima=((1.0, 1.0),),
        f_min=0.0,
        starts=((-1.2, 1.0), (0.0, 2.5)),
        lesson="A long, curved, flat-bottomed valley: finding the valley is easy, following it "
        "to the minimum is slow, which is where momentum and adaptive methods earn their keep.",
        formula=r"(1 - x)^2 + 100\,(y - x^2)^2",
    ),
    Surface(
        name="rastrigin",
        title="Rastrigin",
        torch="20 + x**2 - 10 * torch.cos(2 * math.pi * x) + y**2"
        " - 10 * torch.cos(2 * math.pi * y)",
        f=fn.rastrigin,
        grad=fn.rastrigin_grad,
        domain=_square(5.12),
        minima=((0.0, 0.0),),
        f_min=0.0,
        starts=((3.3, -2.2), (-4.5, 4.5), (0.45, 0.55)),
        lesson="A regular egg-crate of local minima on top of a bowl: gradient descent stops in "
        "the dimple nearest its start, so only large steps, noise or restarts reach the global "
        "minimum.",
        formula=r"20 + \sum_{t \in \{x, y\}} \left(t^2 - 10 \cos 2\pi t\right)",
    ),
    Surface(
        name="ackley",
        title="Ackley",
        torch="-20 * torch.exp(-0.2 * torch.sqrt(0.5 * (x**2 + y**2)))"
        " - torch.exp(0.5 * (torch.cos(2 * math.pi * x) + torch.cos(2 * math.pi * y)))"
        " + math.e + 20",
        f=fn.ackley,
        grad=fn.ackley_grad,
        domain=_square(5.0),
        minima=((0.0, 0.0),),
        f_min=0.0,
        starts=((3.6, -2.4), (-4.5, 4.0), (1.2, 0.9)),
        lesson="A nearly flat, rippled outer region around one deep central funnel: far from "
        "the centre the gradient mostly points to the nearest ripple, so the start and the step "
        "size decide whether the funnel is ever found.",
        formula=r"-20\,e^{-0.2\sqrt{(x^2 + y^2)/2}} - e^{(\cos 2\pi x + \cos 2\pi y)/2} + e + 20",
    ),
    Surface(
        name="himmelblau",
        title="Himmelblau",
        torch="(x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2",
        f=fn.himmelblau,
        grad=fn.himmelblau_grad,
        domain=_square(5.0),
        minima=(
            (3.0, 2.0),
            (-2.805118086952745, 3.131312518250573),
            (-3.779310253377747, -3.2831859912861696),
            (3.5844283403304917, -1.8481265269644036),
        ),
        f_min=0.0,
        starts=((-0.3, -0.6), (-0.5, -0.5), (-0.6, -1.0), (-0.2, -1.2)),
        lesson="Four equally deep minima around a central peak: starts a few tenths apart near "
        "the peak end in four different minima, so the answer to a non-convex problem depends "
        "on where you start.",
        formula=r"(x^2 + y - 11)^2 + (x + y^2 - 7)^2",
    ),
    Surface(
        name="beale",
        title="Beale",
        torch="(1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2",
        f=fn.beale,
        grad=fn.beale_grad,
        domain=_square(4.5),
        minima=((3.0, 0.5),),
        f_min=0.0,
        starts=((1.0, 1.5), (-1.0, 1.5), (2.0, -2.0)),
        lesson="Flat plateaus meet walls that steepen like x^2 y^6 towards the corners, so "
        "gradients span many orders of magnitude and no single learning rate suits both, which "
        "is what per-coordinate adaptive methods such as Adam fix.",
        formula=r"(1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2",
    ),
    Surface(
        name="booth",
        title="Booth",
        torch="(x + 2 * y - 7) ** 2 + (2 * x + y - 5) ** 2",
        f=fn.booth,
        grad=fn.booth_grad,
        domain=_square(10.0),
        minima=((1.0, 3.0),),
        f_min=0.0,
        starts=((-8.0, 8.0), (8.0, -6.0)),
        lesson="A plain convex quadratic with tilted, elongated contours (condition number 9): "
        "every method should reach the minimum, so it is the baseline that shows how step size "
        "and momentum handle mild ill-conditioning.",
        formula=r"(x + 2y - 7)^2 + (2x + y - 5)^2",
    ),
    Surface(
        name="goldstein_price",
        title="Goldstein-Price",
        torch="(1 + (x + y + 1) ** 2"
        " * (19 - 14 * x + 3 * x**2 - 14 * y + 6 * x * y + 3 * y**2))"
        " * (30 + (2 * x - 3 * y) ** 2"
        " * (18 - 32 * x + 12 * x**2 + 48 * y - 36 * x * y + 27 * y**2))",
        f=fn.goldstein_price,
        grad=fn.goldstein_price_grad,
        domain=_square(2.0),
        minima=((0.0, -1.0),),
        f_min=3.0,
        starts=((1.5, 1.5), (1.9, 0.0), (-1.0, 0.0), (-1.5, -1.5)),
        lesson="Values spanning over five orders of magnitude and three local minima around a "
        "narrow global one: a fixed learning rate either diverges on the walls or crawls in the "
        "basins, and the start decides which basin wins.",
        local_minima=((-0.6, -0.4), (1.8, 0.2), (1.2, 0.8)),
        formula=r"\left[1 + (x + y + 1)^2 (19 - 14x + 3x^2 - 14y + 6xy + 3y^2)\right]"
        r"\left[30 + (2x - 3y)^2 (18 - 32x + 12x^2 + 48y - 36xy + 27y^2)\right]",
    ),
    Surface(
        name="styblinski_tang",
        title="Styblinski-Tang",
        torch="0.5 * (x**4 - 16 * x**2 + 5 * x + y**4 - 16 * y**2 + 5 * y)",
        f=fn.styblinski_tang,
        grad=fn.styblinski_tang_grad,
        domain=_square(5.0),
        minima=((_STYBLINSKI_TANG_DEEP, _STYBLINSKI_TANG_DEEP),),
        f_min=-78.33233140754282,
        starts=((0.5, 0.5), (-0.5, 4.5), (-4.5, -0.3)),
        lesson="A separable surface with four basins of different depth, one per choice of "
        "shallow or deep well in each coordinate: gradient descent keeps the wells its start "
        "lies over, so it finds the global minimum from only about a quarter of the plane.",
        local_minima=(
            (_STYBLINSKI_TANG_SHALLOW, _STYBLINSKI_TANG_SHALLOW),
            (_STYBLINSKI_TANG_DEEP, _STYBLINSKI_TANG_SHALLOW),
            (_STYBLINSKI_TANG_SHALLOW, _STYBLINSKI_TANG_DEEP),
        ),
        formula=r"\tfrac12 \sum_{t \in \{x, y\}} \left(t^4 - 16 t^2 + 5 t\right)",
    ),
    Surface(
        name="six_hump_camel",
        title="Six-hump camel",
        torch="(4 - 2.1 * x**2 + x**4 / 3) * x**2 + x * y + (4 * y**2 - 4) * y**2",
        f=fn.six_hump_camel,
        grad=fn.six_hump_camel_grad,
        domain=((-2.0, 2.0), (-1.0, 1.0)),
        minima=(_CAMEL_GLOBAL, (-_CAMEL_GLOBAL[0], -_CAMEL_GLOBAL[1])),
        f_min=-1.0316284534898774,
        starts=((-1.5, -0.8), (-1.9, 0.2), (0.5, 0.9)),
        lesson="Two mirror-image global minima in the middle flanked by four shallower local "
        "ones: a start out on the flanks settles in a local minimum, a start near the centre "
        "reaches a global one.",
        local_minima=(
            _CAMEL_SIDE,
            (-_CAMEL_SIDE[0], -_CAMEL_SIDE[1]),
            _CAMEL_TOP,
            (-_CAMEL_TOP[0], -_CAMEL_TOP[1]),
        ),
        formula=r"\left(4 - 2.1x^2 + \tfrac{x^4}{3}\right)x^2 + xy + (4y^2 - 4)\,y^2",
    ),
    Surface(
        name="levy13",
        title="Lévy N.13",
        torch="torch.sin(3 * math.pi * x) ** 2"
        " + (x - 1) ** 2 * (1 + torch.sin(3 * math.pi * y) ** 2)"
        " + (y - 1) ** 2 * (1 + torch.sin(2 * math.pi * y) ** 2)",
        f=fn.levy13,
        grad=fn.levy13_grad,
        domain=_square(10.0),
        minima=((1.0, 1.0),),
        f_min=0.0,
        starts=((-7.0, 8.0), (6.0, -4.0)),
        lesson="Sine ripples of different frequency along each axis carve a dense grid of local "
        "minima into a bowl, so plain gradient descent stops at the first ripple it meets and "
        "only big or noisy steps that feel the bowl's overall slope lead to (1, 1).",
        formula=r"\sin^2 3\pi x + (x - 1)^2 (1 + \sin^2 3\pi y) + (y - 1)^2 (1 + \sin^2 2\pi y)",
    ),
    Surface(
        name="saddle",
        title="Saddle",
        torch="x**2 - y**2",
        f=fn.saddle,
        grad=fn.saddle_grad,
        domain=_square(2.0),
        minima=(),
        f_min=-math.inf,
        starts=((-1.8, 0.01), (-1.8, -0.1)),
        lesson="A saddle point where the gradient vanishes without a minimum: gradient descent "
        "started near the x-axis slows almost to a stop there and escapes only as the tiny "
        "off-axis component grows, which momentum and gradient noise speed up.",
        formula=r"x^2 - y^2",
    ),
    Surface(
        name="monkey_saddle",
        title="Monkey saddle",
        torch="x**3 - 3 * x * y**2",
        f=fn.monkey_saddle,
        grad=fn.monkey_saddle_grad,
        domain=_square(2.0),
        minima=(),
        f_min=-math.inf,
        starts=((1.5, 0.05), (0.5, 0.0)),
        lesson="A degenerate saddle whose gradient and curvature both vanish at the centre, "
        "with three downhill valleys: first-order methods stall on the flat centre far longer "
        "than at an ordinary saddle, then run down a valley without end.",
        formula=r"x^3 - 3xy^2",
    ),
    Surface(
        name="bowl",
        title="Ill-conditioned bowl",
        torch="0.5 * (x**2 + kappa * y**2)",
        f=fn.bowl,
        grad=fn.bowl_grad,
        domain=_square(2.0),
        minima=((0.0, 0.0),),
        f_min=0.0,
        starts=((-1.8, 1.0), (1.5, 1.5)),
        lesson="A quadratic whose curvatures differ by the condition number kappa: the learning "
        "rate must stay below 2/kappa for the steep axis, so plain gradient descent zig-zags "
        "across the valley and crawls along it as kappa grows, while momentum and adaptive "
        "methods cope far better.",
        params=(
            Param(
                "kappa",
                10.0,
                Interval(1.0, 1e6),
                "condition number: curvature along y divided by curvature along x",
            ),
        ),
        formula=r"\tfrac12 \left(x^2 + \kappa\, y^2\right)",
    ),
    Surface(
        name="double_well",
        title="Double well",
        torch="3 * x**4 - x**3 - 6 * x**2 + 3 * x + 5 + 10 * y**2",
        f=fn.double_well,
        grad=fn.double_well_grad,
        domain=((-2.0, 2.0), (-1.5, 1.5)),
        minima=((-1.0, 0.0),),
        f_min=0.0,
        starts=((1.8, 1.2), (-1.8, 1.2), (0.4, -1.0)),
        lesson="One shallow local minimum and one deeper global minimum behind a low barrier: "
        "plain gradient descent from the right settles in the local minimum, while enough "
        "momentum carries it over the barrier to the global one.",
        local_minima=((1.0, 0.0),),
        formula=r"3x^4 - x^3 - 6x^2 + 3x + 5 + 10y^2",
    ),
)

# Every built-in f is a polynomial, or bounded trig / exp terms, whose value stays far from
# overflow on this square for any allowed parameter (tests sample it, corners included).
FINITE_WITHIN = 1e6

SURFACES: dict[str, Surface] = {s.name: replace(s, finite_within=FINITE_WITHIN) for s in _ALL}


def get_surface(name: str) -> Surface:
    return lookup("surface", SURFACES, name)


def surface_args(surface: Surface, **values) -> tuple[float, ...]:
    """Validated parameter values in table order: the ``a`` that ``f`` and ``grad`` take."""
    checked = validate(surface.name, surface.params, values)
    return tuple(checked[p.name] for p in surface.params)
