"""Kernel matrices: the infinite-width NTK of an architecture (native, or of its `stax` twin), the
empirical NTK of an equinox network, and their evaluation in fixed-size tiles.

Tiles have one fixed square shape per kernel, so a jitted kernel function compiles once
and serves every cell of a sweep; the last tiles are zero-padded and cropped.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import hashlib
import tempfile
import time
import warnings
from collections.abc import Callable, Collection, Iterator
from typing import Any, Literal, Protocol, runtime_checkable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..api import Architecture, CellFailure, KernelStore, StaxTwin, StoredKernel
from ..nt_compat import available_implementations, import_neural_tangents, preferred_implementation
from ._empirical import jacobian_contraction, ntk_vector_products
from ._jaxpr_costs import trace_cost
from ._measured import recall, remember, text_key
from ._networks import example_function, split_model
from ._structured_ntk import Strategy, StructuredNTK, choose_strategies, structure_problem

MAX_TILE = 512
"""Largest tile edge. A 512x512 tile of an MLP's empirical NTK (implementation 3) takes ~0.1 s here."""

KernelFn = Callable[[jax.Array, jax.Array], jax.Array]
Implementation = Literal["native", 1, 2, 3]
Contraction = Literal["trace", "sum_logits"]
"""How the empirical NTK contracts the logits: `trace`, the mean over logits of J_c J_c^T (the
kernel the infinite NTK of a `stax` twin is compared with); `sum_logits`, the kernel of the
summed logits over sqrt(C), (1/C) sum_c sum_c' J_c J_c'^T (Mohamadi et al. 2022, "pNTK"): the
same where the logits' Jacobians are uncorrelated (a wide network at initialisation), about C
times cheaper to compute."""
TIMING_TILE = 256
"""`resolve_implementation` times each implementation on a tile of at most this edge: large enough
to rank them as they run on full tiles, small enough to time a CNN in seconds."""
TIMING_ROUNDS = 3
"""Timings per implementation (the fastest counts): single timings vary by 10-15% on a shared CPU,
while implementations of one kernel often differ by only 20%."""
TIMED_FLOPS_RATIO = 4.0
"""`resolve_implementation` times only the implementations whose tile does at most this many times
the fewest FLOPs (read from their jaxprs): implementations of one kernel run at FLOP rates within a
small factor of each other (measured in benchmarks/README.md), so one that does several times the
work does not win, and timing it would compile and run its tile (an MLP's per-example Jacobians
take seconds and gigabytes)."""
_FASTEST: dict[Any, int] = {}


MIN_TILE = 8
TILE_MEMORY_FRACTION = 0.5
"""The share of the memory budget that the working memory of one compiled tile may take (callers
that hold large arrays meanwhile pass the budget minus those)."""
_TILE_BYTES: dict[Any, int | None] = {}
"""Measured working memory per (kernel key, input shape, tile edge). The budget is not part of the
key: it follows the free memory, which changes by megabytes between calls, and each measurement
is one compilation (seconds for a CNN's empirical NTK)."""


def tile_size(length: int, max_tile: int | None = None) -> int:
    """The tile edge along an axis of this length: the next power of two, at most `max_tile` (`MAX_TILE`)."""
    return min(MAX_TILE if max_tile is None else max_tile, 1 << max(0, (length - 1).bit_length()))


def tile_bytes(kernel_fn: KernelFn, edge: int, input_shape: tuple[int, ...]) -> int | None:
    """Working memory of `kernel_fn` on one `edge` x `edge` tile, from XLA's memory analysis of the
    compiled function (nothing is computed); None when the backend does not report it."""
    tile = jax.ShapeDtypeStruct((edge, *input_shape), jnp.float32)
    lowered = jax.jit(kernel_fn).lower(tile, tile)
    key = text_key(lowered.as_text())
    kept = recall("tile_bytes", key)  # the same computation (another cell's kernel of one network) compiles once
    if kept is None:
        _, used = compiled_facts(compiled_tile(lowered))
        kept = [used]
        remember("tile_bytes", key, kept)
    return kept[0]


def compiled_facts(compiled: Any) -> tuple[float, int | None]:
    """XLA's FLOP count of a compiled computation and its memory (temporaries, outputs and
    arguments; None when the backend does not report it)."""
    analysis = compiled.cost_analysis()
    analysis = analysis[0] if isinstance(analysis, list) else analysis
    memory = compiled.memory_analysis()
    used = None if memory is None else int(memory.temp_size_in_bytes + memory.output_size_in_bytes + memory.argument_size_in_bytes)
    return float((analysis or {}).get("flops", 0.0)), used


_EXECUTABLES: dict[str, Any] = {}


