"""Options shared by the built-in learners: how a network is trained, how a kernel is regressed."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, PositiveFloat, PositiveInt

from .._plugins import LearnerOptions


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SGDOptions(_Strict):
    name: Literal["sgd"]
    learning_rate: NonNegativeFloat
    """0 freezes the network (a baseline for kernel dynamics)."""
    momentum: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    nesterov: bool = False


class AdamOptions(_Strict):
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
    steps: PositiveInt = 2000
    loss: Literal["mse", "cross_entropy"] = "mse"
    """`mse`: half the squared error to one-hot targets (the NTK's loss); `cross_entropy` on logits."""
    center: bool = False
    """Train and predict with `f(x) - f_init(x)`: removes the random function the network starts
    from, so that at infinite width the trained network is exactly kernel ridge regression with
    its NTK (which is how the kernel learners predict). Off: the network as usually trained."""


class KernelRidgeOptions(LearnerOptions):
    ridge: NonNegativeFloat = 1e-6
    """Ridge relative to the mean diagonal of the training kernel."""


class EmpiricalNTKOptions(KernelRidgeOptions):
    performance_only: ClassVar[frozenset[str]] = frozenset({"implementation"})

    implementation: Literal["auto", 1, 2, 3] = "auto"
    """neural-tangents' empirical NTK implementation: 1 Jacobian contraction, 2 NTK-vector
    products, 3 structured derivatives; `auto` times the three on a small batch once per
    network shape and takes the fastest. They agree to float round-off, so this option does not
    enter the key of a result."""
