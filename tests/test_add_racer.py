"""What ＋ Add races: a different optimizer each time, with settings that make progress."""

import pytest

from landscapes import SURFACES
from optim_core.config import Racer
from optim_core.engines import numba_engine
from optim_core.optimizers import OPTIMIZERS
from optim_core.spec import RunSpec, thaw_dict
from ui.sidebar import next_racer

# Steep (Goldstein-Price) and unbounded (the saddles) surfaces have no lr safe for every start.
SURFACE_NAMES = ["rosenbrock", "himmelblau", "booth", "beale", "six_hump_camel", "bowl",
                 "double_well", "styblinski_tang"]  # fmt: skip


def test_add_brings_the_first_optimizer_not_racing():
    racing = [Racer("SGD"), Racer("Adam"), Racer("RMSprop")]
    added = next_racer(racing, SURFACES["rosenbrock"])
    assert added.optimizer == next(n for n in OPTIMIZERS if n not in ("SGD", "Adam", "RMSprop"))


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_an_added_racer_makes_progress_on_the_built_in_surfaces(name):
    others = [Racer(n) for n in OPTIMIZERS if n != name]
    for surface_name in SURFACE_NAMES:
        racer = next_racer(others, SURFACES[surface_name])
        assert racer.optimizer == name
        spec = RunSpec.from_dict({"surface": surface_name, "optimizer": name, "steps": 500,
                                  "hyperparameters": thaw_dict(racer.hyperparameters)})  # fmt: skip
        t = numba_engine.run(spec)
        surface = SURFACES[surface_name]
        assert not t.diverged, (name, surface_name)
        (x0, x1), (y0, y1) = surface.domain
        near = t.distance_to([*surface.minima, *surface.local_minima]) < 0.05 * max(
            x1 - x0, y1 - y0
        )
        halved = t.final_loss - surface.f_min < 0.5 * (t.loss[0] - surface.f_min)
        assert near or halved, (name, surface_name)
