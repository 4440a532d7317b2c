"""Applying a network to a batch, for stateless modules and for `StatefulModel`s (batch norm)."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax

from ..api import StatefulModel


def split_model(model: Any) -> tuple[eqx.Module, Any]:
    """`(module, state)`; `state` is None for a stateless module."""
    if isinstance(model, StatefulModel):
        return model.module, model.state
    return model, None


def trainable(module: eqx.Module) -> Any:
    """The filter of what training updates: a module's own `trainable_filter()` when it declares one
    (a linearised network trains only its displacement), else every inexact array."""
    return module.trainable_filter() if hasattr(module, "trainable_filter") else eqx.is_inexact_array


def join_model(module: eqx.Module, state: Any) -> Any:
    return module if state is None else StatefulModel(module, state)


def batch_logits(module: eqx.Module, state: Any, x: jax.Array, *, training: bool) -> tuple[jax.Array, Any]:
    """Logits of a batch, and the new state.

    Training uses batch statistics (a `vmap` named "batch") and updates the running statistics;
    otherwise the network is a per-example function of its running statistics.
    """
    if state is None:
        return jax.vmap(module)(x), None
    if training:
        return jax.vmap(module, axis_name="batch", in_axes=(0, None), out_axes=(0, None))(x, state)
    logits, _ = jax.vmap(eqx.nn.inference_mode(module), in_axes=(0, None), out_axes=(0, None))(x, state)
    return logits, state


def example_function(module: eqx.Module, state: Any):
    """The network as a function of ONE input, in inference mode."""
    if state is None:
        return module
    inference = eqx.nn.inference_mode(module)
    return lambda x: inference(x, state)[0]


def split_network(module: Any) -> tuple[Any, tuple]:
    """A network's arrays, and the rest of it as `jax.jit` takes a static argument: its structure and
    its other leaves, hashable (`join_network` puts the two back together)."""
    arrays, rest = eqx.partition(module, eqx.is_array)
    leaves, structure = jax.tree_util.tree_flatten(rest)
    return arrays, (structure, tuple(leaves))


def join_network(arrays: Any, rest: tuple) -> Any:
    """The network that `split_network` split into `arrays` and `rest`."""
    structure, leaves = rest
    return eqx.combine(arrays, jax.tree_util.tree_unflatten(structure, leaves))
