"""Small real models as landscapes: data sets, an MLP over flat weight vectors, loss planes."""

from .csv_data import dataset_from_csv
from .data import DATASETS, Dataset, make_dataset
from .hessian import top_hessian_eigenvalue
from .mlp import MLP
from .plane import LossPlane, pca_plane, random_plane

__all__ = ["DATASETS", "MLP", "Dataset", "LossPlane", "dataset_from_csv", "make_dataset"]
__all__ += ["pca_plane", "random_plane", "top_hessian_eigenvalue"]
