"""Network training for plugin authors: the same optax loop and batched prediction the built-in
`network` learner uses, for modules and `StatefulModel`s alike, and the linearisation of a network
around its initial parameters (`Linearized`), trained the same way.

This module imports jax; import it inside plugin methods, not at the top of a plugin module.
"""

from .api import AdamOptions as AdamOptions
from .api import SGDOptions as SGDOptions
from .api import TrainingOptions as TrainingOptions
from .numerics._linearized import Linearized as Linearized
from .numerics._training import TrainingLog as TrainingLog
from .numerics._training_steps import TrainingMember as TrainingMember
from .numerics._training import choose_learning_rate as choose_learning_rate
from .numerics._prediction import predict as predict
from .numerics._training import train_choosing_learning_rate as train_choosing_learning_rate
from .numerics._training import train_network as train_network
from .numerics._training import train_networks as train_networks

__all__ = [
    "AdamOptions",
    "SGDOptions",
    "TrainingOptions",
    "Linearized",
    "TrainingLog",
    "TrainingMember",
    "choose_learning_rate",
    "predict",
    "train_choosing_learning_rate",
    "train_network",
    "train_networks",
]
