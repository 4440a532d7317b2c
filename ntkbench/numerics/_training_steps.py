"""The compiled side of a training: minibatch steps, a few per compiled call, on a training set kept
on the device (padded so that the cells of a sweep share one compilation), the order of the
minibatches, and a group of networks trained as one vmapped computation."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from ..api._training_options import TrainingOptions, steps_per_epoch
from ._networks import batch_logits, join_model, join_network, split_model, split_network, trainable
from ._optimizers import build_optimizer
from ._prediction import PREDICT_BATCH, output_chunks, stacked_inference_logits


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


def _steps(module, state, opt_state, x, y, offset, batches, optimizer, loss, num_classes, rate=None):
    """The minibatch steps of `train_steps`; `rate` scales each update (the learning rate of a
    group member, whose optimizer runs at rate 1)."""
    params, static = eqx.partition(module, trainable(module))
    losses = []
    for step in range(batches.shape[0]):
        rows = batches[step]
        (value, state), grads = jax.value_and_grad(
            lambda p: _loss(eqx.combine(p, static), state, x[rows], y[rows], offset[rows], loss, num_classes),
            has_aux=True,
        )(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        if rate is not None:
            updates = jax.tree.map(lambda update: rate * update, updates)
        params = optax.apply_updates(params, updates)
        losses.append(value)
    return eqx.combine(params, static), state, opt_state, jnp.stack(losses)


def _split_steps(arrays, rest, state, opt_state, x, y, offset, batches, optimizer, loss, num_classes, rate=None):
    module, state, opt_state, losses = _steps(
        join_network(arrays, rest), state, opt_state, x, y, offset, batches, optimizer, loss, num_classes, rate
    )
    return eqx.filter(module, eqx.is_array), state, opt_state, losses


_STATIC = ("rest", "optimizer", "loss", "num_classes")


@functools.partial(jax.jit, static_argnames=_STATIC)
def _compiled_steps(arrays, rest, state, opt_state, x, y, offset, batches, optimizer, loss, num_classes):
    """`train_steps` on a network split by `split_network`. Jitted by jax itself: a call with the
    network already split costs less than through `eqx.filter_jit`, which splits every argument
    on every call (a small network's steps are short enough for that to show)."""
    return _split_steps(arrays, rest, state, opt_state, x, y, offset, batches, optimizer, loss, num_classes)


@functools.partial(jax.jit, static_argnames=_STATIC)
def _compiled_stacked_steps(arrays, rest, state, opt_state, x, y, offset, batches, rates, optimizer, loss, num_classes):
    """`_compiled_steps` for networks stacked along a leading axis (their arrays `arrays`, the rest
    `rest` they share), each with its own training set, minibatches and learning rate (`rates`,
    scaling an optimizer at rate 1), as one vmapped computation."""

    def member(arrays, state, opt_state, x, y, offset, batches, rate):
        return _split_steps(arrays, rest, state, opt_state, x, y, offset, batches, optimizer, loss, num_classes, rate)

    return jax.vmap(member)(arrays, state, opt_state, x, y, offset, batches, rates)


def train_steps(module, state, opt_state, x, y, offset, batches, optimizer, loss, num_classes):
    """`batches` holds one minibatch of row indices per step, `(steps, batch)`, into the training
    set `x, y, offset`, which stays on the device: gathering there costs one copy, gathering on
    the host two (and the host's CPU time). `x` is padded (`padded_rows`), so one compilation
    serves every n up to its rows."""
    arrays, rest = split_network(module)
    arrays, state, opt_state, losses = _compiled_steps(
        arrays, rest, state, opt_state, x, y, offset, batches, optimizer, loss, num_classes
    )
    return join_network(arrays, rest), state, opt_state, losses


SHARED_PADDING_BYTES = 16 * 2**20
"""A training set is padded on the device to at least the most rows (a power of two) whose inputs
fit in this many bytes, so that the cells of a sweep up to that size share one compiled training
step (each padded size compiles it anew, seconds even for a small MLP) for a few megabytes each."""


def padded_rows(n: int, row_bytes: int = 0) -> int:
    """Rows of a training set of n samples on the device, that `train_steps` is compiled for: the
    next power of two, and at least the most rows of `row_bytes` bytes each (one input) within
    `SHARED_PADDING_BYTES` (a power of two too). Zero `row_bytes`: only the power of two."""
    rows = 1 << max(0, (n - 1).bit_length())
    if row_bytes <= 0:
        return rows
    return max(rows, 1 << max(0, (SHARED_PADDING_BYTES // row_bytes).bit_length() - 1))


def _on_device(array: np.ndarray, rows: int) -> jax.Array:
    """`array` padded with zero rows to `rows`, as a device array."""
    padded = np.zeros((rows, *array.shape[1:]), dtype=array.dtype)
    padded[: len(array)] = array
    return jnp.asarray(padded)


class MinibatchOrder:
    """The row indices of a seed's minibatches: epoch after epoch of fresh permutations (the last,
    partial batch of each dropped), drawn as training reaches them, so that a budget of any length
    takes the same minibatches in the same order and holds only the epochs in use."""

    def __init__(self, n: int, batch_size: int, seed: int):
        self.n, self.batch = n, min(batch_size, n)
        self.per_epoch = steps_per_epoch(n, batch_size)
        self._rng = np.random.default_rng([seed, 1])
        self._first_epoch = 0
        self._epochs: list[np.ndarray] = []

    def take(self, start: int, stop: int) -> np.ndarray:
        """Minibatches `start` to `stop` (steps), shape `(stop - start, batch)`; `start` never decreases."""
        while (self._first_epoch + len(self._epochs)) * self.per_epoch < stop:
            order = self._rng.permutation(self.n)[: self.per_epoch * self.batch]
            self._epochs.append(order.reshape(self.per_epoch, self.batch).astype(np.int32))
        while self._epochs and (self._first_epoch + 1) * self.per_epoch <= start:  # epochs already trained on
            self._epochs.pop(0)
            self._first_epoch += 1
        offset = self._first_epoch * self.per_epoch
        return np.concatenate(self._epochs)[start - offset : stop - offset]


@dataclasses.dataclass(frozen=True)
class TrainingMember:
    """One network of a group that `train_networks` trains as one computation: the model it starts
    from, its training set, the seed of its minibatch order, its learning rate (None: the one of
    the options) and its validation samples (for `patience`)."""

    model: Any
    x: np.ndarray
    y: np.ndarray
    seed: int
    learning_rate: float | None = None
    validation: tuple[np.ndarray, np.ndarray] | None = None


class NetworkGroup:
    """The networks a training updates, as their arrays and the rest they share (`split_network`):
    one network's own arrays (updated as `train_steps` updates them), or several stacked along a
    leading axis and updated by one vmapped computation."""

    def __init__(self, members: Sequence[TrainingMember], offsets: list[np.ndarray], options: TrainingOptions, budget: int):
        rates = [options.optimizer.learning_rate if member.learning_rate is None else member.learning_rate for member in members]
        self.options, self.stacked = options, len(members) > 1
        x = np.asarray(members[0].x)
        rows = padded_rows(len(x), x[0].nbytes if len(x) else 0)
        data = [
            (_on_device(np.asarray(m.x), rows), _on_device(np.asarray(m.y), rows), _on_device(o, rows))
            for m, o in zip(members, offsets)
        ]
        splits = [split_model(member.model) for member in members]
        networks = [split_network(module) for module, _ in splits]
        arrays, self.rest = [array for array, _ in networks], networks[0][1]  # one architecture: one rest
        if not self.stacked:
            self.optimizer = build_optimizer(options.at_learning_rate(rates[0]), budget)
            (module, self.state), self.arrays = splits[0], arrays[0]
            self.opt_state = self.optimizer.init(eqx.filter(module, trainable(module)))
            self.data = data[0]
            return
        self.optimizer = build_optimizer(options.at_learning_rate(1.0), budget)
        self.arrays = _stack(arrays)
        self.state = None if splits[0][1] is None else _stack([state for _, state in splits])
        self.opt_state = _stack([self.optimizer.init(eqx.filter(module, trainable(module))) for module, _ in splits])
        self.data = tuple(jnp.stack(arrays) for arrays in zip(*data))
        self.rates = jnp.asarray(rates, dtype=jnp.float32)

    def step(self, batches: np.ndarray) -> jax.Array:
        """Train every network on its minibatches, `(members, steps, batch)`; their losses, `(steps,)`
        for one network, `(members, steps)` for a stack (`losses_by_member` reads either on the host)."""
        loss, classes = self.options.loss, self.data[2].shape[-1]
        if not self.stacked:
            self.arrays, self.state, self.opt_state, losses = _compiled_steps(
                self.arrays, self.rest, self.state, self.opt_state, *self.data, batches[0], self.optimizer, loss, classes
            )
            return losses
        self.arrays, self.state, self.opt_state, losses = _compiled_stacked_steps(
            self.arrays, self.rest, self.state, self.opt_state, *self.data, batches, self.rates, self.optimizer, loss,
            classes,
        )
        return losses

    def chunks(self, inputs: Sequence[np.ndarray]) -> Iterator[tuple[slice, list[np.ndarray]]]:
        """Every network's outputs on its own inputs (of one size), a chunk of `PREDICT_BATCH` rows
        at a time, computed as `predict` computes them: (the rows, one float64 array per network)."""
        if not self.stacked:
            for rows, outputs in output_chunks(self.network(0), inputs[0]):
                yield rows, [outputs]
            return
        for start in range(0, len(inputs[0]), PREDICT_BATCH):
            rows = slice(start, start + PREDICT_BATCH)
            batch = jnp.asarray(np.stack([x[rows] for x in inputs]))
            yield rows, list(np.asarray(stacked_inference_logits(self.arrays, self.rest, self.state, batch)).astype(np.float64))

    def predict(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Every network's outputs on its own inputs (of one size), as `predict` gives them."""
        chunks = [outputs for _, outputs in self.chunks(inputs)]
        return [np.concatenate([outputs[index] for outputs in chunks]) for index in range(len(inputs))]

    def network(self, index: int) -> Any:
        """The `index`-th network as it is now (a module, or a `StatefulModel`)."""
        if not self.stacked:
            return join_model(join_network(self.arrays, self.rest), self.state)
        module = join_network(jax.tree.map(lambda array: array[index], self.arrays), self.rest)
        state = None if self.state is None else jax.tree.map(lambda array: array[index], self.state)
        return join_model(module, state)


def losses_by_member(losses: jax.Array, members: int) -> np.ndarray:
    """A `NetworkGroup.step`'s losses on the host, one row per member."""
    return np.asarray(losses).reshape(members, -1)


def _stack(trees: list[Any]) -> Any:
    return jax.tree.map(lambda *arrays: jnp.stack(arrays), *trees)
