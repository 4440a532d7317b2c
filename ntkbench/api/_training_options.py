"""How a network is trained: the options of `train_network`, shared by every learner that trains one."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, NonNegativeFloat, PositiveFloat, PositiveInt, model_validator

from ._architecture import Architecture
from ._options import LearnerOptions, StrictModel

MAX_STEPS = 10_000_000
"""More minibatch steps than this are refused: days of training per cell even on a GPU."""


LearningRates = Annotated[tuple[NonNegativeFloat, ...], Field(min_length=1)]
"""Learning rates to try, one training each; the one with the lowest validation error is kept per n."""


class SGDOptions(StrictModel):
    name: Literal["sgd"]
    learning_rate: NonNegativeFloat | LearningRates
    """0 freezes the network (a baseline for kernel dynamics); a list is chosen from on validation data."""
    momentum: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    nesterov: bool = False


class AdamOptions(StrictModel):
    name: Literal["adam"]
    learning_rate: PositiveFloat | Annotated[tuple[PositiveFloat, ...], Field(min_length=1)] = 1e-3
    b1: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.9
    b2: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.999


OptimizerOptions = Annotated[SGDOptions | AdamOptions, Field(discriminator="name")]


class ConstantSchedule(StrictModel):
    """The optimizer's learning rate throughout."""

    name: Literal["constant"]


class CosineSchedule(StrictModel):
    """Cosine decay from the learning rate to `final_fraction` of it over the training budget."""

    name: Literal["cosine"]
    final_fraction: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0


class WarmupCosineSchedule(StrictModel):
    """Linear warm-up from 0 over `warmup_steps`, then cosine decay to `final_fraction` at the end of the budget."""

    name: Literal["warmup_cosine"]
    warmup_steps: PositiveInt
    final_fraction: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0


class StepSchedule(StrictModel):
    """The learning rate multiplied by `factor` every `every` steps."""

    name: Literal["step"]
    every: PositiveInt
    factor: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.1


ScheduleOptions = Annotated[
    ConstantSchedule | CosineSchedule | WarmupCosineSchedule | StepSchedule, Field(discriminator="name")
]


class StoppingRule(StrictModel):
    """Train until the whole training set meets this: one of a train error or a train loss (the
    training objective, without weight decay) at or below the value."""

    train_error: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    train_loss: NonNegativeFloat | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> StoppingRule:
        if (self.train_error is None) == (self.train_loss is None):
            raise ValueError("give exactly one of train_error and train_loss")
        return self

    def met(self, train_error: float, train_loss: float) -> bool:
        if self.train_error is not None:
            return train_error <= self.train_error
        return train_loss <= self.train_loss

    def describe(self) -> str:
        return f"train error ≤ {self.train_error:g}" if self.train_error is not None else f"train loss ≤ {self.train_loss:g}"


class TrainingOptions(LearnerOptions):
    """How the network is trained: minibatch steps of an optax optimizer, for a budget of `steps`,
    of `epochs`, or `until` a stopping rule is met (at most `max_steps`)."""

    omitted_at_default: ClassVar[frozenset[str]] = frozenset(
        {"epochs", "until", "max_steps", "check_every", "patience", "schedule", "weight_decay"}
    )

    optimizer: OptimizerOptions = SGDOptions(name="sgd", learning_rate=0.5, momentum=0.9)
    batch_size: PositiveInt = 128
    """Minibatch size; a training set smaller than this is used whole at every step."""
    steps: Annotated[int, Field(gt=0, le=MAX_STEPS)] | None = 2000
    """A fixed number of minibatch steps at every n (the default budget; left out with `epochs` or `until`)."""
    epochs: Annotated[int, Field(gt=0, le=MAX_STEPS)] | None = None
    """Instead: this many passes over the training set (`epochs * floor(n / batch)` steps)."""
    until: StoppingRule | None = None
    """Instead: train until the training set meets this rule, checked every `check_every` steps."""
    max_steps: Annotated[int, Field(gt=0, le=MAX_STEPS)] | None = None
    """The cap of an `until` budget (required with it); a cell that reaches it unmet is recorded as not converged."""
    check_every: PositiveInt | None = None
    """Steps between checks of the `until` rule on the whole training set, and of the validation
    error for `patience` (default: once per epoch)."""
    patience: PositiveInt | None = None
    """Early stopping: stop once the validation error has not fallen below its lowest value for this
    many checks in a row, and keep the first network that reached the lowest (needs `dataset.validation_n`)."""
    schedule: ScheduleOptions = ConstantSchedule(name="constant")
    """The learning-rate schedule over the budget (`max_steps` for an `until` budget)."""
    weight_decay: NonNegativeFloat = 0.0
    """Decoupled weight decay (adamw with adam; added to the gradient with sgd)."""
    loss: Literal["mse", "cross_entropy"] = "mse"
    """`mse`: half the squared error to one-hot targets (the NTK's loss); `cross_entropy` on logits."""
    center: bool = False
    """Train and predict with `f(x) - f_init(x)`: removes the random function the network starts
    from, so that at infinite width the trained network is exactly kernel ridge regression with
    its NTK (which is how the kernel learners predict). Off: the network as usually trained."""

    @model_validator(mode="before")
    @classmethod
    def _one_budget(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        given = [key for key in ("steps", "epochs", "until") if data.get(key) is not None]
        if len(given) > 1:
            raise ValueError(f"give one training budget: {' and '.join(given)} are both set")
        if given and given[0] != "steps":
            data = {**data, "steps": None}
        if data.get("until") is not None and data.get("max_steps") is None:
            raise ValueError("`until` needs `max_steps`, the most steps a cell may take before it is called unconverged")
        if data.get("max_steps") is not None and data.get("until") is None:
            raise ValueError("`max_steps` belongs to an `until` budget")
        if data.get("check_every") is not None and data.get("until") is None and data.get("patience") is None:
            raise ValueError("`check_every` belongs to an `until` budget or to early stopping (`patience`)")
        return data

    def architecture_problem(self, architecture: Architecture) -> str | None:
        """Why this training cannot train `architecture` (its optimizer is not one the options allow), or None."""
        return architecture.optimizer_problem(self.optimizer.name)

    def needs_validation(self) -> bool:
        """Whether training needs validation samples: to choose a learning rate, or to stop early."""
        return self.learning_rates() is not None or self.patience is not None

    def learning_rates(self) -> tuple[float, ...] | None:
        """The learning rates to choose from on validation data, or None for one rate."""
        rate = self.optimizer.learning_rate
        return tuple(rate) if isinstance(rate, tuple) else None

    def at_learning_rate(self, rate: float) -> TrainingOptions:
        """These options with one learning rate."""
        return self.model_copy(update={"optimizer": self.optimizer.model_copy(update={"learning_rate": rate})})

    def step_budget(self, n: int) -> int:
        """The most minibatch steps a training set of n samples gets."""
        if self.steps is not None:
            return self.steps
        if self.epochs is not None:
            return self.epochs * steps_per_epoch(n, self.batch_size)
        return self.max_steps

    def budget(self) -> str:
        """The training budget in words, for records and the leaderboard."""
        if self.steps is not None:
            budget = f"{self.steps} steps"
        elif self.epochs is not None:
            budget = f"{self.epochs} epochs"
        else:
            budget = f"until {self.until.describe()} (at most {self.max_steps} steps)"
        if self.patience is not None:
            budget += f", stopped early after {self.patience} validation checks without a lower error"
        return budget


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Minibatch steps in one pass over n samples (the last, partial batch of an epoch is dropped)."""
    return max(1, n // min(batch_size, n))
