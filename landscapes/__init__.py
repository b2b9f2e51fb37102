"""What is being minimised: analytic surfaces (and, later, user formulas and small models)."""

import common  # noqa: F401  (first: fixes Numba's threading layer and cache dir)
from landscapes.surfaces import SURFACES, Surface, get_surface, surface_args

__all__ = ["SURFACES", "Surface", "get_surface", "surface_args"]
