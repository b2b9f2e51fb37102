"""The model mode: racers trained together on a small model (``landscapes.models``)."""

from .result import EARLY_STOPPED, DecisionFrames, ModelRace
from .spec import Racer, TrainConfig
from .train import minibatches, train

__all__ = ["EARLY_STOPPED", "DecisionFrames", "ModelRace", "Racer", "TrainConfig"]
__all__ += ["minibatches", "train"]
