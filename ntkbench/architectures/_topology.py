"""The layer structure of the built-in convolutional networks, shared by their equinox networks,
their `stax` twins and their parameter counts (no jax here: validation counts parameters)."""

from __future__ import annotations

STAGE_DEPTHS = {5: (2, 1, 1), 7: (2, 2, 2), 10: (3, 3, 3)}
"""Myrtle: convolutions per stage; with the dense readout they make the network's depth."""

STAGES = ((1, 1), (2, 2), (4, 2), (8, 2))
"""ResNet-18: (channel multiple of `width`, blocks) per stage; every stage after the first starts with stride 2."""


def block_shapes(width: int) -> list[tuple[int, int, int]]:
    """(in channels, out channels, stride) of every residual block, in order."""
    shapes, channels = [], width
    for stage, (multiple, count) in enumerate(STAGES):
        for index in range(count):
            shapes.append((channels, width * multiple, 2 if stage > 0 and index == 0 else 1))
            channels = width * multiple
    return shapes
