"""The optimizer registry: one definition per optimizer, keyed by its torch.optim class name."""

from common.params import lookup, validate

from .adam import Adam, Adamax, AdamW, NAdam, RAdam
from .adaptive import Adadelta, Adagrad, RMSprop
from .base import N_STATE, OptimizerDef, momentum_value
from .sgd import SGD, Lion

OPTIMIZERS: dict[str, OptimizerDef] = {
    o.name: o for o in (SGD, Adagrad, RMSprop, Adadelta, Adam, AdamW, NAdam, RAdam, Adamax, Lion)
}


def get_optimizer(name: str) -> OptimizerDef:
    return lookup("optimizer", OPTIMIZERS, name)


def check_hyperparameters(name: str, values: dict) -> dict:
    """Validated hyperparameters with torch's defaults filled in (raises ValueError)."""
    opt = get_optimizer(name)
    h = validate(name, opt.params, values)
    if opt.check:
        h = opt.check(h)
    return h


__all__ = ["N_STATE", "OPTIMIZERS", "OptimizerDef", "check_hyperparameters", "get_optimizer"]
__all__ += ["momentum_value"]
