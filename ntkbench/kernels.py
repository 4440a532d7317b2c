"""Kernel tools for plugin authors: evaluate kernels in tiles, the infinite and empirical NTK,
kernel ridge regression of a cell, and the empirical NTK followed through training (`kernel_trajectory`).

A learner that is "a kernel" only has to supply the kernel function:

>>> def fit_predict(self, task):                                # doctest: +SKIP
...     from ntkbench.kernels import regress_with_kernel
...     return regress_with_kernel(my_kernel_fn, task, self.options.ridge)

This module imports jax; import it inside plugin methods, not at the top of a plugin module.
"""

from .numerics._dynamics import kernel_trajectory as kernel_trajectory
from .numerics._kernel_identity import empirical_kernel_description as empirical_kernel_description
from .numerics._kernel_identity import infinite_kernel_description as infinite_kernel_description
from .numerics._kernel_regression import empirical_ntk_kernel as empirical_ntk_kernel
from .numerics._kernel_regression import regress_with_empirical_ntk as regress_with_empirical_ntk
from .numerics._kernel_regression import regress_with_features as regress_with_features
from .numerics._kernel_regression import regress_with_kernel as regress_with_kernel
from .numerics._kernel_ridge import KernelRidgeFit as KernelRidgeFit
from .numerics._kernel_ridge import kernel_ridge_predict as kernel_ridge_predict
from .numerics._kernel_ridge import one_hot as one_hot
from .numerics._kernels import BlockKernel as BlockKernel
from .numerics._kernels import architecture_kernel_fn as architecture_kernel_fn
from .numerics._kernels import empirical_ntk as empirical_ntk
from .numerics._kernels import empirical_ntk_key as empirical_ntk_key
from .numerics._kernels import evaluate_tiled as evaluate_tiled
from .numerics._kernels import infinite_kernel_fn as infinite_kernel_fn

__all__ = [
    "kernel_trajectory",
    "empirical_kernel_description",
    "infinite_kernel_description",
    "empirical_ntk_kernel",
    "regress_with_empirical_ntk",
    "regress_with_features",
    "regress_with_kernel",
    "KernelRidgeFit",
    "kernel_ridge_predict",
    "one_hot",
    "BlockKernel",
    "architecture_kernel_fn",
    "empirical_ntk",
    "empirical_ntk_key",
    "evaluate_tiled",
    "infinite_kernel_fn",
]
