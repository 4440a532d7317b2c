"""The linearised network: the first-order Taylor expansion of a network at its initial parameters.

`f_lin(x; delta) = f(x; theta_0) + J(x; theta_0) delta`, with `delta` starting at zero. It is linear in
what training updates, so gradient descent on the squared loss drives it, at any width, to kernel
regression with the network's empirical NTK at initialisation (the full, logit-by-logit one): it
separates the finite time and the optimizer of training from the features a network learns.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp


class Linearized(eqx.Module):
    """`network(x) + J(x) delta`, the Jacobian taken at the network's parameters; only `delta` trains."""

    network: eqx.Module
    """The network at its initial parameters theta_0 (never updated)."""
    delta: Any
    """The displacement from theta_0: a pytree shaped like the network's inexact arrays (None elsewhere)."""

    def __init__(self, network: eqx.Module):
        self.network = network
        self.delta = jax.tree_util.tree_map(jnp.zeros_like, eqx.filter(network, eqx.is_inexact_array))

    def __call__(self, x: jax.Array) -> jax.Array:
        params, static = eqx.partition(self.network, eqx.is_inexact_array)
        frozen = jax.lax.stop_gradient(params)
        outputs, tangent = jax.jvp(lambda p: eqx.combine(p, static)(x), (frozen,), (self.delta,))
        return outputs + tangent

    def trainable_filter(self) -> Any:
        """What training updates: `delta` only; the network stays at its initial parameters."""
        spec = jax.tree_util.tree_map(lambda _: False, self)
        return eqx.tree_at(lambda module: module.delta, spec, replace=jax.tree_util.tree_map(lambda _: True, self.delta))
