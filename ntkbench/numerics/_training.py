"""Training a network with optax: minibatch steps, a few per compiled call, for a budget of steps, of
epochs, or until a stopping rule is met on the whole training set, optionally stopped early on
validation error."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from ..api import CellFailure, InputError
from ..api._training_options import (
    ConstantSchedule,
    CosineSchedule,
    SGDOptions,
    StepSchedule,
    TrainingOptions,
    WarmupCosineSchedule,
    steps_per_epoch,
)
from ._networks import batch_logits, join_model, split_model, trainable

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

    def check(self, step: int, outputs: np.ndarray, network: Callable[[], Any]) -> bool:
        """Record the network after `step` steps, from its `outputs` on the validation inputs
        (`network()` gives it, when it is the best so far); True when training should stop."""
        error, _ = fit_of_outputs(outputs - self.offset, self.y, self.options.loss, self.num_classes)
        if self.best is None or error < self.best[0]:
            self.best, self.checks_without_gain = (error, step, network()), 0
        else:
            self.checks_without_gain += 1
        return self.checks_without_gain >= self.options.patience


def training_fit(model: Any, x: np.ndarray, y: np.ndarray, offset: np.ndarray, loss: str, num_classes: int) -> tuple[float, float]:
    """(error, loss) of the network on a whole training set, predicting as at test time (minus `offset`)."""
    return fit_of_outputs(predict(model, x) - offset, y, loss, num_classes)


def fit_of_outputs(logits: np.ndarray, y: np.ndarray, loss: str, num_classes: int) -> tuple[float, float]:
    """(error, loss) of a network's outputs `logits` (float64) on labels `y`."""
    wrong, losses = _per_example_fit(logits, y, loss, num_classes)
    return float(np.mean(wrong)), float(np.mean(losses))


