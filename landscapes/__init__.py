"""What is being minimised: analytic surfaces (and, later, user formulas and small models)."""

import common  # noqa: F401  (first: fixes Numba's threading layer and cache dir)
from landscapes.surfaces import SURFACES, Surface, get_surface, surface_args

__all__ = ["CUSTOM", "SURFACES", "Surface", "get_surface", "resolve_surface", "surface_args"]


def resolve_surface(name: str, formula: str = "", domain=None) -> Surface:
    """A registered surface by name, or ``name == "custom"``: the user's formula compiled."""
    if name == CUSTOM:
        from landscapes.formula import compile_formula

        if not formula:
            raise ValueError("custom surface: 'formula' is empty; type f(x, y), e.g. x^2 + 3*y^2")
        return compile_formula(formula, domain) if domain else compile_formula(formula)
    return get_surface(name)


CUSTOM = "custom"
