"""The options models of plugins and of the spec: strict, immutable Pydantic models."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, NonNegativeInt, PositiveInt


class StrictModel(BaseModel):
    """A Pydantic model whose unknown keys are errors, whose values are immutable, and whose floats
    are finite (`.inf` and `.nan` in a spec are errors wherever a number is meant)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class PluginOptions(StrictModel):
    """Base of every plugin's options model: unknown keys are errors, values are immutable."""

    performance_only: ClassVar[frozenset[str]] = frozenset()
    """Options that change how fast a result is computed, not the result (up to round-off): they do
    not enter the key that decides whether a stored result is still valid."""
    omitted_at_default: ClassVar[frozenset[str]] = frozenset()
    """Options added after results existed: left out of the spec's canonical form (and so of every
    result key) while they have their default value, so that adding an option recomputes nothing.
    Those of every base class count (an options model may combine two)."""

    def canonical(self) -> dict[str, Any]:
        """The options as JSON values, without the `omitted_at_default` ones that have their default."""
        dumped = self.model_dump(mode="json")
        omitted = set().union(*(vars(base).get("omitted_at_default", ()) for base in type(self).__mro__))
        for name in omitted:
            if getattr(self, name) == type(self).model_fields[name].default:
                dumped.pop(name, None)
        return dumped


class DatasetOptions(PluginOptions):
    """Options every dataset accepts; a dataset plugin subclasses this."""

    omitted_at_default: ClassVar[frozenset[str]] = frozenset({"validation_n"})

    n_test: PositiveInt = 1000
    """Size of the fixed, class-balanced test set drawn from the official test split."""
    balanced: bool = False
    """Draw each seed's nested training sets class-balanced (round-robin over the classes)."""
    validation_n: NonNegativeInt = 0
    """Per seed, pool samples that no training, pre-training or test set contains, on which learners
    choose what the spec leaves to data (a ridge, a learning rate); 0: none."""


class ArchitectureOptions(PluginOptions):
    """Base of an architecture plugin's options."""


class LearnerOptions(PluginOptions):
    """Base of a learner plugin's options."""


RIDGE_GRID = tuple(10.0 ** (k * (9 / 11) - 8) for k in range(11)) + (10.0,)
"""The ridges `ridge: auto` chooses from (relative to the mean diagonal): 12 values, log-spaced from 1e-8 to 10."""


class KernelRidgeOptions(LearnerOptions):
    """Options of a learner that regresses with a kernel (or on features): its ridge, one value or
    candidates chosen per n on validation data, and how the regularised kernel is solved. Pass
    `ridges()` to `ntkbench.kernels.regress_with_kernel` or `regress_with_features`, and
    `solver` and `solver_tolerance` to `regress_with_kernel`."""

    performance_only: ClassVar[frozenset[str]] = frozenset({"solver", "solver_tolerance"})
    omitted_at_default: ClassVar[frozenset[str]] = frozenset({"solver", "solver_tolerance"})

    ridge: NonNegativeFloat | Literal["auto"] | Annotated[tuple[NonNegativeFloat, ...], Field(min_length=1)] = 1e-6
    """Ridge relative to the mean diagonal of the training kernel; or `auto` (`RIDGE_GRID`) or a list,
    from which the ridge with the lowest validation error is chosen per n (needs `dataset.validation_n`)."""
    solver: Literal["auto", "cholesky", "cg"] = "auto"
    """How `(K + λI) W = Y` is solved: `cholesky`, a factorisation in float64; `cg`, preconditioned
    conjugate gradients over the float32 kernel (a Nyström preconditioner), which never holds an
    n x n float64 array; `auto`: `cg` where the factor would not fit the memory budget. They agree
    to `solver_tolerance`, so neither enters a result's key."""
    solver_tolerance: Annotated[float, Field(gt=0, lt=1)] = 1e-8
    """`cg`'s relative residual at which it stops."""

    def ridges(self) -> float | tuple[float, ...]:
        """The one ridge, or the candidates to choose from on validation data."""
        if self.ridge == "auto":
            return RIDGE_GRID
        return self.ridge if isinstance(self.ridge, float) else tuple(sorted(set(self.ridge)))

    def chooses_ridge(self) -> bool:
        """Whether the ridge is chosen on validation data (the learner's `needs_validation`)."""
        return isinstance(self.ridges(), tuple)
