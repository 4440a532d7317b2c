"""Per-example test outcomes as records hold them: errors as a string of 0s and 1s, losses to 6
significant digits."""

from __future__ import annotations

import numpy as np


def encode_outcomes(outcomes: dict[str, np.ndarray]) -> dict[str, object]:
    """A compact JSON form: errors as a string of 0s and 1s, losses to 6 significant digits."""
    return {
        "test_error": "".join("1" if wrong else "0" for wrong in outcomes["test_error"]),
        "test_loss": [float(f"{value:.6g}") for value in outcomes["test_loss"]],
    }


def decode_outcomes(encoded: dict[str, object], metric: str) -> np.ndarray:
    values = encoded[metric]
    if isinstance(values, str):
        return np.frombuffer(values.encode(), dtype=np.uint8) - ord("0")
    return np.asarray(values, dtype=np.float64)
