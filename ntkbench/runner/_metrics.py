"""Test metrics computed from a learner's predictions, the same way for every learner."""

from __future__ import annotations

import numpy as np


def test_outcomes(
    predictions: np.ndarray, labels: np.ndarray, num_classes: int, loss: str = "squared_error"
) -> dict[str, np.ndarray]:
    """Per test example: `test_error` (1 when the argmax is wrong) and `test_loss`, the squared error to
    the one-hot target summed over classes, or with `loss="cross_entropy"` the cross-entropy of the
    predictions as logits. Their means are the cell's metrics."""
    predictions = np.asarray(predictions, dtype=np.float64)
    labels = np.asarray(labels)
    if predictions.shape != (len(labels), num_classes):
        raise ValueError(f"predictions have shape {predictions.shape}; expected {(len(labels), num_classes)}")
    if loss == "cross_entropy":
        shifted = predictions - predictions.max(axis=1, keepdims=True)
        losses = np.log(np.sum(np.exp(shifted), axis=1)) - shifted[np.arange(len(labels)), labels]
    else:
        losses = np.sum((predictions - np.eye(num_classes)[labels]) ** 2, axis=1)
    return {"test_error": (np.argmax(predictions, axis=1) != labels).astype(np.float64), "test_loss": losses}


def test_error(predictions: np.ndarray, labels: np.ndarray) -> float:
    """The fraction of test examples whose argmax is wrong (the mean of `test_outcomes`' `test_error`)."""
    return float(np.mean(np.argmax(predictions, axis=1) != np.asarray(labels)))
