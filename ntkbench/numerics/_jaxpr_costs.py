"""What a computation costs, read from its jaxpr without compiling it: the FLOPs of its matrix
products, convolutions and element-wise work, and the peak bytes of the values it holds when its
equations run in order.

`ntkbench plan` estimates with these: tracing a computation takes a fraction of a second where
compiling a CNN's kernel tile takes seconds per tile edge. Traced with symbolic batch sizes
(`jax.export.symbolic_shape`), a kernel tile's costs are expressions in its rows and columns, so
one trace gives every tile edge. The counts follow XLA's conventions (2 FLOPs per multiply-add,
1 per element of element-wise work and of a reduction's input, none for moving data). XLA fuses
and schedules what a jaxpr holds one value at a time, so the peak is an estimate of XLA's
memory analysis, not that analysis (the agreement is measured in benchmarks/README.md).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import equinox as eqx
import jax
import numpy as np
from jax.extend import core as jax_core

Size = int | str
"""A count: an int, or an expression in the symbolic sizes (the text of a `jax.export` dimension)."""

MOVES_DATA = frozenset({
    "broadcast_in_dim", "concatenate", "convert_element_type", "copy", "copy_p", "dynamic_slice", "dynamic_update_slice",
    "expand_dims", "gather", "iota", "pad", "reshape", "rev", "select_n", "slice", "squeeze", "stop_gradient", "transpose",
})
"""Primitives that only move or relabel data: XLA counts no FLOPs for them."""
VIEWS = frozenset({"broadcast_in_dim", "expand_dims", "reshape", "squeeze"})
"""Primitives whose output XLA need not hold apart from their input."""


@dataclasses.dataclass(frozen=True)
class _Step:
    made: tuple[Size, ...]
    """Bytes of the values the equation makes."""
    freed: tuple[Size, ...]
    """Bytes of the values last used here (and of outputs never used)."""
    inner: tuple[_Program, ...]
    """Programs the equation calls (a nested jit, a scan's body)."""


@dataclasses.dataclass(frozen=True)
class _Program:
    held: tuple[Size, ...]
    """Bytes of its inputs and constants."""
    steps: tuple[_Step, ...]


@dataclasses.dataclass(frozen=True)
class TracedCost:
    """The FLOPs of one traced computation at any value of its symbolic sizes, and its peak bytes
    at the values it was traced for (`trace_cost`'s `peaks_at`). Plain data: kept as JSON across
    processes (`as_json`, `from_json`)."""

    flop_terms: tuple[tuple[float, Size], ...]
    """(FLOPs per unit, count) pairs whose products sum to the FLOPs."""
    peaks: tuple[tuple[tuple[tuple[str, int], ...], int], ...]
    """(sizes, peak bytes) pairs."""

    def flops(self, **sizes: int) -> float:
        """FLOPs with the symbolic sizes at these values (`rows=512, columns=512`)."""
        values = _Values(sizes)
        return float(sum(weight * values(count) for weight, count in self.flop_terms))

    def peak_bytes(self, **sizes: int) -> int:
        """The most bytes held at once (inputs, constants, outputs and intermediates) when the
        equations run in order, each value freed after its last use.

        **Raises:** `KeyError` for sizes the computation was not traced for."""
        return dict(self.peaks)[tuple(sorted(sizes.items()))]

    def as_json(self) -> dict[str, Any]:
        return {"flops": [list(term) for term in self.flop_terms], "peaks": [[dict(sizes), peak] for sizes, peak in self.peaks]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TracedCost:
        return cls(
            tuple((float(weight), count) for weight, count in data["flops"]),
            tuple((tuple(sorted(sizes.items())), int(peak)) for sizes, peak in data["peaks"]),
        )


def trace_cost(fn: Callable, *arguments: Any, peaks_at: Sequence[Mapping[str, int]] | None = None) -> TracedCost:
    """The cost of `fn(*arguments)`. Arrays and `jax.ShapeDtypeStruct` leaves of `arguments` are
    traced (their shapes may hold `jax.export.symbolic_shape` dimensions); other leaves are static.
    The peak bytes are evaluated at each of `peaks_at` (values of the symbolic sizes); by default
    at the traced shapes when they hold no symbolic size.

    **Raises:** whatever tracing raises (a function JAX cannot trace, such as one calling NumPy on
    its inputs).
    """
    function, dynamic = traceable(fn, arguments)
    closed = jax.make_jaxpr(function)(dynamic)
    terms: dict[Size, float] = {}
    program = _read(closed.jaxpr, terms, 1.0)
    if peaks_at is None:
        leaves = jax.tree_util.tree_leaves(dynamic)
        concrete = all(isinstance(size, int) for leaf in leaves for size in leaf.shape)
        peaks_at = ({},) if concrete else ()
    peaks = tuple((tuple(sorted(sizes.items())), int(_peak(program, _Values(sizes)))) for sizes in peaks_at)
    return TracedCost(tuple((weight, count) for count, weight in terms.items()), peaks)


def split_arguments(arguments: tuple) -> tuple[Any, Any]:
    """(what is traced: arrays and `jax.ShapeDtypeStruct` leaves, the static rest), for `eqx.combine`."""
    return eqx.partition(arguments, lambda leaf: isinstance(leaf, jax.ShapeDtypeStruct | jax.Array | np.ndarray))


def traceable(fn: Callable, arguments: tuple) -> tuple[Callable, Any]:
    """`fn` as a function of the traced part of `arguments` (`split_arguments`) that returns only the
    arrays of its result (a returned network keeps static fields, such as a batch norm's axis
    name, that JAX cannot trace), and that traced part."""
    dynamic, static = split_arguments(arguments)
    return (lambda traced: eqx.filter(fn(*eqx.combine(traced, static)), eqx.is_array)), dynamic


def _bytes(aval: Any) -> Size:
    itemsize = aval.dtype.itemsize if hasattr(aval, "dtype") else 4
    count = math.prod((*getattr(aval, "shape", ()), itemsize))
    return count if isinstance(count, int) else str(count)


def _called(eqn: Any) -> list[Any]:
    """The jaxprs an equation calls (a nested jit's, a custom derivative's, a scan's or loop's body, a cond's branches)."""
    found = []
    for value in eqn.params.values():
        for item in value if isinstance(value, tuple | list) else (value,):
            if isinstance(item, jax_core.ClosedJaxpr):
                found.append(item.jaxpr)
            elif isinstance(item, jax_core.Jaxpr):
                found.append(item)
    return found


def _add(terms: dict[Size, float], count: Any, weight: float) -> None:
    key: Size = count if isinstance(count, int) else str(count)
    terms[key] = terms.get(key, 0.0) + weight


def _read(jaxpr: Any, terms: dict[Size, float], repeats: float, scale: Any = 1) -> _Program:
    """The program of `jaxpr`, adding its FLOPs (times `repeats`, and times `scale`, the symbolic
    trip count of the loops around it) to `terms`. A value that only
    relabels or broadcasts another (`VIEWS`) holds no memory of its own: XLA fuses it into its
    uses; the value it views lives until the view's last use. Inputs and constants belong to the
    caller and are held throughout."""
    root: dict[Any, Any] = {}
    for eqn in jaxpr.eqns:
        if eqn.primitive.name in VIEWS and isinstance(eqn.invars[0], jax_core.Var):
            root[eqn.outvars[0]] = root.get(eqn.invars[0], eqn.invars[0])
    last_use: dict[Any, int] = {}
    for index, eqn in enumerate(jaxpr.eqns):
        for var in eqn.invars:
            if isinstance(var, jax_core.Var):
                last_use[root.get(var, var)] = index
    for var in jaxpr.outvars:
        if isinstance(var, jax_core.Var):
            last_use[root.get(var, var)] = len(jaxpr.eqns)
    owned = {*jaxpr.invars, *jaxpr.constvars}  # the caller's: held throughout
    steps = []
    for index, eqn in enumerate(jaxpr.eqns):
        inner = _called(eqn)
        if eqn.primitive.name == "cond":  # one branch runs: count the largest
            inner = [max(inner, key=lambda branch: len(branch.eqns))]
        length = eqn.params.get("length", 1) if eqn.primitive.name == "scan" else 1
        times, trips = (repeats * length, scale) if isinstance(length, int) else (repeats, scale * length)
        programs = tuple(_read(called, terms, times, trips) for called in inner)
        if not inner:
            _count_flops(eqn, terms, repeats, scale)
        outputs = [var for var in eqn.outvars if type(var).__name__ != "DropVar" and var not in root]
        used = {root.get(var, var) for var in eqn.invars if isinstance(var, jax_core.Var)} - owned
        freed = {var for var in used if last_use.get(var) == index} | {var for var in outputs if var not in last_use}
        steps.append(_Step(tuple(_bytes(var.aval) for var in outputs), tuple(_bytes(var.aval) for var in freed), programs))
    held = tuple(_bytes(var.aval) for var in (*jaxpr.constvars, *jaxpr.invars))
    return _Program(held, tuple(steps))


def _count_flops(eqn: Any, terms: dict[Size, float], repeats: float, scale: Any = 1) -> None:
    name = eqn.primitive.name
    outputs = [var.aval for var in eqn.outvars]
    if name == "dot_general":
        (contracting, _), _ = eqn.params["dimension_numbers"]
        depth = math.prod(eqn.invars[0].aval.shape[axis] for axis in contracting)
        _add(terms, math.prod(outputs[0].shape) * depth * scale, 2.0 * repeats)
    elif name == "conv_general_dilated":
        kernel = eqn.invars[1].aval.shape
        per_output = math.prod(kernel) // kernel[eqn.params["dimension_numbers"].rhs_spec[0]]
        _add(terms, math.prod(outputs[0].shape) * per_output * scale, 2.0 * repeats)
    elif name in MOVES_DATA or name.startswith("scatter"):
        return
    elif name.startswith("reduce") or name.startswith("cum") or name.startswith("arg"):
        for var in eqn.invars:
            _add(terms, math.prod(getattr(var.aval, "shape", ())) * scale, repeats)
    else:
        for aval in outputs:
            _add(terms, math.prod(getattr(aval, "shape", ())) * scale, repeats)


class _Values:
    """Sizes evaluated at given values of the symbols, each expression compiled once."""

    _CODE: dict[str, Any] = {}
    _FUNCTIONS: Mapping[str, Callable] = {
        "floordiv": lambda a, b: a // b, "mod": lambda a, b: a % b, "max": max, "min": min,
        "non_negative": lambda a: max(a, 0),
    }

    def __init__(self, sizes: Mapping[str, int]):
        self.namespace = {"__builtins__": {}, **self._FUNCTIONS, **sizes}
        self.known: dict[str, float] = {}

    def __call__(self, size: Size) -> float:
        if isinstance(size, int):
            return size
        if size not in self.known:
            if size not in self._CODE:
                self._CODE[size] = compile(size.replace("^", "**"), "<size>", "eval")  # JAX writes powers as ^
            self.known[size] = eval(self._CODE[size], self.namespace)  # noqa: S307 - JAX's own text of a dimension
        return self.known[size]


def _peak(program: _Program, values: _Values) -> float:
    held = sum(values(size) for size in program.held)
    peak = held
    for step in program.steps:
        made = sum(values(size) for size in step.made)
        within = max((_peak(inner, values) - sum(values(size) for size in inner.held) for inner in step.inner), default=0.0)
        peak = max(peak, held + max(made, within))
        held += made - sum(values(size) for size in step.freed)
    return peak
