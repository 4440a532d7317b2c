"""How a network is trained: the options of `train_network`, shared by every learner that trains one."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, NonNegativeFloat, PositiveFloat, PositiveInt

from ..api import LearnerOptions, StrictModel

MAX_STEPS = 10_000_000
"""More minibatch steps than this are refused: days of training per cell even on a GPU."""


class SGDOptions(StrictModel):
    name: Literal["sgd"]
    learning_rate: NonNegativeFloat
    """0 freezes the network (a baseline for kernel dynamics)."""
    momentum: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    nesterov: bool = False


class AdamOptions(StrictModel):
    name: Literal["adam"]
    learning_rate: PositiveFloat = 1e-3
    b1: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.9
    b2: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.999


OptimizerOptions = Annotated[SGDOptions | AdamOptions, Field(discriminator="name")]


class TrainingOptions(LearnerOptions):
    """How the network is trained: a fixed number of minibatch steps of an optax optimizer."""

    optimizer: OptimizerOptions = SGDOptions(name="sgd", learning_rate=0.5, momentum=0.9)
    batch_size: PositiveInt = 128
    """Minibatch size; a training set smaller than this is used whole at every step."""
    steps: Annotated[int, Field(gt=0, le=MAX_STEPS)] = 2000
    loss: Literal["mse", "cross_entropy"] = "mse"
    """`mse`: half the squared error to one-hot targets (the NTK's loss); `cross_entropy` on logits."""
    center: bool = False
    """Train and predict with `f(x) - f_init(x)`: removes the random function the network starts
    from, so that at infinite width the trained network is exactly kernel ridge regression with
    its NTK (which is how the kernel learners predict). Off: the network as usually trained."""
