"""Training networks with optax: for a budget of steps, of epochs, or until a stopping rule is met
on the whole training set, optionally stopped early on validation error; several networks of one
architecture as one computation; a learning rate chosen from a list on validation error."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..api import CellFailure, InputError
from ..api._training_options import TrainingOptions
from ._prediction import predict
from ._stopping import StoppingState, training_fit
from ._training_steps import STEPS_PER_CALL, MinibatchOrder, NetworkGroup, TrainingMember, losses_by_member


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
    checked: tuple[tuple[int, float, float], ...] = ()
    """(step, error, loss) on the whole training set at every check that computed them."""

    def summary(self) -> dict[str, Any]:
        """What a record keeps of the training: its first and last losses, steps, fit, convergence,
        and its `curve` (`training_curve`)."""
        tail = self.losses[-max(1, len(self.losses) // 20) :]
        return {
            "train_loss_initial": float(self.losses[0]),
            "train_loss_final": float(np.mean(tail)),
            "steps": self.steps,
            "train_error": self.train_error,
            "train_loss": self.train_loss,
            "converged": self.converged,
            **(self.early_stopping or {}),
            "curve": training_curve(self.losses, [*self.checked, (self.steps, self.train_error, self.train_loss)]),
        }


CURVE_POINTS = 64
"""At most this many points of a training curve are kept in a record (and as many checks)."""


def training_curve(losses: np.ndarray, checked: Sequence[tuple[int, float, float]]) -> dict[str, list]:
    """A training's curve as a record keeps it: at up to `CURVE_POINTS` steps spaced evenly on a log
    scale (the last step among them), the mean minibatch loss over the steps since the point before
    (`step`, `loss`); and the whole training set's error and loss where checks computed them, the end
    included (`check_step`, `train_error`, `train_loss`; up to `CURVE_POINTS`, evenly spread, the
    last kept). An `until` rule computes the whole set's fit only at checks where part of the set no
    longer rules the stop out, so most of a training has minibatch losses only."""
    ends = np.unique(np.geomspace(1, len(losses), CURVE_POINTS).round().astype(int))
    starts = np.concatenate([[0], ends[:-1]])
    by_step = dict((int(step), (float(error), float(loss))) for step, error, loss in checked)  # the last fit of a step
    kept = sorted(by_step)
    if len(kept) > CURVE_POINTS:
        kept = [kept[int(i)] for i in np.linspace(0, len(kept) - 1, CURVE_POINTS).round()]
    return {
        "step": ends.tolist(),
        "loss": [float(np.mean(losses[start:end])) for start, end in zip(starts, ends)],
        "check_step": kept,
        "train_error": [by_step[step][0] for step in kept],
        "train_loss": [by_step[step][1] for step in kept],
    }


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
    checking = options.until is not None or options.patience is not None
    check_every = (options.check_every or orders[0].per_epoch) if checking else budget
    stops = sorted({*range(0, budget, STEPS_PER_CALL), *range(check_every, budget, check_every), *checkpoints, budget} - {0})
    if on_checkpoint is not None and 0 in checkpoints:
        on_checkpoint(0, members[0].model)
    networks = NetworkGroup(members, offsets, options, budget)
    stopping = StoppingState(members, offsets, labels, options, num_classes)
    chunks, start = [], 0
    for stop in stops:
        chunks.append(networks.step(np.stack([order.take(start, stop) for order in orders])))
        if on_checkpoint is not None and stop in checkpoints:
            on_checkpoint(stop, networks.network(0))
        start = stop
        if checking and (stop % check_every == 0 or stop == budget) and stopping.check(stop, networks, chunks[-1]):
            break
    losses = np.concatenate([losses_by_member(chunk, len(members)) for chunk in chunks], axis=1)
    outcomes = []
    for index, member in enumerate(members):
        steps, trained, fit = stopping.end(index, start)
        member_losses = losses[index, :steps]
        if not np.all(np.isfinite(member_losses)):
            first = int(np.argmin(np.isfinite(member_losses)))
            outcomes.append(CellFailure(
                f"training diverged: loss is {member_losses[first]} at step {first}; lower optimizer.learning_rate"
            ))
            continue
        trained = networks.network(index) if trained is None else trained
        trained_steps, early_stopping = steps, None
        if stopping.early[index] is not None:
            validation_error, steps, trained = stopping.early[index].best
            early_stopping, fit = {"steps_trained": trained_steps, "validation_error": validation_error}, None
        if fit is None or options.until is None:
            fit = training_fit(trained, member.x, labels[index], offsets[index], options.loss, num_classes)
        converged = options.until.met(*fit) if options.until is not None else None
        checked = tuple(check for check in stopping.checked[index] if check[0] <= steps)
        outcomes.append((trained, TrainingLog(member_losses, steps, *fit, converged, early_stopping, checked)))
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
