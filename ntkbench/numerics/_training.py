"""Training an equinox network with optax: a fixed number of minibatch steps in one `lax.scan`."""

from __future__ import annotations

import dataclasses
import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from .._errors import CellFailure
from ..learners._options import AdamOptions, SGDOptions, TrainingOptions

PREDICT_BATCH = 1024


@functools.cache
def build_optimizer(options: SGDOptions | AdamOptions) -> optax.GradientTransformation:
    """The optax transformation for these options; cached so jitted training reuses its compilation."""
    if isinstance(options, SGDOptions):
        return optax.sgd(options.learning_rate, momentum=options.momentum or None, nesterov=options.nesterov)
    return optax.adam(options.learning_rate, b1=options.b1, b2=options.b2)


def _loss(
    model: eqx.Module, x: jax.Array, y: jax.Array, offset: jax.Array, loss: str, num_classes: int
) -> jax.Array:
    logits = jax.vmap(model)(x) - offset
    if loss == "mse":
        return 0.5 * jnp.mean(jnp.sum((logits - jax.nn.one_hot(y, num_classes)) ** 2, axis=-1))
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, y))


@eqx.filter_jit
def _train_scan(model, opt_state, x, y, offset, batches, optimizer, loss, num_classes):
    params, static = eqx.partition(model, eqx.is_inexact_array)

    def step(carry, batch):
        params, opt_state = carry
        value, grads = jax.value_and_grad(
            lambda p: _loss(eqx.combine(p, static), x[batch], y[batch], offset[batch], loss, num_classes)
        )(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), value

    (params, _), losses = jax.lax.scan(step, (params, opt_state), batches)
    return eqx.combine(params, static), losses


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
    model: eqx.Module, x: np.ndarray, y: np.ndarray, num_classes: int, options: TrainingOptions, *, seed: int
) -> tuple[eqx.Module, TrainingLog]:
    """Train `model` on `(x, y)` for `options.steps` minibatch steps.

    With `options.center`, the loss sees `model(x) - initial_model(x)`; predict the trained
    network with `predict(trained, x, initial=model)` then.

    **Raises:** `CellFailure` when the loss or the parameters stop being finite.
    """
    optimizer = build_optimizer(options.optimizer)
    opt_state = optimizer.init(eqx.filter(model, eqx.is_inexact_array))
    batches = minibatch_indices(len(x), options.batch_size, options.steps, seed)
    offset = predict(model, x) if options.center else np.zeros((len(x), num_classes))
    trained, losses = _train_scan(
        model,
        opt_state,
        jnp.asarray(x),
        jnp.asarray(y),
        jnp.asarray(offset, dtype=jnp.float32),
        jnp.asarray(batches),
        optimizer,
        options.loss,
        num_classes,
    )
    losses = np.asarray(losses)
    if not np.all(np.isfinite(losses)):
        first = int(np.argmin(np.isfinite(losses)))
        raise CellFailure(
            f"training diverged: loss is {losses[first]} at step {first}; lower optimizer.learning_rate"
        )
    return trained, TrainingLog(losses)


def predict(model: eqx.Module, x: np.ndarray, *, initial: eqx.Module | None = None) -> np.ndarray:
    """The model's outputs on `x` (minus those of `initial`, for a centred network), as float64."""
    outputs = np.concatenate(
        [
            np.asarray(_batched_apply(model, jnp.asarray(x[start : start + PREDICT_BATCH])))
            for start in range(0, len(x), PREDICT_BATCH)
        ]
    ).astype(np.float64)
    return outputs if initial is None else outputs - predict(initial, x)


@eqx.filter_jit
def _batched_apply(model, x):
    return jax.vmap(model)(x)
