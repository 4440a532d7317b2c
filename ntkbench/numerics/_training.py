"""Training a network with optax: minibatch steps, a few per compiled call, for a budget of steps, of
epochs, or until a stopping rule is met on the whole training set, optionally stopped early on
validation error."""

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

from ..api import CellFailure, InputError
from ._networks import batch_logits, join_model, split_model, trainable
from ._options import (
    ConstantSchedule,
    CosineSchedule,
    SGDOptions,
    StepSchedule,
    TrainingOptions,
    WarmupCosineSchedule,
    steps_per_epoch,
)

PREDICT_BATCH = 1024


def learning_rate_schedule(options: TrainingOptions, total_steps: int) -> float | optax.Schedule:
    """The learning rate of `options.optimizer` over `total_steps` steps, by `options.schedule`."""
    rate, schedule = options.optimizer.learning_rate, options.schedule
    if isinstance(schedule, ConstantSchedule):
        return rate
    if isinstance(schedule, CosineSchedule):
        return optax.cosine_decay_schedule(rate, decay_steps=total_steps, alpha=schedule.final_fraction)
    if isinstance(schedule, WarmupCosineSchedule):
        return optax.warmup_cosine_decay_schedule(
            0.0, rate, schedule.warmup_steps, decay_steps=max(total_steps, schedule.warmup_steps + 1),
            end_value=rate * schedule.final_fraction,
        )
    assert isinstance(schedule, StepSchedule)
    return optax.exponential_decay(rate, transition_steps=schedule.every, decay_rate=schedule.factor, staircase=True)


