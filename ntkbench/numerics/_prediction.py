"""A network's outputs on many inputs, in chunks of `PREDICT_BATCH` rows, for one network or for
several stacked along a leading axis."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._networks import batch_logits, join_network, split_model

PREDICT_BATCH = 1024


def predict(model: Any, x: np.ndarray, *, initial: Any = None) -> np.ndarray:
    """The network's outputs on `x` (minus those of `initial`, for a centred network), as float64."""
    outputs = np.concatenate([chunk for _, chunk in output_chunks(model, x)])
    return outputs if initial is None else outputs - predict(initial, x)


def output_chunks(model: Any, x: np.ndarray) -> Iterator[tuple[slice, np.ndarray]]:
    """The network's outputs on `x`, `PREDICT_BATCH` rows at a time: (the rows, float64 outputs)."""
    module, state = split_model(model)
    for start in range(0, len(x), PREDICT_BATCH):
        rows = slice(start, start + PREDICT_BATCH)
        yield rows, np.asarray(_inference_logits(module, state, jnp.asarray(x[rows]))).astype(np.float64)


@eqx.filter_jit
def _inference_logits(module, state, x):
    return batch_logits(module, state, x, training=False)[0]


@eqx.filter_jit
def stacked_inference_logits(arrays, rest, state, x):
    """`_inference_logits` of networks stacked along a leading axis (`split_network`), each on its own inputs."""
    return jax.vmap(lambda a, s, inputs: batch_logits(join_network(a, rest), s, inputs, training=False)[0])(arrays, state, x)
