"""Training a network with optax: a fixed number of minibatch steps, a few per compiled call."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from ..api import CellFailure
from ._networks import batch_logits, join_model, split_model
from ._options import AdamOptions, SGDOptions, TrainingOptions

PREDICT_BATCH = 1024


@functools.cache
def build_optimizer(options: SGDOptions | AdamOptions) -> optax.GradientTransformation:
    """The optax transformation for these options; cached so jitted training reuses its compilation."""
    if isinstance(options, SGDOptions):
        return optax.sgd(options.learning_rate, momentum=options.momentum or None, nesterov=options.nesterov)
    return optax.adam(options.learning_rate, b1=options.b1, b2=options.b2)


def _loss(module, state, x, y, offset, loss: str, num_classes: int):
    logits, state = batch_logits(module, state, x, training=True)
    logits = logits - offset
    if loss == "mse":
        value = 0.5 * jnp.mean(jnp.sum((logits - jax.nn.one_hot(y, num_classes)) ** 2, axis=-1))
    else:
        value = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, y))
    return value, state


STEPS_PER_CALL = 10
"""Optimisation steps per compiled call, unrolled. Not a `lax.scan`: on XLA's CPU backend
convolutions inside a loop run about 25x slower (measured on a Myrtle-5, width 32, 8x8 inputs,
batch 64: 170 ms per step in a scan, 6.4 ms unrolled); unrolled dense layers lose nothing."""


@eqx.filter_jit
def train_steps(module, state, opt_state, x, y, offset, batches, optimizer, loss, num_classes):
    """`batches` holds one minibatch of row indices per step, `(steps, batch)`, into the training
    set `x, y, offset`, which stays on the device: gathering there costs one copy, gathering on
    the host two (and the host's CPU time). `x` is padded to a power of two of rows, so one
    compilation serves every n up to it."""
    params, static = eqx.partition(module, eqx.is_inexact_array)
    losses = []
    for step in range(batches.shape[0]):
        rows = batches[step]
        (value, state), grads = jax.value_and_grad(
            lambda p: _loss(eqx.combine(p, static), state, x[rows], y[rows], offset[rows], loss, num_classes),
            has_aux=True,
        )(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        losses.append(value)
    return eqx.combine(params, static), state, opt_state, jnp.stack(losses)


def padded_rows(n: int) -> int:
    """Rows of the padded training set that `train_steps` is compiled for."""
    return 1 << max(0, (n - 1).bit_length())


def _on_device(array: np.ndarray) -> jax.Array:
    """`array` padded with zero rows to `padded_rows(len(array))`, as a device array."""
    padded = np.zeros((padded_rows(len(array)), *array.shape[1:]), dtype=array.dtype)
    padded[: len(array)] = array
    return jnp.asarray(padded)


def minibatch_indices(n: int, batch_size: int, steps: int, seed: int) -> np.ndarray:
    """Row indices of every minibatch, shape `(steps, min(batch_size, n))`: epochs of fresh permutations."""
    batch = min(batch_size, n)
    rng = np.random.default_rng([seed, 1])
    per_epoch = n // batch
    epochs = -(-steps // per_epoch)
    order = np.concatenate([rng.permutation(n)[: per_epoch * batch] for _ in range(epochs)])
    return order[: steps * batch].reshape(steps, batch).astype(np.int32)


@dataclasses.dataclass(frozen=True)
class TrainingLog:
    losses: np.ndarray

    def summary(self) -> dict[str, float]:
        tail = self.losses[-max(1, len(self.losses) // 20) :]
        return {"train_loss_initial": float(self.losses[0]), "train_loss_final": float(np.mean(tail))}


def train_network(
    model: Any,
    x: np.ndarray,
    y: np.ndarray,
    num_classes: int,
    options: TrainingOptions,
    *,
    seed: int,
    checkpoints: Sequence[int] = (),
    on_checkpoint: Callable[[int, Any], None] | None = None,
) -> tuple[Any, TrainingLog]:
    """Train `model` (a module or a `StatefulModel`) on `(x, y)` for `options.steps` minibatch steps.

    With `options.center`, the loss sees `model(x) - initial_model(x)`; predict the trained
    network with `predict(trained, x, initial=model)` then. `on_checkpoint(step, network)` is
    called with the network after each step count in `checkpoints` (0: before training).

    **Raises:** `CellFailure` when the loss stops being finite.
    """
    module, state = split_model(model)
    optimizer = build_optimizer(options.optimizer)
    opt_state = optimizer.init(eqx.filter(module, eqx.is_inexact_array))
    batches = minibatch_indices(len(x), options.batch_size, options.steps, seed)
    offset = predict(model, x) if options.center else np.zeros((len(x), num_classes))
    offset = offset.astype(np.float32)
    stops = sorted({*range(0, options.steps, STEPS_PER_CALL), *checkpoints, options.steps} - {0})
    if on_checkpoint is not None and 0 in checkpoints:
        on_checkpoint(0, model)
    x_device, y_device, offset_device = _on_device(np.asarray(x)), _on_device(np.asarray(y)), _on_device(offset)
    losses, start = [], 0
    for stop in stops:
        module, state, opt_state, chunk_losses = train_steps(
            module, state, opt_state, x_device, y_device, offset_device, batches[start:stop], optimizer, options.loss,
            num_classes,
        )
        losses.append(chunk_losses)
        if on_checkpoint is not None and stop in checkpoints:
            on_checkpoint(stop, join_model(module, state))
        start = stop
    losses = np.concatenate([np.asarray(chunk) for chunk in losses])
    if not np.all(np.isfinite(losses)):
        first = int(np.argmin(np.isfinite(losses)))
        raise CellFailure(
            f"training diverged: loss is {losses[first]} at step {first}; lower optimizer.learning_rate"
        )
    return join_model(module, state), TrainingLog(losses)


def predict(model: Any, x: np.ndarray, *, initial: Any = None) -> np.ndarray:
    """The network's outputs on `x` (minus those of `initial`, for a centred network), as float64."""
    module, state = split_model(model)
    outputs = np.concatenate(
        [
            np.asarray(_inference_logits(module, state, jnp.asarray(x[start : start + PREDICT_BATCH])))
            for start in range(0, len(x), PREDICT_BATCH)
        ]
    ).astype(np.float64)
    return outputs if initial is None else outputs - predict(initial, x)


@eqx.filter_jit
def _inference_logits(module, state, x):
    return batch_logits(module, state, x, training=False)[0]
