"""When a training stops: its fit on the whole training set (bounded from part of it, where part
already decides an `until` rule), early stopping on validation error, and the state of a group's
members at each check."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..api._training_options import TrainingOptions
from ._prediction import predict
from ._training_steps import NetworkGroup, TrainingMember, losses_by_member


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
a stopping rule (`until_fits`), far above the round-off by which it may differ from the whole
set's sum taken in another order."""


def until_fits(
    networks: NetworkGroup, members: Sequence[TrainingMember], offsets: list[np.ndarray], labels: list[np.ndarray],
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


class StoppingState:
    """Which members of a training have stopped, after how many steps and why, as the checks of
    `options` find it: a loss that is no longer finite, a validation error that has not fallen for
    `patience` checks, or the `until` rule met on the whole training set."""

    def __init__(
        self, members: Sequence[TrainingMember], offsets: list[np.ndarray], labels: list[np.ndarray],
        options: TrainingOptions, num_classes: int,
    ):
        self.members, self.offsets, self.labels = members, offsets, labels
        self.options, self.num_classes = options, num_classes
        self.early = [
            EarlyStopping(member.model, member.validation, options, num_classes) if options.patience is not None else None
            for member in members
        ]
        self.stopped: dict[int, tuple[int, Any, tuple[float, float] | None]] = {}
        """Per member that stopped: (its steps, the network kept when it stopped or None, its fit or None)."""
        self.fits: dict[int, tuple[float, float]] = {}
        """Per member that has not stopped, its (error, loss) on its training set at the last check, where known."""
        self.checked: list[list[tuple[int, float, float]]] = [[] for _ in members]
        """Per member, (step, error, loss) on its whole training set at every check that computed them."""

    def check(self, step: int, networks: NetworkGroup, losses: Any) -> bool:
        """The check after `step` steps, the last of which gave `losses` (`NetworkGroup.step`'s);
        True when every member has stopped."""
        finite = np.all(np.isfinite(losses_by_member(losses, len(self.members))), axis=1)
        for index in np.flatnonzero(~finite):
            self.stopped.setdefault(int(index), (step, None, None))
        if self.options.patience is not None:
            outputs = networks.predict([member.validation[0] for member in self.members])
            for index, early in enumerate(self.early):
                if index not in self.stopped and early.check(step, outputs[index], lambda index=index: networks.network(index)):
                    self.stopped[index] = (step, None, None)
        if self.options.until is not None and len(self.stopped) < len(self.members):
            deciding = [index for index in range(len(self.members)) if index not in self.stopped]
            fits = until_fits(networks, self.members, self.offsets, self.labels, self.options, self.num_classes, deciding)
            for index, fit in fits.items():
                if fit is None:  # the rule is not met; no fit of the whole set for the record
                    self.fits.pop(index, None)
                    continue
                self.fits[index] = fit
                self.checked[index].append((step, *fit))
                if self.options.until.met(*fit):
                    self.stopped[index] = (step, networks.network(index), fit)
        return len(self.stopped) == len(self.members)

    def end(self, index: int, last_step: int) -> tuple[int, Any, tuple[float, float] | None]:
        """Member `index` of a training that ran `last_step` steps: (its steps, the network kept when
        it stopped or None, its fit on the training set or None)."""
        return self.stopped.get(index, (last_step, None, self.fits.get(index)))
