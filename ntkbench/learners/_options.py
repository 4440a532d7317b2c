"""Options shared by the built-in kernel learners: how a kernel is regressed."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import NonNegativeFloat

from ..api import LearnerOptions


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
