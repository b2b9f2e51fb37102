"""Many runs at once, summarised: basins of attraction, hyperparameter sensitivity, noise fans.

Each map is a grid of runs through the batch engines (final points only), so a 256 x 256
basin map is 65,536 runs of the vectorised kernel. Each size is checked against its bound in
``common.limits`` before any run starts (an unbounded ensemble once ran 162 s, then ran out
of memory).
"""

from dataclasses import dataclass

import numpy as np

from common.limits import BASIN_RESOLUTION, ENSEMBLE_RUNS, SENSITIVITY_CELLS, check_size
from landscapes import resolve_surface

from .engines import numba_engine
from .spec import RunSpec
from .trajectory import CONVERGED, DIVERGED

# A run "reached" a known minimum when it ends within this fraction of the domain's size.
REACH_FRACTION = 0.02
DIVERGED_LABEL = -1
NOWHERE_LABEL = -2


@dataclass(frozen=True, eq=False)
class BasinMap:
    xs: np.ndarray  # (nx,) start x of each column
    ys: np.ndarray  # (ny,) start y of each row
    label: np.ndarray  # (ny, nx) index into ``minima``, DIVERGED_LABEL or NOWHERE_LABEL
    final_loss: np.ndarray  # (ny, nx)
    stop_step: np.ndarray  # (ny, nx) step of convergence/divergence, else steps
    status: np.ndarray  # (ny, nx)
    minima: tuple  # global minima first, then local ones
    n_global: int


@dataclass(frozen=True, eq=False)
class SensitivityMap:
    x_name: str
    y_name: str
    xs: np.ndarray
    ys: np.ndarray
    final_loss: np.ndarray  # (ny, nx)
    stop_step: np.ndarray
    status: np.ndarray
    specs: tuple  # (ny * nx) RunSpecs, row-major, so a clicked cell can be loaded


def basin_map(spec: RunSpec, resolution: int = 128, engine=numba_engine) -> BasinMap:
    """Start a run from every point of a ``resolution``² grid over the surface's domain
    (``resolution`` in [2, MAX_BASIN_RESOLUTION])."""
    resolution = check_size("basin map", "resolution", BASIN_RESOLUTION, resolution)
    surface = resolve_surface(spec.surface, spec.formula, spec.domain)
    (x0, x1), (y0, y1) = surface.domain
    xs, ys = np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution)
    gx, gy = np.meshgrid(xs, ys)
    result = engine.run_starts(spec, np.column_stack([gx.ravel(), gy.ravel()]))
    minima = tuple(surface.minima) + tuple(surface.local_minima)
    reach = REACH_FRACTION * max(x1 - x0, y1 - y0)
    label = classify(result.final, result.status, minima, reach)
    shape = (resolution, resolution)
    return BasinMap(
        xs, ys, label.reshape(shape), result.final_loss.reshape(shape),
        result.stop_step.reshape(shape), result.status.reshape(shape), minima, len(surface.minima),
    )  # fmt: skip


def classify(final: np.ndarray, status: np.ndarray, minima, reach: float) -> np.ndarray:
    """Index of the known minimum each run ended near, or DIVERGED_LABEL / NOWHERE_LABEL."""
    label = np.full(len(final), NOWHERE_LABEL, dtype=np.int64)
    if minima:
        points = np.asarray(minima, dtype=np.float64)
        distance = np.linalg.norm(final[:, None, :] - points[None, :, :], axis=2)
        nearest = np.argmin(distance, axis=1)
        close = distance[np.arange(len(final)), nearest] <= reach
        label[close] = nearest[close]
    label[status == DIVERGED] = DIVERGED_LABEL
    return label


def sensitivity_map(
    spec: RunSpec, x_name: str, xs, y_name: str, ys, engine=numba_engine
) -> SensitivityMap:
    """Final loss over a grid of two settings, e.g. ("lr", lrs) x ("momentum", ms).

    Names are optimizer hyperparameters, ``betas[0]``/``betas[1]``, or schedule parameters
    written ``schedule.<name>`` (e.g. ``schedule.max_lr``). Each axis has at most
    ``MAX_SENSITIVITY_CELLS`` values.
    """
    xs, ys = np.asarray(xs, dtype=np.float64).ravel(), np.asarray(ys, dtype=np.float64).ravel()
    check_size("sensitivity map", "len(xs)", SENSITIVITY_CELLS, xs.size)
    check_size("sensitivity map", "len(ys)", SENSITIVITY_CELLS, ys.size)
    specs = tuple(_with_setting(_with_setting(spec, x_name, x), y_name, y) for y in ys for x in xs)
    result = engine.run_settings(specs)
    shape = (len(ys), len(xs))
    return SensitivityMap(
        x_name, y_name, xs, ys, result.final_loss.reshape(shape),
        result.stop_step.reshape(shape), result.status.reshape(shape), specs,
    )  # fmt: skip


def _with_setting(spec: RunSpec, name: str, value: float) -> RunSpec:
    if name.startswith("schedule."):
        params = dict(spec.to_dict()["schedule_params"])
        params[name.removeprefix("schedule.")] = float(value)
        return spec.with_(schedule_params=params)
    h = spec.to_dict()["hyperparameters"]
    if name in ("betas[0]", "betas[1]"):
        betas = list(h["betas"])
        betas[int(name[6])] = float(value)
        h["betas"] = tuple(betas)
    elif name in h:
        h[name] = float(value)
    else:
        raise ValueError(
            f"sensitivity map: {name!r} is not a parameter of {spec.optimizer} or its schedule; "
            f"expected one of {', '.join(h)}, betas[0], betas[1] or schedule.<name>"
        )
    return spec.with_(hyperparameters=h)


def noise_ensemble(spec: RunSpec, runs: int = 32, engine=numba_engine):
    """``runs`` trajectories differing only in the gradient-noise seed, and the loss band
    (median, 10% and 90% quantiles per step, over the runs still finite); ``runs`` in
    [2, MAX_ENSEMBLE_RUNS]."""
    runs = check_size("noise ensemble", "runs", ENSEMBLE_RUNS, runs)
    if spec.noise <= 0:
        raise ValueError("noise ensemble: 'noise' must be > 0 for the runs to differ; got 0.0")
    trajs = engine.run_many([spec.with_(seed=spec.seed + i) for i in range(runs)])
    losses = np.stack([t.loss for t in trajs])
    with np.errstate(all="ignore"):
        band = np.nanquantile(losses, [0.5, 0.1, 0.9], axis=0)
    return trajs, band


def reached_share(basins: BasinMap) -> dict:
    """Share of starts per outcome: 'global', 'local', 'diverged', 'elsewhere'."""
    label = basins.label
    total = label.size
    return {
        "global": float(np.mean((label >= 0) & (label < basins.n_global))),
        "local": float(np.mean(label >= basins.n_global)),
        "diverged": float(np.sum(label == DIVERGED_LABEL) / total),
        "elsewhere": float(np.sum(label == NOWHERE_LABEL) / total),
        "converged": float(np.mean(basins.status == CONVERGED)),
    }
