"""Cost estimates for plugin authors: what `ntkbench plan` counts for a learner's cell, the way the
built-in learners count theirs.

A learner's `estimate_cost(context)` returns a `CellCost`. A kernel learner describes its kernel as a
`KernelComputation` and lets `kernel_regression_cost` count the tiles, the factorisation and the
solves; a learner that trains a network counts its steps with `training_cost`; work done one after
the other adds up with `combine`:

>>> def estimate_cost(self, context):                               # doctest: +SKIP
...     from ntkbench.costs import KernelComputation, kernel_regression_cost
...     if not context.detailed:
...         return kernel_regression_cost(None, context)
...     kernel = KernelComputation(my_kernel_fn, (), name=("my_kernel", repr(self.options)))
...     return kernel_regression_cost(kernel, context)

The FLOPs are read from the computations' jaxprs without compiling them; a small instance of each is
timed while the plan's measuring time lasts. This module imports jax; import it inside plugin
methods, not at the top of a plugin module.
"""

from .numerics._costs import KernelComputation as KernelComputation
from .numerics._costs import combine as combine
from .numerics._costs import empirical_kernel as empirical_kernel
from .numerics._costs import initial_model as initial_model
from .numerics._costs import kernel_regression_cost as kernel_regression_cost
from .numerics._costs import parameter_count as parameter_count
from .numerics._costs import training_cost as training_cost

__all__ = [
    "KernelComputation",
    "combine",
    "empirical_kernel",
    "initial_model",
    "kernel_regression_cost",
    "parameter_count",
    "training_cost",
]
