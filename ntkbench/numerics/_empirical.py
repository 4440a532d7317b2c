"""The empirical NTK of a network between two batches, natively: by contracting per-example
Jacobians (implementation 1) or from NTK-vector products (implementation 2), the two of
neural-tangents' `empirical_ntk_fn` strategies that work on current jax.

`apply(params, x)` maps ONE input to its logits `(C,)`; the kernel is the mean over the logits
of `J_c(x1) J_c(x2)^T` (neural-tangents' `trace_axes=(-1,)`), summed over every parameter array.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

Apply = Callable[[Any, jax.Array], jax.Array]


def _logits(apply: Apply, params: Any, x: jax.Array) -> int:
    """How many logits `apply` gives for one input like those of `x` (from shapes alone)."""
    return jax.eval_shape(apply, params, jax.ShapeDtypeStruct(x.shape[1:], x.dtype)).shape[-1]


def jacobian_contraction(apply: Apply, params: Any, x1: jax.Array, x2: jax.Array) -> jax.Array:
    """Each example's Jacobian `(C, parameters)` for both batches, contracted: one matrix product
    per parameter array."""

    def jacobians(x: jax.Array) -> Any:
        return jax.vmap(jax.jacrev(apply), in_axes=(None, 0))(params, x)

    first, second = jacobians(x1), jacobians(x2)

    def contract(a: jax.Array, b: jax.Array) -> jax.Array:
        a, b = a.reshape(a.shape[0], a.shape[1], -1), b.reshape(b.shape[0], b.shape[1], -1)
        return jnp.einsum("acp,bcp->ab", a, b)

    products = jax.tree.leaves(jax.tree.map(contract, first, second))
    return functools.reduce(operator.add, products) / _logits(apply, params, x1)


def ntk_vector_products(apply: Apply, params: Any, x1: jax.Array, x2: jax.Array) -> jax.Array:
    """Column by column: for each example of `x2` and each logit c, the cotangent `J_c(x2)^T`
    (a vector-Jacobian product of that one example) pushed forward through the network on all of
    `x1` (a Jacobian-vector product); no Jacobian is stored."""
    logits = _logits(apply, params, x1)

    def batch(p: Any) -> jax.Array:
        return jax.vmap(apply, in_axes=(None, 0))(p, x1)

    def column(x: jax.Array) -> jax.Array:
        _, pull = jax.vjp(lambda p: apply(p, x), params)

        def logit(c: jax.Array) -> jax.Array:
            (tangent,) = pull(jax.nn.one_hot(c, logits, dtype=x1.dtype))
            _, pushed = jax.jvp(batch, (params,), (tangent,))
            return pushed[:, c]

        return jnp.mean(jax.vmap(logit)(jnp.arange(logits)), axis=0)

    return jax.vmap(column)(x2).T