def _per_example_fit(logits: np.ndarray, y: np.ndarray, loss: str, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Per example of `logits` (float64) with labels `y`: whether it is misclassified, and its loss."""
    wrong = np.argmax(logits, axis=1) != y
    if loss == "mse":
        return wrong, 0.5 * np.sum((logits - np.eye(num_classes)[y]) ** 2, axis=1)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probabilities = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    return wrong, -log_probabilities[np.arange(len(y)), y]


BOUND_MARGIN = 1e-9
"""A partial sum of per-example losses is shrunk by this relative margin before it is compared with
a stopping rule (`_until_fits`), far above the round-off by which it may differ from the whole
set's sum taken in another order."""


def _until_fits(
    networks: _Networks, members: Sequence[TrainingMember], offsets: list[np.ndarray], labels: list[np.ndarray],
    options: TrainingOptions, num_classes: int, deciding: list[int],
) -> dict[int, tuple[float, float] | None]:
    """For each member of `deciding`: its (error, loss) on its whole training set, or None where part
    of the set already shows that the `until` rule is not met.

    Every example's error and loss are at least zero, so the sums over the chunks computed so far,
    divided by n, bound the whole set's error and loss from below: once the bounds fail the rule,
    the whole set fails it too, and the rest of its chunks need not be computed. The decision is
    the one the whole set gives; while a network is far from the rule (most of a training), one
    chunk of the set decides it."""
    n, until = len(labels[0]), options.until
    parts: dict[int, list[np.ndarray] | None] = {index: [] for index in deciding}
    sums = {index: [0.0, 0.0] for index in deciding}
    for rows, outputs in networks.chunks([member.x for member in members]):
        for index in deciding:
            if parts[index] is None:
                continue
            logits = outputs[index] - offsets[index][rows]
            parts[index].append(logits)
            wrong, losses = _per_example_fit(logits, labels[index][rows], options.loss, num_classes)
            sums[index][0] += float(np.sum(wrong))
            sums[index][1] += float(np.sum(losses))
            if not until.met(sums[index][0] / n, sums[index][1] / n * (1 - BOUND_MARGIN)):
                parts[index] = None
        if all(parts[index] is None for index in deciding):
            break
    return {
        index: None if part is None else fit_of_outputs(np.concatenate(part), labels[index], options.loss, num_classes)
        for index, part in parts.items()
    }


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


class _Networks:
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
        for one network, `(members, steps)` for a stack (`_by_member` reads either on the host)."""
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
            for rows, outputs in _output_chunks(self.network(0), inputs[0]):
                yield rows, [outputs]
            return
        for start in range(0, len(inputs[0]), PREDICT_BATCH):
            rows = slice(start, start + PREDICT_BATCH)
            batch = jnp.asarray(np.stack([x[rows] for x in inputs]))
            yield rows, list(np.asarray(_stacked_inference_logits(self.arrays, self.rest, self.state, batch)).astype(np.float64))

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


def _by_member(losses: jax.Array, members: int) -> np.ndarray:
    """A `_Networks.step`'s losses on the host, one row per member."""
    return np.asarray(losses).reshape(members, -1)


def _stack(trees: list[Any]) -> Any:
    return jax.tree.map(lambda *arrays: jnp.stack(arrays), *trees)


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
    (outcome,) = _train(
        [TrainingMember(model, x, y, seed, validation=validation)], num_classes, options, checkpoints, on_checkpoint
    )
    if isinstance(outcome, CellFailure):
        raise outcome
    return outcome


def train_networks(
    members: Sequence[TrainingMember], num_classes: int, options: TrainingOptions
) -> list[tuple[Any, TrainingLog] | CellFailure]:
    """Train every member as `train_network` would train it alone, as one vmapped computation (on a
    CPU or an accelerator, several small networks keep the device busier than one). The members
    have one architecture and the same number of training samples; each has its own start,
    training set, minibatch order and learning rate (`options` with one rate, or every member's
    own). Each stops by its own rule (the group runs until the last has stopped) and its results
    are those it would have alone, up to floating-point rounding.

    Returns, per member, the trained network and its log, or the `CellFailure` of a training that
    diverged. **Raises:** `InputError` for members of different sizes, or for a member without a
    learning rate when `options` has a list.
    """
    if len({len(member.x) for member in members}) > 1:
        raise InputError("train_networks trains members with the same number of training samples")
    if options.learning_rates() is not None and any(member.learning_rate is None for member in members):
        raise InputError("options with a list of learning rates: give every member its learning_rate")
    return _train(members, num_classes, options)


def _train(
    members: Sequence[TrainingMember],
    num_classes: int,
    options: TrainingOptions,
    checkpoints: Sequence[int] = (),
    on_checkpoint: Callable[[int, Any], None] | None = None,
) -> list[tuple[Any, TrainingLog] | CellFailure]:
    if options.patience is not None and any(member.validation is None for member in members):
        raise InputError("early stopping (`patience`) needs validation samples: set dataset.validation_n")
    n = len(members[0].x)
    budget = options.step_budget(n)
    orders = [MinibatchOrder(n, options.batch_size, member.seed) for member in members]
    offsets = [
        (predict(member.model, member.x) if options.center else np.zeros((n, num_classes))).astype(np.float32)
        for member in members
    ]
    labels = [np.asarray(member.y) for member in members]
    early = [
        EarlyStopping(member.model, member.validation, options, num_classes) if options.patience is not None else None
        for member in members
    ]
    checking = options.until is not None or options.patience is not None
    check_every = (options.check_every or orders[0].per_epoch) if checking else budget
    stops = sorted({*range(0, budget, STEPS_PER_CALL), *range(check_every, budget, check_every), *checkpoints, budget} - {0})
    if on_checkpoint is not None and 0 in checkpoints:
        on_checkpoint(0, members[0].model)
    networks = _Networks(members, offsets, options, budget)
    chunks, start = [], 0
    stopped: dict[int, tuple[int, Any, tuple[float, float] | None]] = {}  # member: (steps, network, fit)
    fits: dict[int, tuple[float, float]] = {}  # member: its fit at the last check
    for stop in stops:
        chunks.append(networks.step(np.stack([order.take(start, stop) for order in orders])))
        if on_checkpoint is not None and stop in checkpoints:
            on_checkpoint(stop, networks.network(0))
        start = stop
        if checking and (stop % check_every == 0 or stop == budget):
            finite = np.all(np.isfinite(_by_member(chunks[-1], len(members))), axis=1)
            for index in np.flatnonzero(~finite):
                stopped.setdefault(int(index), (stop, None, None))
            if options.patience is not None:
                outputs = networks.predict([member.validation[0] for member in members])
                for index in range(len(members)):
                    network = functools.partial(networks.network, index)
                    if index not in stopped and early[index].check(stop, outputs[index], network):
                        stopped[index] = (stop, None, None)
            if options.until is not None and len(stopped) < len(members):
                deciding = [index for index in range(len(members)) if index not in stopped]
                for index, fit in _until_fits(networks, members, offsets, labels, options, num_classes, deciding).items():
                    if fit is None:  # the rule is not met; no fit of the whole set for the record
                        fits.pop(index, None)
                        continue
                    fits[index] = fit
                    if options.until.met(*fit):
                        stopped[index] = (stop, networks.network(index), fit)
            if len(stopped) == len(members):
                break
    losses = np.concatenate([_by_member(chunk, len(members)) for chunk in chunks], axis=1)
    outcomes = []
    for index, member in enumerate(members):
        steps, trained, fit = stopped.get(index, (start, None, fits.get(index)))
        member_losses = losses[index, :steps]
        if not np.all(np.isfinite(member_losses)):
            first = int(np.argmin(np.isfinite(member_losses)))
            outcomes.append(CellFailure(
                f"training diverged: loss is {member_losses[first]} at step {first}; lower optimizer.learning_rate"
            ))
            continue
        trained = networks.network(index) if trained is None else trained
        trained_steps, early_stopping = steps, None
        if early[index] is not None:
            validation_error, steps, trained = early[index].best
            early_stopping, fit = {"steps_trained": trained_steps, "validation_error": validation_error}, None
        if fit is None or options.until is None:
            fit = training_fit(trained, member.x, labels[index], offsets[index], options.loss, num_classes)
        converged = options.until.met(*fit) if options.until is not None else None
        outcomes.append((trained, TrainingLog(member_losses, steps, *fit, converged, early_stopping)))
    return outcomes


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
    """Train `model` once per learning rate of `options` (a list), all rates as one computation
    (`train_networks`), and keep the network with the lowest error on `validation` (ties: the
    lowest validation loss); a rate whose training diverges is no candidate. Every training takes
    the same minibatches from the same start.

    Returns the network, its training log, and the facts of the choice: `learning_rate`,
    `learning_rates`, and `validation_errors` (None for a rate that diverged).

    **Raises:** `InputError` without validation samples; `CellFailure` when every rate diverges.
    """
    if validation is None:
        raise InputError("choosing the learning rate needs validation samples: set dataset.validation_n")
    rates = options.learning_rates()
    members = [TrainingMember(model, x, y, seed, rate, validation) for rate in rates]
    return choose_learning_rate(members, train_networks(members, num_classes, options), num_classes, options)


def choose_learning_rate(
    members: Sequence[TrainingMember],
    outcomes: Sequence[tuple[Any, TrainingLog] | CellFailure],
    num_classes: int,
    options: TrainingOptions,
) -> tuple[Any, TrainingLog, dict[str, Any]]:
    """Of the trainings of one start at several learning rates (`members`, with their `outcomes`),
    the one with the lowest validation error, as `train_choosing_learning_rate` returns it.

    **Raises:** `CellFailure` when every rate diverged.
    """
    x_validation, y_validation = members[0].validation
    model, rates = members[0].model, [member.learning_rate for member in members]
    offset = predict(model, x_validation) if options.center else np.zeros((len(x_validation), num_classes))
    errors, best = [], None
    for rate, outcome in zip(rates, outcomes):
        if isinstance(outcome, CellFailure):
            errors.append(None)
            continue
        trained, log = outcome
        fit = training_fit(trained, x_validation, np.asarray(y_validation), offset, options.loss, num_classes)
        errors.append(fit[0])
        if best is None or fit < best[0]:
            best = (fit, trained, log, rate)
    if best is None:
        raise CellFailure(f"training diverged at every learning rate of {rates}; lower them")
    _, trained, log, rate = best
    return trained, log, {"learning_rate": rate, "learning_rates": rates, "validation_errors": errors}


def predict(model: Any, x: np.ndarray, *, initial: Any = None) -> np.ndarray:
    """The network's outputs on `x` (minus those of `initial`, for a centred network), as float64."""
    outputs = np.concatenate([chunk for _, chunk in _output_chunks(model, x)])
    return outputs if initial is None else outputs - predict(initial, x)


def _output_chunks(model: Any, x: np.ndarray) -> Iterator[tuple[slice, np.ndarray]]:
    """The network's outputs on `x`, `PREDICT_BATCH` rows at a time: (the rows, float64 outputs)."""
    module, state = split_model(model)
    for start in range(0, len(x), PREDICT_BATCH):
        rows = slice(start, start + PREDICT_BATCH)
        yield rows, np.asarray(_inference_logits(module, state, jnp.asarray(x[rows]))).astype(np.float64)


@eqx.filter_jit
def _inference_logits(module, state, x):
    return batch_logits(module, state, x, training=False)[0]


@eqx.filter_jit
def _stacked_inference_logits(arrays, rest, state, x):
    """`_inference_logits` of networks stacked along a leading axis (`split_network`), each on its own inputs."""
    return jax.vmap(lambda a, s, inputs: batch_logits(join_network(a, rest), s, inputs, training=False)[0])(arrays, state, x)