def compiled_tile(lowered: Any) -> Any:
    """`lowered.compile()`, once per process for each computation (by its text): the tile whose
    memory `tile_edge` measured is the one `resolve_implementation` times."""
    key = text_key(lowered.as_text())
    if key not in _EXECUTABLES:
        _EXECUTABLES[key] = lowered.compile()
    return _EXECUTABLES[key]


def tile_edge(
    kernel_fn: KernelFn,
    input_shape: tuple[int, ...],
    *,
    key: Any = None,
    budget: int | None = None,
    at_most: int = MAX_TILE,
) -> int:
    """The largest power-of-two tile edge, at most `at_most` (and `MAX_TILE`), whose compiled tile needs
    no more than `TILE_MEMORY_FRACTION` of the memory budget (`--memory-budget`, by default a safe
    share of free memory). Pass `at_most=tile_size(longest axis)` for small kernels: each edge
    tried is one compilation.

    The convolutional empirical NTK is where this matters: neural-tangents' implementations keep
    per-example Jacobians or NTK-vector products, gigabytes per tile at CNN widths. `key`
    identifies the kernel's computation (not its parameters or data): with one, each edge's
    memory is measured once per key and input shape, and later calls only compare it with the
    budget of the moment; without, every edge tried is compiled on every call. A kernel function
    that cannot be compiled ahead of time gets `MAX_TILE`.
    """
    from ..api import memory_budget

    budget = memory_budget() if budget is None else budget
    edge = min(MAX_TILE, at_most)
    while edge > MIN_TILE:
        try:
            used = _measured_tile_bytes(kernel_fn, edge, tuple(input_shape), key)
        except Exception:  # a kernel that jax cannot compile ahead of time (a plugin's NumPy code): no estimate
            break
        if used is None or used <= TILE_MEMORY_FRACTION * budget:
            break
        edge //= 2
    return edge


def _measured_tile_bytes(kernel_fn: KernelFn, edge: int, input_shape: tuple[int, ...], key: Any) -> int | None:
    """`tile_bytes`, remembered by `key` (when given) across processes (`_measured.py`)."""
    if key is None:
        return tile_bytes(kernel_fn, edge, input_shape)
    cached = (key, input_shape, edge)
    if cached not in _TILE_BYTES:
        named = text_key(repr(cached))
        kept = recall("tile_bytes_by_key", named)
        if kept is None:
            kept = [tile_bytes(kernel_fn, edge, input_shape)]
            remember("tile_bytes_by_key", named, kept)
        _TILE_BYTES[cached] = kept[0]
    return _TILE_BYTES[cached]


def _pad_rows(x: np.ndarray, multiple: int) -> np.ndarray:
    missing = (-len(x)) % multiple
    if missing == 0:
        return x
    return np.concatenate([x, np.zeros((missing, *x.shape[1:]), dtype=x.dtype)])


def _layout(
    x1: np.ndarray, x2: np.ndarray, max_tile: int | None, symmetric: bool
) -> tuple[np.ndarray, np.ndarray, int, int, list[tuple[int, int]]]:
    """How `evaluate_tiled` tiles a kernel: the inputs padded to whole tiles, the tile shape, and
    every tile's origin (on and above the diagonal only, for a symmetric kernel)."""
    rows, columns = tile_size(len(x1), max_tile), tile_size(len(x2), max_tile)
    a = _pad_rows(np.asarray(x1), rows)
    b = a if symmetric else _pad_rows(np.asarray(x2), columns)  # one array: a block's features serve both sides
    origins = [(i, j) for i in range(0, len(a), rows) for j in range(i if symmetric else 0, len(b), columns)]
    return a, b, rows, columns, origins


