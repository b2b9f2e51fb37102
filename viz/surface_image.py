"""The surface drawn once as a PNG, to lie under the animated axes.

Plotly's contour and heatmap traces vanish during ``redraw: False`` animations (NOTES.md), so
the race figure shows the surface as a ``layout.images`` entry instead and takes hover values
and clicks from a coarse invisible grid, which this module also provides.
"""

import base64
import io
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from landscapes.surfaces import Surface

Domain = tuple[tuple[float, float], tuple[float, float]]

CMAP = "viridis"
GRID_POINTS = 40  # per axis, for hover and click
_LEVELS = 32
# Colours span this many decades of f - min above the grid's minimum: a narrow valley's floor
# lies far below its walls, and a linear scale would paint the whole valley one colour. More
# decades spend most colours on the deepest few pixels and leave the rest one flat yellow.
_DECADES = 4.0
_SIGNED_DECADES = 2.0  # the same for |f| on surfaces unbounded below


@dataclass(frozen=True, eq=False)
class SurfaceImage:
    """A rendered surface and the coarse grid of values behind it (arrays are read-only)."""

    png_data_uri: str
    x_range: tuple[float, float]
    y_range: tuple[float, float]
    grid_x: np.ndarray  # (GRID_POINTS,) including both ends of the domain
    grid_y: np.ndarray  # (GRID_POINTS,)
    grid_z: np.ndarray  # (GRID_POINTS, GRID_POINTS), grid_z[j, i] = f(grid_x[i], grid_y[j])
    z_min: float  # finite extremes of f over the rendered grid
    z_max: float


def surface_image(
    surface: Surface, args: tuple = (), domain: Domain | None = None, resolution: int = 400
) -> SurfaceImage:
    """The surface as a PNG ``resolution`` pixels along the domain's longer side.

    The image covers ``domain`` (the surface's own by default) exactly, with no margins, so it
    can be stretched over the axes' ranges. Cached: a rerun with the same surface, parameters,
    domain and resolution returns the same object at once.
    """
    domain = surface.domain if domain is None else domain
    domain = tuple((float(lo), float(hi)) for lo, hi in domain)
    return _render(surface, tuple(float(a) for a in args), domain, int(resolution))


def evaluate(surface: Surface, args: tuple, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """f on the grid ``xs`` × ``ys`` (rows follow y), with non-finite values as NaN."""
    x, y = np.meshgrid(xs, ys)
    with np.errstate(all="ignore"):
        z = np.asarray(surface.f(x, y, np.asarray(args, dtype=np.float64)), dtype=np.float64)
    z = np.broadcast_to(z, x.shape).copy()
    z[~np.isfinite(z)] = np.nan
    return z


def colour_values(z: np.ndarray, unbounded_below: bool) -> np.ndarray:
    """What the colours encode: a log of the height above the lowest value, so valleys show.

    A surface unbounded below (a saddle) has no floor to measure from; a signed log
    (``asinh``) keeps the sign of f readable there and shows the level set f = 0 mid-scale.
    """
    finite = z[np.isfinite(z)]
    if not finite.size:
        return np.zeros_like(z)
    lo, hi = float(finite.min()), float(finite.max())
    span = max(hi - lo, 1e-300)
    with np.errstate(all="ignore"):
        if unbounded_below:
            scale = max(float(np.abs(finite).max()), 1e-300) * 10.0**-_SIGNED_DECADES
            return np.arcsinh(z / scale)
        return np.log10(z - lo + span * 10.0**-_DECADES)


def _pixels(domain: Domain, resolution: int) -> tuple[int, int]:
    (x0, x1), (y0, y1) = domain
    wide = (x1 - x0) >= (y1 - y0)
    ratio = (y1 - y0) / (x1 - x0) if wide else (x1 - x0) / (y1 - y0)
    short = max(1, round(resolution * ratio))
    return (resolution, short) if wide else (short, resolution)


@lru_cache(maxsize=64)
def _render(surface: Surface, args: tuple, domain: Domain, resolution: int) -> SurfaceImage:
    (x0, x1), (y0, y1) = domain
    width, height = _pixels(domain, resolution)
    # One sample per pixel resolves rastrigin's and levy13's ripples; contourf interpolates.
    xs, ys = np.linspace(x0, x1, width), np.linspace(y0, y1, height)
    z = evaluate(surface, args, xs, ys)
    c = colour_values(z, unbounded_below=surface.f_min == -math.inf)
    png = _png(xs, ys, c, width, height)

    gx, gy = np.linspace(x0, x1, GRID_POINTS), np.linspace(y0, y1, GRID_POINTS)
    gz = evaluate(surface, args, gx, gy)
    finite = z[np.isfinite(z)]
    z_min, z_max = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    for a in (gx, gy, gz):
        a.flags.writeable = False  # shared by every caller through the cache
    return SurfaceImage(
        png_data_uri="data:image/png;base64," + base64.b64encode(png).decode("ascii"),
        x_range=(x0, x1),
        y_range=(y0, y1),
        grid_x=gx,
        grid_y=gy,
        grid_z=gz,
        z_min=z_min,
        z_max=z_max,
    )


def _png(xs, ys, c: np.ndarray, width: int, height: int) -> bytes:
    """Filled contours with thin lines, axes filling the whole canvas, exact pixel size."""
    dpi = 100
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_axis_off()
    masked = np.ma.masked_invalid(c)
    if masked.count() and np.ptp(masked.compressed()) > 0:
        levels = np.linspace(masked.min(), masked.max(), _LEVELS + 1)
        ax.contourf(xs, ys, masked, levels=levels, cmap=CMAP)
        ax.contour(xs, ys, masked, levels=levels[1::2], colors="k", linewidths=0.3, alpha=0.35)
    ax.set_xlim(xs[0], xs[-1])
    ax.set_ylim(ys[0], ys[-1])
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=dpi)
    return out.getvalue()