@functools.cache
def build_optimizer(options: TrainingOptions, total_steps: int) -> optax.GradientTransformation:
    """The optax transformation of `options` (optimizer, schedule over `total_steps`, weight decay);
    cached, so that jitted training reuses its compilation (a schedule that depends on the budget
    compiles once per budget)."""
    optimizer, rate = options.optimizer, learning_rate_schedule(options, total_steps)
    if isinstance(optimizer, SGDOptions):
        sgd = optax.sgd(rate, momentum=optimizer.momentum or None, nesterov=optimizer.nesterov)
        return optax.chain(optax.add_decayed_weights(options.weight_decay), sgd) if options.weight_decay else sgd
    if options.weight_decay:
        return optax.adamw(rate, b1=optimizer.b1, b2=optimizer.b2, weight_decay=options.weight_decay)
    return optax.adam(rate, b1=optimizer.b1, b2=optimizer.b2)


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
    params, static = eqx.partition(module, trainable(module))
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
class TrainingLog:
    """What a training did: its minibatch losses, and the whole training set's fit at the end."""

    losses: np.ndarray
    steps: int
    train_error: float
    train_loss: float
    """The objective (without weight decay) on the whole training set at the end."""
    converged: bool | None
    """Whether the stopping rule was met (None: the budget has no rule)."""
    early_stopping: dict[str, Any] | None = None
    """With `patience`: `steps_trained` (past `steps`, the kept network's) and the kept `validation_error`."""

    def summary(self) -> dict[str, Any]:
        tail = self.losses[-max(1, len(self.losses) // 20) :]
        return {
            "train_loss_initial": float(self.losses[0]),
            "train_loss_final": float(np.mean(tail)),
            "steps": self.steps,
            "train_error": self.train_error,
            "train_loss": self.train_loss,
            "converged": self.converged,
            **(self.early_stopping or {}),
        }


class EarlyStopping:
    """Validation checks with patience: keeps the first network with the lowest validation error and
    says when that error has not fallen for `patience` checks in a row."""

    def __init__(self, model: Any, validation: tuple[np.ndarray, np.ndarray], options: TrainingOptions, num_classes: int):
        self.x, self.y = validation[0], np.asarray(validation[1])
        self.offset = predict(model, self.x) if options.center else np.zeros((len(self.x), num_classes))
        self.options, self.num_classes = options, num_classes
        self.best: tuple[float, int, Any] | None = None
        self.checks_without_gain = 0

    def check(self, step: int, model: Any) -> bool:
        """Record the network after `step` steps; True when training should stop."""
        error, _ = training_fit(model, self.x, self.y, self.offset, self.options.loss, self.num_classes)
        if self.best is None or error < self.best[0]:
            self.best, self.checks_without_gain = (error, step, model), 0
        else:
            self.checks_without_gain += 1
        return self.checks_without_gain >= self.options.patience


def training_fit(model: Any, x: np.ndarray, y: np.ndarray, offset: np.ndarray, loss: str, num_classes: int) -> tuple[float, float]:
    """(error, loss) of the network on a whole training set, predicting as at test time (minus `offset`)."""
    logits = predict(model, x) - offset
    error = float(np.mean(np.argmax(logits, axis=1) != y))
    if loss == "mse":
        return error, float(0.5 * np.mean(np.sum((logits - np.eye(num_classes)[y]) ** 2, axis=1)))
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probabilities = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    return error, float(-np.mean(log_probabilities[np.arange(len(y)), y]))


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
    validation: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[Any, TrainingLog]:
    """Train `model` (a module or a `StatefulModel`) on `(x, y)` for the budget of `options`:
    `steps` minibatch steps, `epochs` passes, or `until` its rule holds on the whole training set
    (checked every `check_every` steps, at most `max_steps`). With `patience`, the error on
    `validation` is checked as often, training stops when it has not fallen for `patience` checks
    in a row, and the first network with the lowest error is returned.

    With `options.center`, the loss sees `model(x) - initial_model(x)`; predict the trained
    network with `predict(trained, x, initial=model)` then. `on_checkpoint(step, network)` is
    called with the network after each step count in `checkpoints` (0: before training).

    **Raises:** `CellFailure` when the loss stops being finite; `InputError` for `patience` without `validation`.
    """
    if options.learning_rates() is not None:
        raise InputError("train_network trains at one learning rate; train_choosing_learning_rate tries a list")
    if options.patience is not None and validation is None:
        raise InputError("early stopping (`patience`) needs validation samples: set dataset.validation_n")
    n, y = len(x), np.asarray(y)
    budget = options.step_budget(n)
    module, state = split_model(model)
    optimizer = build_optimizer(options, budget)
    opt_state = optimizer.init(eqx.filter(module, trainable(module)))
    order = MinibatchOrder(n, options.batch_size, seed)
    offset = predict(model, x) if options.center else np.zeros((n, num_classes))
    offset = offset.astype(np.float32)
    early = EarlyStopping(model, validation, options, num_classes) if options.patience is not None else None
    checking = options.until is not None or early is not None
    check_every = (options.check_every or order.per_epoch) if checking else budget
    stops = sorted({*range(0, budget, STEPS_PER_CALL), *range(check_every, budget, check_every), *checkpoints, budget} - {0})
    if on_checkpoint is not None and 0 in checkpoints:
        on_checkpoint(0, model)
    x_device, y_device, offset_device = _on_device(np.asarray(x)), _on_device(y), _on_device(offset)
    losses, start, fit = [], 0, None
    for stop in stops:
        module, state, opt_state, chunk_losses = train_steps(
            module, state, opt_state, x_device, y_device, offset_device, order.take(start, stop), optimizer, options.loss,
            num_classes,
        )
        losses.append(chunk_losses)
        if on_checkpoint is not None and stop in checkpoints:
            on_checkpoint(stop, join_model(module, state))
        start = stop
        if checking and (stop % check_every == 0 or stop == budget):
            if not np.all(np.isfinite(np.asarray(chunk_losses))):
                break
            network = join_model(module, state)
            if early is not None and early.check(stop, network):
                break
            if options.until is not None:
                fit = training_fit(network, x, y, offset, options.loss, num_classes)
                if options.until.met(*fit):
                    break
    losses = np.concatenate([np.asarray(chunk) for chunk in losses])
    if not np.all(np.isfinite(losses)):
        first = int(np.argmin(np.isfinite(losses)))
        raise CellFailure(
            f"training diverged: loss is {losses[first]} at step {first}; lower optimizer.learning_rate"
        )
    trained, steps, early_stopping = join_model(module, state), start, None
    if early is not None:
        validation_error, steps, trained = early.best
        early_stopping, fit = {"steps_trained": start, "validation_error": validation_error}, None
    if fit is None or options.until is None:
        fit = training_fit(trained, x, y, offset, options.loss, num_classes)
    converged = options.until.met(*fit) if options.until is not None else None
    return trained, TrainingLog(losses, steps, *fit, converged, early_stopping)


def train_choosing_learning_rate(
    model: Any,
    x: np.ndarray,
    y: np.ndarray,
    num_classes: int,
    options: TrainingOptions,
    *,
    seed: int,
    validation: tuple[np.ndarray, np.ndarray] | None,
) -> tuple[Any, TrainingLog, dict[str, Any]]:
    """Train `model` once per learning rate of `options` (a list) and keep the network with the lowest
    error on `validation` (ties: the lowest validation loss); a rate whose training diverges is no
    candidate. Every training takes the same minibatches from the same start.

    Returns the network, its training log, and the facts of the choice: `learning_rate`,
    `learning_rates`, and `validation_errors` (None for a rate that diverged).

    **Raises:** `InputError` without validation samples; `CellFailure` when every rate diverges.
    """
    if validation is None:
        raise InputError("choosing the learning rate needs validation samples: set dataset.validation_n")
    x_validation, y_validation = validation
    offset = predict(model, x_validation) if options.center else np.zeros((len(x_validation), num_classes))
    rates, errors, best = options.learning_rates(), [], None
    for rate in rates:
        try:
            trained, log = train_network(
                model, x, y, num_classes, options.at_learning_rate(rate), seed=seed, validation=validation
            )
        except CellFailure:
            errors.append(None)
            continue
        fit = training_fit(trained, x_validation, np.asarray(y_validation), offset, options.loss, num_classes)
        errors.append(fit[0])
        if best is None or fit < best[0]:
            best = (fit, trained, log, rate)
    if best is None:
        raise CellFailure(f"training diverged at every learning rate of {list(rates)}; lower them")
    _, trained, log, rate = best
    return trained, log, {"learning_rate": rate, "learning_rates": list(rates), "validation_errors": errors}


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
