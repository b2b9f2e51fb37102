"""The model mode's parts: data sets, CSV files, the MLP's gradient, and loss planes."""

import numpy as np
import pytest
import torch

from landscapes.models import DATASETS, MLP, dataset_from_csv, make_dataset
from landscapes.models.data import MAX_CLASSES, MAX_CSV_BYTES, MAX_ROWS
from landscapes.models.mlp import dropout_masks
from landscapes.models.plane import (
    filter_normalised_direction,
    pca_directions,
    pca_plane,
    plane_loss,
    project,
    random_plane,
)

# ---- data -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [n for n, d in DATASETS.items() if d.params])
def test_generators_are_seeded_split_and_standardised(name):
    data = make_dataset(name, n_points=200, seed=4)
    again = make_dataset(name, n_points=200, seed=4)
    other = make_dataset(name, n_points=200, seed=5)
    np.testing.assert_array_equal(data.x_train, again.x_train)
    assert not np.array_equal(data.x_train, other.x_train)
    assert len(data.y_train) + len(data.y_val) == 200 and len(data.y_val) == pytest.approx(
        40, abs=2
    )
    np.testing.assert_allclose(data.x_train.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(data.x_train.std(0), 1, rtol=1e-12)
    assert set(np.unique(data.y_val)) == set(range(data.n_classes))  # stratified


def test_validation_is_scaled_with_train_statistics():
    data = make_dataset("blobs", n_points=300, noise=0.5, n_classes=4, val_fraction=0.5)
    raw_val = data.x_val * data.scale + data.mean
    assert not np.allclose(raw_val.mean(0), data.mean)  # not its own statistics
    assert data.n_classes == 4 and data.class_names[0] == "class 0"


def test_bundled_tables_load_offline():
    data = make_dataset("iris", val_fraction=0.2, seed=1)
    assert data.n_features == 4 and data.n_classes == 3 and len(data.y_train) == 120
    assert data.class_names == ("setosa", "versicolor", "virginica")


def test_bad_parameters_name_the_parameter_and_value():
    with pytest.raises(ValueError, match="moons: 'n_points' must be an integer in .*; got 3"):
        make_dataset("moons", n_points=3)
    with pytest.raises(ValueError, match="iris: unknown parameter 'noise'"):
        make_dataset("iris", noise=0.1)
    with pytest.raises(ValueError, match="unknown data set 'mnist'"):
        make_dataset("mnist")


# ---- CSV ------------------------------------------------------------------------------------

ROWS = "a,b,species\n" + "".join(
    f"{i},{i % 7 * 0.5},{'yes' if i % 3 else 'no'}\n" for i in range(40)
)


def test_csv_reads_features_and_labels():
    data = dataset_from_csv(ROWS.encode(), val_fraction=0.25, seed=2)
    assert data.feature_names == ("a", "b") and data.class_names == ("no", "yes")
    assert len(data.y_train) + len(data.y_val) == 40
    by_name = dataset_from_csv(ROWS.replace(",", ";"), label_column="species")
    assert by_name.feature_names == ("a", "b")
    numeric = dataset_from_csv("".join(f"{i % 5},{i},{i % 10}\n" for i in range(30)), 0)
    assert numeric.class_names == ("0", "1", "2", "3", "4") and numeric.n_features == 2


@pytest.mark.parametrize(
    "text, message",
    [
        (ROWS.replace("\n5,", "\n5x,"), r"row 7, column 'a': '5x' is not a finite number"),
        (ROWS.replace("\n6,", "\nnan,"), r"row 8, column 'a': 'nan' is not a finite number"),
        (ROWS.replace("\n8,", "\n,"), r"row 10, column 'a': the cell is empty"),
        (ROWS + "1,2\n", r"row 42 has 2 fields; expected 3"),
        (ROWS.replace(",no\n", ",\n", 1), r"row 2, label column 'species': empty label"),
        ("x\n" + "1\n" * 20, "one column only"),
        ("", "the file is empty"),
        (b"a,b\n\xff\xfe", "not UTF-8"),
        ("a,y\n" + "".join(f"{i},{i}\n" for i in range(30)), "30 distinct values; 2 to 20"),
        ("a,y\n1,0\n2,1\n", "2 data rows"),
    ],
)
def test_bad_csv_files_are_named_precisely(text, message):
    with pytest.raises(ValueError, match=message):
        dataset_from_csv(text)


def test_csv_limits():
    with pytest.raises(ValueError, match=f"limit is {MAX_CSV_BYTES:,}"):
        dataset_from_csv(b"1,0\n" * (MAX_CSV_BYTES // 4 + 1))
    with pytest.raises(ValueError, match=f"more than {MAX_ROWS:,} data rows"):
        dataset_from_csv("1,0\n2,1\n" * (MAX_ROWS // 2 + 1))
    with pytest.raises(ValueError, match=f"2 to {MAX_CLASSES} classes"):
        dataset_from_csv("".join(f"{i},{i % 21}\n" for i in range(60)))
    with pytest.raises(ValueError, match="no column named 'label'"):
        dataset_from_csv(ROWS, label_column="label")
    with pytest.raises(ValueError, match=r"'label_column' must be .*; got 3"):
        dataset_from_csv(ROWS, label_column=3)


# ---- the MLP --------------------------------------------------------------------------------


@pytest.mark.parametrize("activation", ["tanh", "relu", "gelu"])
@pytest.mark.parametrize("depth", [0, 1, 3])
def test_hand_written_gradient_equals_autograd(activation, depth):
    model = MLP(3, 4, depth=depth, width=6, activation=activation, dropout=0.2)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(25, 3, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 4, (25,), generator=gen)
    theta = torch.as_tensor(np.stack([model.init(s) for s in range(3)]))
    for masks in (None, dropout_masks(model, 25, gen, torch.float64, "cpu")):
        loss, grad, _ = model.loss_and_grad(theta, x, y, masks)
        leaf = theta.clone().requires_grad_(True)
        logits, _ = model.forward(leaf, x, masks)
        expected = torch.nn.functional.cross_entropy(
            logits.transpose(1, 2), y.expand(3, -1), reduction="none"
        ).mean(1)
        expected.sum().backward()
        torch.testing.assert_close(loss, expected.detach(), rtol=1e-14, atol=0)
        torch.testing.assert_close(grad, leaf.grad, rtol=1e-12, atol=1e-15)


def test_flat_layout_is_torchs_parameter_order():
    model = MLP(2, 3, depth=2, width=5)
    assert [L.shape for L in model.layers] == [(5, 2), (5, 5), (3, 5)]
    assert model.n_params == sum(p.numel() for p in model.torch_module().parameters())
    with pytest.raises(ValueError, match="'activation' must be one of"):
        MLP(activation="sigmoid")


# ---- loss planes ----------------------------------------------------------------------------

DATA = make_dataset("moons", n_points=150)
MODEL = MLP(2, 2, depth=1, width=6)


def _paths(seed=0):
    """Three fake racers' paths from the common start (R, S, P)."""
    rng = np.random.default_rng(seed)
    start = MODEL.init(0)
    steps = np.cumsum(0.05 * rng.standard_normal((3, 10, MODEL.n_params)), axis=1)
    return start, np.concatenate([np.tile(start, (3, 1, 1)), start + steps], axis=1)


def _loss64(theta):
    x, y = torch.as_tensor(DATA.x_train), torch.as_tensor(DATA.y_train)
    return float(MODEL.loss(torch.as_tensor(theta)[None], x, y)[0])


def test_pca_directions_are_orthonormal_and_projection_inverts_the_plane():
    start, paths = _paths()
    d1, d2, explained = pca_directions(paths, start)
    basis = np.stack([d1, d2])
    np.testing.assert_allclose(basis @ basis.T, np.eye(2), atol=1e-12)
    assert 0 < explained[1] <= explained[0] < 1
    coords = np.array([[0.3, -1.2], [2.0, 0.5]])
    points = start + coords[:, :1] * d1 + coords[:, 1:] * d2
    np.testing.assert_allclose(project(points, start, d1, d2), coords, atol=1e-12)


def test_filter_normalised_rows_have_the_weights_norms():
    weights = _paths()[1][0, -1]
    d = filter_normalised_direction(MODEL, weights, np.random.default_rng(0))
    for layer in MODEL.layers:
        d_rows, w_rows = (v[layer.weight].reshape(layer.shape) for v in (d, weights))
        norms = np.linalg.norm(d_rows, axis=1), np.linalg.norm(w_rows, axis=1)
        np.testing.assert_allclose(*norms, rtol=1e-12)
        assert (d[layer.bias] == 0).all()


def test_plane_grid_equals_a_plain_loop_and_its_centre():
    start, paths = _paths()
    d1, d2, _ = pca_directions(paths, start)
    alphas, betas = np.linspace(-1, 2, 4), np.linspace(-0.5, 0.5, 3)
    x, y = torch.as_tensor(DATA.x_train), torch.as_tensor(DATA.y_train)
    grid = plane_loss(MODEL, x, y, start, d1, d2, alphas, betas, torch.float64)
    loop = [[_loss64(start + a * d1 + b * d2) for a in alphas] for b in betas]
    np.testing.assert_allclose(grid, loop, rtol=1e-12)
    centre = plane_loss(MODEL, x, y, start, d1, d2, [0.0], [0.0], torch.float64)
    assert centre[0, 0] == pytest.approx(_loss64(start), rel=1e-14)


def test_planes_centre_paths_and_float32_check():
    start, paths = _paths()
    pca = pca_plane(MODEL, DATA, paths, start, size=9)
    assert pca.loss.shape == (9, 9) and pca.paths.shape == (3, 11, 2)
    np.testing.assert_allclose(pca.paths[:, 0], 0, atol=1e-12)  # every path starts at the centre
    assert pca.alphas.min() < pca.paths[..., 0].min() and pca.paths[..., 1].max() < pca.betas.max()
    assert pca.float64_gap < 1e-5
    final = paths[1, -1]
    rand = random_plane(MODEL, DATA, final, paths, seed=3, size=5)
    assert rand.loss[2, 2] == pytest.approx(_loss64(final), rel=1e-5)
    np.testing.assert_allclose(rand.paths[1, -1], 0, atol=1e-9)
    assert rand.explained is None and rand.float64_gap < 1e-5
