"""Test metrics computed from a learner's predictions, the same way for every learner."""

from __future__ import annotations

import numpy as np


def test_metrics(predictions: np.ndarray, labels: np.ndarray, num_classes: int) -> dict[str, float]:
    """`test_error`: misclassification rate of the argmax; `test_loss`: mean squared error to one-hot
    targets, summed over classes and averaged over test samples."""
    predictions = np.asarray(predictions, dtype=np.float64)
    labels = np.asarray(labels)
    if predictions.shape != (len(labels), num_classes):
        raise ValueError(f"predictions have shape {predictions.shape}; expected {(len(labels), num_classes)}")
    targets = np.eye(num_classes)[labels]
    return {
        "test_error": float(np.mean(np.argmax(predictions, axis=1) != labels)),
        "test_loss": float(np.mean(np.sum((predictions - targets) ** 2, axis=1))),
    }
