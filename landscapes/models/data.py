"""Data sets for the model mode: seeded 2D toy problems and scikit-learn's bundled tables.

Every data set is a registry entry (:data:`DATASETS`) that draws or loads raw points; the one
constructor :func:`make_dataset` validates its parameters (the ``common.params`` tables),
splits train / validation (stratified, seeded) and standardises both halves with the *train*
statistics, so validation never leaks into the scaling. A user's CSV goes through the same
split and scaling (``landscapes.models.csv_data``).

The toy generators are written here in numpy rather than called from ``sklearn.datasets``:
that import costs ~1 s, too much for an app rerun. Moons and circles follow scikit-learn's
geometry (``make_moons``, ``make_circles``). The bundled tables (iris, wine, breast cancer,
digits) ship inside scikit-learn's wheel and load offline; ``sklearn.datasets`` is imported
only when one of them is asked for. ``fetch_*`` (downloads) is never used.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from common.params import Interval, Param, lookup, validate

# ---- limits: every size a user (or a CSV file) can ask for ----------------------------------
MAX_POINTS = 20_000  # points drawn by a generator
MAX_CSV_BYTES = 5_000_000  # size of an uploaded CSV file
MAX_ROWS = 20_000  # data rows of a CSV file
MIN_ROWS = 10  # fewer leave nothing to split
MAX_FEATURES = 64  # feature columns (digits has 64)
MAX_CLASSES = 20  # distinct labels
MAX_VAL_FRACTION = 0.5

POINTS = Param("n_points", 500, Interval(MIN_ROWS, MAX_POINTS, integer=True), "points drawn")
SPLIT = (
    Param("val_fraction", 0.2, Interval(0.0, MAX_VAL_FRACTION), "share held out for validation"),
    Param("seed", 0, Interval(0, 2**32 - 1, integer=True), "seed of the points and the split"),
)


@dataclass(frozen=True, eq=False)
class Dataset:
    """A classification data set, split and standardised (train mean 0, train std 1)."""

    name: str
    x_train: np.ndarray  # (n_train, n_features) float64, standardised
    y_train: np.ndarray  # (n_train,) int64 labels in [0, n_classes)
    x_val: np.ndarray  # (n_val, n_features), scaled with the train statistics
    y_val: np.ndarray  # (n_val,)
    feature_names: tuple[str, ...]
    class_names: tuple[str, ...]
    mean: np.ndarray  # (n_features,) train mean of the raw features
    scale: np.ndarray  # (n_features,) train std of the raw features (1 where constant)
    train_rows: np.ndarray  # (n_train,) which raw rows, in order, became x_train
    val_rows: np.ndarray  # (n_val,) and x_val (an export rebuilds a bundled table from them)

    @property
    def n_features(self) -> int:
        return self.x_train.shape[1]

    @property
    def n_classes(self) -> int:
        return len(self.class_names)


@dataclass(frozen=True)
class DataDef:
    name: str  # the registry key
    params: tuple[Param, ...]  # the generator's own parameters (empty for bundled tables)
    load: Callable  # (rng, **params) -> (x (n, d), y (n,) ints, feature names, class names)
    description: str
    sklearn_loader: str = ""  # a bundled table's sklearn.datasets function ("" for generators)


def make_dataset(name: str, **values) -> Dataset:
    """The data set ``name`` with its parameters and ``val_fraction`` / ``seed`` checked once
    (raises ValueError naming the parameter, the allowed values and the bad value)."""
    entry = lookup("data set", DATASETS, name)
    p = validate(name, entry.params + SPLIT, values)
    rng = np.random.default_rng(p["seed"])
    own = {k: p[k] for k in (q.name for q in entry.params)}
    x, y, features, classes = entry.load(rng, **own)
    return split_and_scale(name, x, y, features, classes, p["val_fraction"], rng)


def split_and_scale(name, x, y, features, classes, val_fraction, rng) -> Dataset:
    """Stratified split (each class keeps at least one training point), then standardise."""
    val = np.zeros(len(y), dtype=bool)
    for label in range(len(classes)):
        members = rng.permutation(np.flatnonzero(y == label))
        n_val = min(round(val_fraction * len(members)), len(members) - 1)
        val[members[: max(n_val, 0)]] = True
    train_idx = rng.permutation(np.flatnonzero(~val))
    val_idx = rng.permutation(np.flatnonzero(val))
    x = np.asarray(x, dtype=np.float64)
    mean = x[train_idx].mean(axis=0)
    std = x[train_idx].std(axis=0)
    scale = np.where(std > 0, std, 1.0)
    return Dataset(
        name=name,
        x_train=(x[train_idx] - mean) / scale,
        y_train=np.asarray(y, dtype=np.int64)[train_idx],
        x_val=(x[val_idx] - mean) / scale,
        y_val=np.asarray(y, dtype=np.int64)[val_idx],
        feature_names=tuple(features),
        class_names=tuple(classes),
        mean=mean,
        scale=scale,
        train_rows=train_idx,
        val_rows=val_idx,
    )


# ---- toy generators ------------------------------------------------------------------------


def _class_sizes(n: int, classes: int) -> list[int]:
    return [n // classes + (k < n % classes) for k in range(classes)]


def _labelled(parts: list[np.ndarray], rng, noise: float):
    x = np.concatenate(parts)
    y = np.concatenate([np.full(len(p), k) for k, p in enumerate(parts)])
    x = x + noise * rng.standard_normal(x.shape)
    names = tuple(f"class {k}" for k in range(len(parts)))
    return x, y, ("x1", "x2"), names


def _moons(rng, n_points, noise):
    n_out, n_in = _class_sizes(n_points, 2)
    t_out, t_in = np.linspace(0, np.pi, n_out), np.linspace(0, np.pi, n_in)
    outer = np.column_stack([np.cos(t_out), np.sin(t_out)])
    inner = np.column_stack([1 - np.cos(t_in), 1 - np.sin(t_in) - 0.5])
    return _labelled([outer, inner], rng, noise)


def _circles(rng, n_points, noise, factor):
    n_out, n_in = _class_sizes(n_points, 2)
    # endpoint=False: the circle's first and last points would coincide
    t_out = np.linspace(0, 2 * np.pi, n_out, endpoint=False)
    t_in = np.linspace(0, 2 * np.pi, n_in, endpoint=False)
    outer = np.column_stack([np.cos(t_out), np.sin(t_out)])
    inner = factor * np.column_stack([np.cos(t_in), np.sin(t_in)])
    return _labelled([outer, inner], rng, noise)


def _spirals(rng, n_points, noise, n_classes, turns):
    """Interleaved arms r(cos, sin)(2π·turns·r + 2πk/C), r from the centre out to 1."""
    arms = []
    for k, n in enumerate(_class_sizes(n_points, n_classes)):
        r = np.linspace(0.05, 1.0, n)
        angle = 2 * np.pi * (turns * r + k / n_classes)
        arms.append(np.column_stack([r * np.cos(angle), r * np.sin(angle)]))
    return _labelled(arms, rng, noise)


def _xor(rng, n_points, noise):
    """Uniform points in the square, labelled by the sign of x1·x2 before the noise."""
    x = rng.uniform(-1, 1, (n_points, 2))
    same_sign = x[:, 0] * x[:, 1] > 0
    return _labelled([x[~same_sign], x[same_sign]], rng, noise)


def _blobs(rng, n_points, noise, n_classes):
    """Gaussian blobs (std ``noise``) around centres drawn uniformly in [-5, 5]²."""
    centres = rng.uniform(-5, 5, (n_classes, 2))
    sizes = _class_sizes(n_points, n_classes)
    return _labelled([np.tile(c, (n, 1)) for c, n in zip(centres, sizes, strict=True)], rng, noise)


def _bundled(loader_name: str) -> Callable:
    def load(rng):
        from sklearn import datasets  # ~1 s: only when a bundled table is asked for

        bunch = getattr(datasets, loader_name)()
        features = tuple(str(f) for f in bunch.feature_names)
        return bunch.data, bunch.target, features, tuple(str(c) for c in bunch.target_names)

    return load


def _table(name: str, loader_name: str, description: str) -> DataDef:
    return DataDef(name, (), _bundled(loader_name), description, loader_name)


def _noise(default: float) -> Param:
    return Param("noise", default, Interval(0.0, 5.0), "std of Gaussian noise on the points")


def _classes(default: int, high: int) -> Param:
    return Param("n_classes", default, Interval(2, high, integer=True), "number of classes")


DATASETS: dict[str, DataDef] = {
    d.name: d
    for d in (
        DataDef("moons", (POINTS, _noise(0.2)), _moons, "Two interleaved half circles."),
        DataDef(
            "circles",
            (
                POINTS,
                _noise(0.1),
                Param("factor", 0.5, Interval(0.0, 1.0, "neither"), "inner / outer radius"),
            ),
            _circles,
            "A ring around a disc: no straight line separates them.",
        ),
        DataDef(
            "spirals",
            (
                POINTS,
                _noise(0.05),
                _classes(2, 6),
                Param("turns", 1.0, Interval(0.25, 3.0), "turns of each arm"),
            ),
            _spirals,
            "Interleaved spiral arms: hard for a small network, more so with more turns.",
        ),
        DataDef("xor", (POINTS, _noise(0.1)), _xor, "Four quadrants, opposite ones alike."),
        DataDef(
            "blobs",
            (POINTS, _noise(1.0), _classes(3, MAX_CLASSES)),
            _blobs,
            "Gaussian clusters, one per class: nearly linearly separable.",
        ),
        _table("iris", "load_iris", "150 irises, 4 measurements, 3 species."),
        _table("wine", "load_wine", "178 wines, 13 chemical measurements, 3 cultivars."),
        _table(
            "breast_cancer",
            "load_breast_cancer",
            "569 tumours, 30 cell-nucleus features, malignant or benign.",
        ),
        _table("digits", "load_digits", "1797 8x8 images of digits, 10 classes."),
    )
}

TWO_D = tuple(n for n, d in DATASETS.items() if d.params)  # the generators: points in a plane
