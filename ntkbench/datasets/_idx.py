"""Parse and write the IDX format of (Fashion-)MNIST.

An IDX file is two zero bytes, a type code, the number of dimensions, each
dimension as a big-endian int32, then the values in C order.
"""

from __future__ import annotations

import struct

import numpy as np

_TYPE_CODES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


class IdxFormatError(ValueError):
    """The bytes are not a complete IDX file."""


def parse_idx(payload: bytes) -> np.ndarray:
    """Return the array stored in an (uncompressed) IDX payload.

    **Raises:** `IdxFormatError` for a bad header or a payload whose length does not match it.
    """
    if len(payload) < 4 or payload[0] != 0 or payload[1] != 0:
        raise IdxFormatError("not an IDX file (bad magic number)")
    type_code, ndim = payload[2], payload[3]
    if type_code not in _TYPE_CODES:
        raise IdxFormatError(f"unknown IDX type code 0x{type_code:02x}")
    header_end = 4 + 4 * ndim
    if len(payload) < header_end:
        raise IdxFormatError("truncated IDX header")
    shape = struct.unpack(f">{ndim}i", payload[4:header_end])
    dtype = _TYPE_CODES[type_code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(payload) - header_end != expected:
        raise IdxFormatError(f"IDX body has {len(payload) - header_end} bytes; its header {shape} needs {expected}")
    return np.frombuffer(payload, dtype=dtype, offset=header_end).reshape(shape).astype(dtype.newbyteorder("="))
