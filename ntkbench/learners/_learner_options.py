"""Options shared by the built-in kernel learners: how a kernel is regressed."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import field_validator, model_validator

from ..api import KernelRidgeOptions, TrainingOptions


def ridge_count(options: KernelRidgeOptions) -> int:
    """How many ridges a cell tries (factorisations, for cost estimates)."""
    ridges = options.ridges()
    return len(ridges) if isinstance(ridges, tuple) else 1


class EmpiricalNTKOptions(KernelRidgeOptions):
    performance_only: ClassVar[frozenset[str]] = KernelRidgeOptions.performance_only | {"implementation"}
    omitted_at_default: ClassVar[frozenset[str]] = KernelRidgeOptions.omitted_at_default | {"contraction"}

    contraction: Literal["trace", "sum_logits"] = "trace"
    """How the kernel contracts the network's logits: `trace`, the mean over logits of their
    Jacobians' products (the kernel the infinite NTK is compared with); `sum_logits`, the kernel
    of the summed logits over sqrt(num_classes) (Mohamadi et al. 2022), about num_classes times
    cheaper, equal to `trace` only where the logits' Jacobians are uncorrelated. It changes the
    result, so it enters the key of a result (omitted at `trace`, which keeps earlier keys)."""

    implementation: Literal["auto", "native", 1, 2, 3] = "auto"
    """How the empirical NTK is computed: `native`, ntkbench's own from the network's layer
    descriptions (each weighted layer's inputs and cotangents, computed once per example; any jax;
    networks of `ntkbench.layers` without batch norm); or one of neural-tangents' strategies, 1
    Jacobian contraction, 2 NTK-vector products, 3 structured derivatives (not on jax >= 0.6).
    `auto` takes `native` where it applies, else times those the installed jax allows, leaving out
    any with over 4x the fewest FLOPs, on a small batch once per network shape, and takes the
    fastest. They agree to float round-off, so this option does not enter the key of a result."""

    @field_validator("implementation")
    @classmethod
    def _implementation_works(cls, implementation: str | int) -> str | int:
        from ..nt_compat import implementation_problem

        if implementation not in ("auto", "native") and (problem := implementation_problem(implementation)) is not None:
            raise ValueError(problem)
        return implementation


class OneLearningRate(TrainingOptions):
    """The training of a learner that takes a kernel from a trained network: at one learning rate
    (only network learners choose one from a list)."""

    @model_validator(mode="after")
    def _one_rate(self) -> OneLearningRate:
        if self.learning_rates() is not None:
            raise ValueError("a list of learning rates is chosen on validation data by network learners; give one rate")
        if self.patience is not None:
            raise ValueError("early stopping on validation data (`patience`) is for network learners")
        return self