def evaluate_tiled(
    kernel_fn: KernelFn,
    x1: np.ndarray,
    x2: np.ndarray | None = None,
    *,
    max_tile: int | None = None,
    stored: StoredKernel | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Evaluate `kernel_fn(x1, x2)` tile by tile into a float32 matrix of shape `(len(x1), len(x2))`
    (or into `out`, of that shape and any float dtype: a float64 kernel is then never held in float32).

    Tiles are `tile_size(len(x1), max_tile)` by `tile_size(len(x2), max_tile)`, so a short axis is
    not padded to a long one; `tile_edge` gives the `max_tile` that fits the memory budget. With
    `x2=None` the kernel is symmetric: only tiles on and above the diagonal are computed and the
    result is exactly symmetric. With several local devices, tiles are spread over all of
    them (one tile per device at a time); the result is the same as on one device. A matrix larger
    than `MEMMAP_BYTES` lives in a temporary file (memory-mapped), so that only the tiles in use
    occupy memory.

    With `stored`, every tile is read from its kernel store when it is there and written to it as
    soon as it is computed (see `_stored_tiles`): the matrix is the same, bit for bit.
    """
    symmetric = x2 is None
    x2 = x1 if x2 is None else x2
    a, b, rows, columns, origins = _layout(x1, x2, max_tile, symmetric)
    out = kernel_matrix(len(x1), len(x2)) if out is None else out
    if stored is None:
        computer = TileComputer(kernel_fn, a, b, rows, columns)
        tiles = computer.tiles(computer.order(origins))
    else:
        tiles = _stored_tiles(kernel_fn, a, b, origins, rows, columns, symmetric, (len(x1), len(x2)), stored)
    for (i, j), block in tiles:
        if symmetric and i == j:
            block = 0.5 * (block + block.T)  # float32 round-off makes diagonal tiles slightly asymmetric
        block = block[: len(x1) - i, : len(x2) - j]
        out[i : i + block.shape[0], j : j + block.shape[1]] = block
        if symmetric and j != i:
            out[j : j + block.shape[1], i : i + block.shape[0]] = block.T
    return out


def _block_names(x: np.ndarray, edge: int) -> list[str]:
    """Per block of `edge` rows of the padded inputs `x`: 16 hex digits of a SHA-256 of its values."""
    return [
        hashlib.sha256(f"{x.dtype.str}{x[start : start + edge].shape}".encode() + x[start : start + edge].tobytes()).hexdigest()[:16]
        for start in range(0, len(x), edge)
    ]


def _tile_names(
    a: np.ndarray, b: np.ndarray, origins: list[tuple[int, int]], rows: int, columns: int, symmetric: bool
) -> dict[tuple[int, int], str]:
    """Every tile's name in a kernel store: its shape and the hashes of its row and column inputs."""
    row_names = _block_names(a, rows)
    column_names = row_names if symmetric and rows == columns else _block_names(b, columns)
    return {(i, j): f"{rows}x{columns}-{row_names[i // rows]}-{column_names[j // columns]}" for i, j in origins}


def stored_share(present: Collection[str], x1: np.ndarray, x2: np.ndarray | None = None, *, max_tile: int) -> tuple[float, float]:
    """(entries stored, entries in all) of `evaluate_tiled(., x1, x2, max_tile=max_tile)`'s kernel
    for a kernel store whose tiles of this kernel are named `present`, counting a tile's entries
    inside the matrix: what `ntkbench plan` leaves out of its count."""
    symmetric = x2 is None
    x2 = x1 if x2 is None else x2
    a, b, rows, columns, origins = _layout(x1, x2, max_tile, symmetric)
    stored = 0.0
    for (i, j), name in _tile_names(a, b, origins, rows, columns, symmetric).items():
        if name in present:
            height, width = min(rows, len(x1) - i), min(columns, len(x2) - j)
            stored += height * (height + 1) / 2 if symmetric and i == j else height * width
    return stored, len(x1) * (len(x1) + 1) / 2 if symmetric else len(x1) * len(x2)


MIN_SPREAD_TILES = 8
"""A kernel with fewer tiles left than this is computed where it is asked for, never spread: each
process a tile goes to compiles the kernel first."""


@dataclasses.dataclass(frozen=True)
class TileJob:
    """Tiles of one kernel evaluation for another process to compute into the kernel store: the
    kernel function (it must pickle), the padded inputs, the tile shape and every tile's origin and name."""

    kernel_fn: KernelFn
    a: np.ndarray
    b: np.ndarray
    rows: int
    columns: int
    kernel: str
    """The kernel's identity in the store."""
    names: dict[tuple[int, int], str]


def compute_tiles(job: TileJob, origins: list[tuple[int, int]], store: KernelStore) -> int:
    """Compute the tiles of `origins` that `store` does not hold yet (skipping those another
    process is computing) and write each as it is done; how many this computed."""
    computer = TileComputer(job.kernel_fn, job.a, job.b, job.rows, job.columns)
    return sum(computed for _, _, computed in _compute_missing(job, origins, store, [], computer))


def _compute_missing(
    job: TileJob, missing: list[tuple[int, int]], store: KernelStore, deferred: list[tuple[int, int]], computer: TileComputer
) -> Iterator[tuple[tuple[int, int], np.ndarray, bool]]:
    """The tiles of `missing` (in `computer.order`) with whether this computed them (with
    `computer`): each read if another process wrote it meanwhile, else computed under its lock and
    written; the origins whose lock another process holds are appended to `deferred`."""
    missing = computer.order(missing)
    devices = 1 if computer.blocks else len(computer.devices)
    for start in range(0, len(missing), devices):
        with contextlib.ExitStack() as locks:
            group = missing[start : start + devices]
            claimed = [origin for origin in group if locks.enter_context(store.claim(job.kernel, job.names[origin], wait=False))]
            deferred += [origin for origin in group if origin not in claimed]
            to_compute = []
            for origin in claimed:  # another process may have written it between our read and our claim
                tile = store.read(job.kernel, job.names[origin])
                if tile is None:
                    to_compute.append(origin)
                else:
                    yield origin, tile, False
            for origin, tile in computer.tiles(to_compute):
                store.write(job.kernel, job.names[origin], tile)
                yield origin, tile, True


def _stored_tiles(
    kernel_fn: KernelFn, a: np.ndarray, b: np.ndarray, origins: list[tuple[int, int]], rows: int, columns: int,
    symmetric: bool, shape: tuple[int, int], stored: StoredKernel,
) -> Iterator[tuple[tuple[int, int], np.ndarray]]:
    """`_tiles`, through a kernel store: each tile is named by the hashes of its row and column
    inputs and its shape, so a tile is read back wherever the same kernel meets the same inputs (a
    resumed run, another spec, the leading blocks of a larger nested training set). Missing tiles are
    computed under their lock and written at once; a tile another process is computing is left for
    last and then read (or computed, if that process died). With `stored.spread` (a Ray worker's),
    a kernel with `MIN_SPREAD_TILES` or more missing tiles is first handed out as a `TileJob` to
    every worker of the cluster; what they leave undone is computed here. `stored.on_tiles` hears
    of every tile."""
    store, kernel = stored.store, stored.identity
    names = _tile_names(a, b, origins, rows, columns, symmetric)
    inputs = hashlib.sha256(" ".join(names[origin] for origin in origins).encode()).hexdigest()[:16]
    store.describe(kernel, stored.description, {
        "inputs": inputs, "shape": list(shape), "tile_shape": [rows, columns], "symmetric": symmetric,
        "tiles": [names[origin] for origin in origins],
    })
    job = TileJob(kernel_fn, a, b, rows, columns, kernel, names)
    done, total = 0, len(origins)

    def tell(count: int = 1) -> None:
        nonlocal done
        done += count
        if stored.on_tiles is not None:
            stored.on_tiles(done, total)

    def count(*, read: int = 0, computed: int = 0) -> None:
        if stored.tally is not None:
            stored.tally.add(kernel, stored.description, read=read, computed=computed)

    def stored_of(candidates: list[tuple[int, int]]) -> Iterator[tuple[tuple[int, int], np.ndarray]]:
        for origin in candidates:
            tile = store.read(kernel, names[origin])
            if tile is None:
                missing.append(origin)
            else:
                yield origin, tile

    missing: list[tuple[int, int]] = []
    found = list(stored_of(origins))
    yield from found
    tell(len(found))
    count(read=len(found))
    if stored.spread is not None and len(missing) >= MIN_SPREAD_TILES:
        spread, missing = missing, []
        stored.spread(dataclasses.replace(job, names={origin: names[origin] for origin in spread}), tell)
        computed_elsewhere = list(stored_of(spread))
        count(computed=len(computed_elsewhere))
        yield from computed_elsewhere
    deferred: list[tuple[int, int]] = []
    computer = TileComputer(kernel_fn, a, b, rows, columns)
    for origin, tile, computed in _compute_missing(job, missing, store, deferred, computer):
        tell()
        count(computed=int(computed), read=int(not computed))
        yield origin, tile
    for origin in deferred:
        with store.claim(kernel, names[origin], wait=True):
            tile = store.read(kernel, names[origin])
            if tile is None:  # its process died before writing it
                ((_, tile),) = computer.tiles([origin])
                store.write(kernel, names[origin], tile)
                count(computed=1)
            else:  # another process computed it
                count(read=1)
            tell()
            yield origin, tile


FEATURE_MEMORY_FRACTION = 0.5
"""The share of the memory budget that a `BlockKernel`'s kept block features may take (its tiles
are combined from them: no tile holds more)."""


@runtime_checkable
class BlockKernel(Protocol):
    """A kernel function whose per-example work can be kept: `features(x)` of a block of inputs (any
    pytree of arrays with the examples first), and `combine(f1, f2)` the tile of two blocks, so that
    `kernel(x1, x2) == combine(features(x1), features(x2))`. `evaluate_tiled` computes each block's
    features as few times as its memory allows (`StructuredNTK` is one)."""

    def features(self, x: jax.Array) -> Any: ...

    def combine(self, first: Any, second: Any) -> jax.Array: ...

    def __call__(self, x1: jax.Array, x2: jax.Array) -> jax.Array: ...


def block_order(origins: list[tuple[int, int]], rows: int, capacity: int) -> list[tuple[int, int]]:
    """The order in which a `TileComputer` that keeps `capacity` blocks' features computes these
    tiles (origins `(i, j)`, rows of `rows` inputs): rows in bands of `capacity - 1` row blocks,
    each band's tiles column by column, so that the band's row blocks stay kept while each column
    block's features are computed once per band. A kernel whose features all fit is computed
    with each block's features once; one whose blocks are large, once per band."""
    band = max(capacity - 1, 1)
    return sorted(origins, key=lambda origin: (origin[0] // rows // band, origin[1], origin[0]))


class BlockCache:
    """The block features a `TileComputer` keeps: at most `capacity` blocks, the least recently used
    that is not pinned (the row blocks of the band in progress) dropped first."""

    def __init__(self, capacity: int | None = None):
        self.capacity = capacity
        self.computed = 0
        """Blocks whose features were computed (a block computed again after being dropped counts again)."""
        self._kept: collections.OrderedDict[Any, Any] = collections.OrderedDict()

    def get(self, key: Any, compute: Callable[[], Any], pinned: Collection[Any] = ()) -> Any:
        if key in self._kept:
            self._kept.move_to_end(key)
            return self._kept[key]
        value = compute()
        self.computed += 1
        self._kept[key] = value
        while self.capacity is not None and len(self._kept) > self.capacity:
            unpinned = next((kept for kept in self._kept if kept not in pinned and kept != key), None)
            del self._kept[unpinned if unpinned is not None else next(iter(self._kept))]
        return value


def _block_key(side: str, start: int, symmetric: bool) -> tuple[str, int]:
    """A block's key in a `BlockCache`: in a symmetric kernel a block's features serve as rows and as columns."""
    return ("rows" if symmetric else side, start)


SIMULATED_TILES = 1 << 12
"""`feature_computations` follows the cache tile by tile up to this many tiles; past them it counts by bands."""


def feature_computations(row_blocks: int, column_blocks: int, capacity: int, symmetric: bool) -> int:
    """How many blocks' features a `TileComputer` keeping `capacity` blocks computes for a kernel of
    this many row and column blocks (tiles in `block_order`), for `ntkbench plan`: followed tile by
    tile through a `BlockCache`, or, for more than `SIMULATED_TILES` tiles, counted by bands (each
    band's rows once, and every column it meets once; what the cache keeps between bands, at most
    a block, is left out)."""
    capacity = max(capacity, 2)
    if row_blocks * column_blocks > SIMULATED_TILES:
        if symmetric and capacity >= row_blocks:
            return row_blocks
        if not symmetric and capacity >= row_blocks + column_blocks:
            return row_blocks + column_blocks
        band = capacity - 1
        starts = range(0, row_blocks, band)
        if symmetric:
            return sum(min(band, row_blocks - start) + max(column_blocks - start - band, 0) for start in starts)
        return row_blocks + len(starts) * column_blocks
    cache = BlockCache(capacity)
    origins = [(i, j) for i in range(row_blocks) for j in range(i if symmetric else 0, column_blocks)]
    for i, j in block_order(origins, 1, capacity):
        pinned = _band_keys(i, 1, capacity, row_blocks, symmetric)
        cache.get(_block_key("rows", i, symmetric), lambda: None, pinned)
        cache.get(_block_key("columns", j, symmetric), lambda: None, pinned)
    return cache.computed


def _band_keys(i: int, rows: int, capacity: int, end: int, symmetric: bool) -> set[tuple[str, int]]:
    """The keys of the row blocks in the band of row `i` (`block_order`), which a `BlockCache` keeps."""
    band = max(capacity - 1, 1)
    first = i // rows // band * band
    return {_block_key("rows", block * rows, symmetric) for block in range(first, first + band) if block * rows < end}


def feature_capacity(block_bytes: int, budget: int | None = None) -> int:
    """How many blocks of `block_bytes` features a `TileComputer` keeps: `FEATURE_MEMORY_FRACTION`
    of the budget, at least 2 (a row block and a column block)."""
    from ..api import memory_budget

    budget = memory_budget() if budget is None else budget
    return max(2, int(FEATURE_MEMORY_FRACTION * budget // max(block_bytes, 1)))


class TileComputer:
    """Computes the tiles of one evaluation of `kernel_fn` on the padded inputs `a` and `b`.

    A `BlockKernel` on one device has each block's features computed as few times as the memory
    allows (kept in a `BlockCache` of `FEATURE_MEMORY_FRACTION` of the budget, tiles taken in
    `order`), and each tile costs only its `combine`. Otherwise as many tiles are computed at once
    as there are local devices: each tile's inputs are placed on one device, which runs
    `kernel_fn` there; JAX dispatches asynchronously, so the devices of a group work at the same
    time. Every tile runs the same compiled program as on a single device (a jitted `kernel_fn` is
    compiled once per device, not retraced), so the kernel does not depend on the number of devices.
    """

    def __init__(self, kernel_fn: KernelFn, a: np.ndarray, b: np.ndarray, rows: int, columns: int):
        self.kernel_fn, self.a, self.b, self.rows, self.columns = kernel_fn, a, b, rows, columns
        self.devices = jax.local_devices()
        self.blocks = isinstance(kernel_fn, BlockKernel) and len(self.devices) == 1
        self.cache = BlockCache()
        self._symmetric = a is b and rows == columns

    def order(self, origins: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """`origins` in the order to compute them: `block_order` for a `BlockKernel` (the first row
        block's features are computed to learn how many blocks fit), else as given."""
        if not self.blocks or not origins:
            return list(origins)
        first = min(origins)
        self._features("rows", first[0])
        return block_order(origins, self.rows, self.cache.capacity)

    def tiles(self, origins: list[tuple[int, int]]) -> Iterator[tuple[tuple[int, int], np.ndarray]]:
        """`((i, j), tile)` for every origin, as float32 NumPy arrays, in the order given."""
        if self.blocks:
            for i, j in origins:
                if self.cache.capacity is None:
                    self._features("rows", i)  # learns how many blocks fit
                pinned = _band_keys(i, self.rows, self.cache.capacity, len(self.a), self._symmetric)
                row = self._features("rows", i, pinned)
                tile = self.kernel_fn.combine(row, self._features("columns", j, pinned))
                yield (i, j), np.asarray(tile, np.float32)
            return
        for start in range(0, len(origins), len(self.devices)):
            group = origins[start : start + len(self.devices)]
            blocks = [
                self.kernel_fn(jax.device_put(self.a[i : i + self.rows], device), jax.device_put(self.b[j : j + self.columns], device))
                for (i, j), device in zip(group, self.devices)
            ]
            yield from zip(group, (np.asarray(block, np.float32) for block in blocks))

    def _features(self, side: str, start: int, pinned: Collection[Any] = ()) -> Any:
        def compute() -> Any:
            inputs = self.a[start : start + self.rows] if side == "rows" else self.b[start : start + self.columns]
            features = self.kernel_fn.features(jnp.asarray(inputs))
            if self.cache.capacity is None:
                self.cache.capacity = feature_capacity(sum(leaf.nbytes for leaf in jax.tree_util.tree_leaves(features)))
            return features

        return self.cache.get(_block_key(side, start, self._symmetric), compute, pinned)


MEMMAP_BYTES = 4 << 30
"""Kernel matrices above this size are memory-mapped from a temporary file."""


def kernel_matrix(rows: int, columns: int) -> np.ndarray:
    """An uninitialised float32 matrix, in memory or (above `MEMMAP_BYTES`) memory-mapped."""
    if rows * columns * 4 <= MEMMAP_BYTES:
        return np.empty((rows, columns), dtype=np.float32)
    with tempfile.NamedTemporaryFile(prefix="ntkbench-kernel-", suffix=".f32") as backing:
        return np.memmap(backing.name, dtype=np.float32, mode="w+", shape=(rows, columns))


def infinite_kernel_fn(twin: StaxTwin, kind: Literal["ntk", "nngp"] = "ntk") -> KernelFn:
    """The infinite-width NTK (or NNGP kernel) of `twin`, as a jitted function of two batches."""

    def kernel(x1: jax.Array, x2: jax.Array) -> jax.Array:
        with warnings.catch_warnings():
            # neural-tangents warns that FanIn layers "assume independent inputs" whenever a residual
            # branch is an identity; a fresh convolution on the other branch makes them uncorrelated.
            warnings.filterwarnings("ignore", message="`FanIn` layers assume independent inputs")
            return twin.kernel_fn(x1, x2, kind)

    return jax.jit(kernel)


def architecture_kernel_fn(architecture: Architecture, *, num_classes: int, kind: Literal["ntk", "nngp"] = "ntk") -> KernelFn:
    """The infinite-width NTK (or NNGP kernel) of an architecture, as a jitted function of two
    batches: computed natively from its `kernel_map` when it has one, else by neural-tangents
    from its `stax` twin."""
    if architecture.has_kernel_map():
        from . import infinite

        return infinite.kernel_fn(architecture.kernel_map(num_classes=num_classes), kind)
    return infinite_kernel_fn(architecture.stax_twin(num_classes=num_classes), kind)


@eqx.filter_jit
def empirical_ntk(
    model: Any, x1: jax.Array, x2: jax.Array, implementation: Implementation | None = None, contraction: Contraction = "trace"
) -> jax.Array:
    """The empirical NTK of a network (an `eqx.Module` or a `StatefulModel`) between two batches.

    The network maps one input to its logits; the kernel is traced over the logits (averaged, as
    neural-tangents' `trace_axes=(-1,)` does), so it is comparable with the infinite NTK of a
    `stax` twin. The derivatives are taken with respect to the network's inexact arrays; a
    network with batch norm is taken in inference mode (a per-example function). Jitted with the
    network as an argument: one compilation serves every seed and checkpoint of an architecture.
    `native` is ntkbench's structured kernel of a network built from `ntkbench.layers`
    (`StructuredNTK`: from each weighted layer's inputs and cotangents, on every jax; see
    `native_problem`). Implementations 1 (Jacobian contraction) and 2 (NTK-vector products) are
    ntkbench's own too (`_empirical`), for any network; 3 is neural-tangents' structured
    derivatives, where it works (`nt_compat.available_implementations`). None takes
    `default_implementation(model)`. `contraction` says how the logits are contracted (see
    `Contraction`).
    """
    implementation = implementation if implementation is not None else default_implementation(model)
    if implementation == "native":
        return StructuredNTK(model, contraction)(x1, x2)
    module, state = split_model(model)
    params, static = eqx.partition(module, eqx.is_inexact_array)

    def one(p: Any, x: jax.Array) -> jax.Array:
        logits = example_function(eqx.combine(p, static), state)(x)
        if contraction == "sum_logits":
            return jnp.sum(logits, axis=-1, keepdims=True) / jnp.sqrt(logits.shape[-1])
        return logits

    if implementation == 1:
        return jacobian_contraction(one, params, x1, x2)
    if implementation == 2:
        return ntk_vector_products(one, params, x1, x2)
    nt = import_neural_tangents()

    def apply(p: Any, x: jax.Array) -> jax.Array:
        return jax.vmap(one, in_axes=(None, 0))(p, x)

    return nt.empirical_ntk_fn(apply, trace_axes=(-1,), vmap_axes=0, implementation=implementation)(x1, x2, params)


def native_problem(model: Any, input_shape: tuple[int, ...] | None = None) -> str | None:
    """Why the `native` implementation cannot take `model` (None: it can): it takes a stateless
    network whose every parameter belongs to a dense or convolutional layer of `ntkbench.layers`
    (see `structure_problem`; with `input_shape`, a forward pass is traced to check it)."""
    module, state = split_model(model)
    if state is not None:
        return "the network keeps a state (batch norm), which couples a batch's examples"
    return structure_problem(module, input_shape)


def default_implementation(model: Any) -> Implementation:
    """`native` where it applies (`native_problem`), else `nt_compat.preferred_implementation()`."""
    return "native" if native_problem(model) is None else preferred_implementation()


def empirical_ntk_fn(
    model: Any, implementation: Implementation, contraction: Contraction = "trace", *,
    input_shape: tuple[int, ...] | None = None, examples: int | None = None,
) -> KernelFn:
    """The empirical NTK of `model` as a kernel function of two batches: for `native`, the
    `StructuredNTK` itself (a `BlockKernel`, whose features `evaluate_tiled` keeps per block), its
    layers' strategies chosen for a kernel on `examples` inputs of `input_shape` within the memory
    that keeps features (`native_strategies`)."""
    if implementation == "native":
        strategies = None if input_shape is None else native_strategies(model, input_shape, contraction, examples)
        return StructuredNTK(model, contraction, strategies)
    return lambda x1, x2: empirical_ntk(model, x1, x2, implementation, contraction)


def native_strategies(model: Any, input_shape: tuple[int, ...], contraction: Contraction = "trace",
                      examples: int | None = None, budget: int | None = None) -> tuple[Strategy, ...]:
    """The strategies of `StructuredNTK`'s layers for a kernel on `examples` inputs, whose kept
    features may take `FEATURE_MEMORY_FRACTION` of the budget (`choose_strategies`)."""
    from ..api import memory_budget

    budget = memory_budget() if budget is None else budget
    return choose_strategies(split_model(model)[0], tuple(input_shape), contraction, examples=examples,
                             memory=FEATURE_MEMORY_FRACTION * budget if examples is not None else None)


def network_structure(model: Any) -> tuple:
    """What determines the cost of a network's computations: its structure and parameter shapes
    (not the parameter values, which change from seed to seed and through training). The same
    for a network and its shapes (`jax.ShapeDtypeStruct` leaves, as a plan holds it)."""
    module, _ = split_model(model)
    params = eqx.filter(module, _is_parameter)
    return jax.tree_util.tree_structure(params), tuple(p.shape for p in jax.tree_util.tree_leaves(params))


def _is_parameter(leaf: Any) -> bool:
    abstract = isinstance(leaf, jax.ShapeDtypeStruct) and jnp.issubdtype(leaf.dtype, jnp.inexact)
    return abstract or eqx.is_inexact_array(leaf)


def empirical_ntk_key(model: Any, implementation: Implementation, contraction: Contraction = "trace",
                      strategies: tuple[Strategy, ...] | None = None) -> tuple:
    """Names the computation of `empirical_ntk(model, ., ., implementation, contraction)` (for
    `native`, with its layers' `strategies`) for `tile_edge`."""
    key = ("empirical_ntk", network_structure(model), implementation) + (() if contraction == "trace" else (contraction,))
    return key + ((strategies,) if strategies is not None else ())


def resolve_implementation(
    model: Any, x: np.ndarray, implementation: Implementation | str, *, budget: int | None = None,
    contraction: Contraction = "trace",
) -> Implementation:
    """The implementation to use: as given, or for `"auto"` `native` where it applies
    (`native_problem`: a network of `ntkbench.layers` without batch norm; it computes each example's
    features once for every tile, which a timing of one tile would not see), else the one with the
    highest throughput.

    **Raises:** `CellFailure` for `native` on a network it cannot take.

    Otherwise the candidates are 1, 2 and 3 (those the installed jax allows, `nt_compat.available_implementations`)
    whose tile does at most `TIMED_FLOPS_RATIO` times the fewest FLOPs (`_worth_timing`, from the
    jaxprs, nothing compiled); one candidate left is the answer. Otherwise each is timed on one
    tile of inputs from `x`, at the tile edge it would run at (the largest that fits the memory
    budget, see `tile_edge`; at most `TIMING_TILE`): the fastest on a small block is often not the
    fastest on a large one, and an implementation that keeps more per tile runs at smaller tiles,
    which repeat more work. The candidates are timed in alternation, `TIMING_ROUNDS` times each,
    and compared by their fastest time, so a slow phase of a shared machine does not fall on one
    candidate only. The choice is cached for the process by the network's structure, the input
    shape and the budget.
    """
    if implementation == "native" and (problem := native_problem(model, x.shape[1:])) is not None:
        raise CellFailure(f"implementation native: {problem}; use auto, 1 or 2")
    if implementation != "auto":
        return implementation
    if native_problem(model, x.shape[1:]) is None:
        return "native"
    key = (network_structure(model), x.shape[1:], budget, contraction)
    if key not in _FASTEST:
        candidates = _worth_timing(model, x, contraction)
        if len(candidates) == 1:
            _FASTEST[key] = candidates[0]
            return _FASTEST[key]
        timers = {}
        for candidate in candidates:
            try:
                timers[candidate] = _tile_timer(model, x, candidate, budget, contraction)
            except Exception:  # an implementation neural-tangents cannot apply to this network
                continue
        seconds_per_entry = {candidate: float("inf") for candidate in timers}
        for _ in range(TIMING_ROUNDS):
            for candidate, timer in timers.items():
                seconds_per_entry[candidate] = min(seconds_per_entry[candidate], timer())
        _FASTEST[key] = min(seconds_per_entry, key=seconds_per_entry.get)
    return _FASTEST[key]


def _worth_timing(model: Any, x: np.ndarray, contraction: Contraction) -> list[Implementation]:
    """The available implementations whose tile at the timing edge does at most `TIMED_FLOPS_RATIO`
    times the fewest FLOPs, counted from their jaxprs; all of them when none can be traced (the
    timing then says which work)."""
    edge = min(TIMING_TILE, tile_size(len(x)))
    tile = jax.ShapeDtypeStruct((edge, *x.shape[1:]), jnp.float32)
    flops = {}
    for candidate in available_implementations():
        try:
            cost = trace_cost(lambda network, a, b, c=candidate: empirical_ntk(network, a, b, c, contraction), model, tile, tile,
                              peaks_at=())
        except Exception:  # an implementation neural-tangents cannot apply to this network
            continue
        flops[candidate] = cost.flops()
    if not flops:
        return list(available_implementations())
    fewest = min(flops.values())
    return [candidate for candidate, count in flops.items() if count <= TIMED_FLOPS_RATIO * fewest]


def _tile_timer(
    model: Any, x: np.ndarray, implementation: Implementation, budget: int | None, contraction: Contraction = "trace"
) -> Callable[[], float]:
    """Compile `implementation` on its timing tile and return a function that times one evaluation
    (seconds per kernel entry)."""

    def kernel(a: jax.Array, b: jax.Array) -> jax.Array:
        return empirical_ntk(model, a, b, implementation, contraction)

    edge = tile_edge(kernel, x.shape[1:], key=empirical_ntk_key(model, implementation, contraction), budget=budget,
                     at_most=tile_size(len(x)))
    edge = min(edge, TIMING_TILE)
    tile = jnp.asarray(_pad_rows(np.asarray(x[:edge]), edge))
    compiled = compiled_tile(jax.jit(kernel).lower(tile, tile))
    compiled(tile, tile).block_until_ready()

    def timer() -> float:
        started = time.perf_counter()
        compiled(tile, tile).block_until_ready()
        return (time.perf_counter() - started) / edge**2

    return timer
