"""The empirical NTK of a network built from `ntkbench.layers`, from the structure of its weighted
layers: what each one takes in and what the logits pass back to its output, computed once per
example, then combined pair by pair.

A weighted layer computes `y = m_w (x · W) + m_b b` (a dense layer, or a convolution over its
input's patches). With `g_k = ∂f_k/∂y`, the cotangent of logit k at its output, its Jacobian is
`J_W^k(x) = m_w Σ_p patch_p(x) ⊗ g_{k,p}(x)` over its output positions p (one for a dense layer,
whose patch is its input) and `J_b^k(x) = m_b Σ_p g_{k,p}(x)`. Its part of the kernel traced over
the logits is the mean over k of `J^k(x) · J^k(x')`, computed one of three ways:

- `gram` (dense layers): `m_w² (x·x') · mean_k (g_k·g'_k)`: two Gram matrices and their product
  entry by entry (the structured derivative of Novak, Sohl-Dickstein & Schoenholz 2022);
- `jacobian` (convolutions): each example's `J^k` is formed once (K · |W| numbers) and two blocks
  are contracted by one matrix product;
- `positions` (convolutions with few positions and many weights): `m_w² Σ_{p,q} (patch_p·patch'_q)
  · mean_k (g_{k,p}·g'_{k,q})`, without forming `J^k`.

A convolution takes whichever of the last two counts fewer FLOPs per kernel entry. The network's
kernel is the sum over its weighted layers; layers without parameters (activations, pooling,
parameterless normalisation, residual sums) only shape the inputs and cotangents. `StructuredNTK`
is a kernel function of two batches like any other, and also offers `features` and `combine`, so
that `evaluate_tiled` computes each example's features once for every tile they meet.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Literal

import equinox as eqx
import jax
import jax.numpy as jnp

from ._network_layers import Conv, Dense

Contraction = Literal["trace", "sum_logits"]
Strategy = Literal["gram", "jacobian", "positions"]


class _Tape:
    """What a probed forward pass records: each weighted layer's input, with `probes` added to its output."""

    def __init__(self, probes: tuple[jax.Array, ...] | None):
        self.probes = probes
        self.inputs: dict[int, jax.Array] = {}
        self.outputs: dict[int, jax.Array] = {}

    def in_order(self, recorded: dict[int, jax.Array], layers: int) -> tuple[jax.Array, ...]:
        """What was recorded, by layer index; every layer must have been called exactly once."""
        if sorted(recorded) != list(range(layers)):
            raise ValueError(f"{len(recorded)} of the network's {layers} weighted layers were called in its forward pass")
        return tuple(recorded[index] for index in range(layers))


_TAPES: list[_Tape] = []
"""The tape of the probed forward pass being traced (a stack: traces do not nest here, but a stack
keeps a failed one from leaving its tape behind)."""


class _Probed(eqx.Module):
    """A weighted layer that records its input on the current tape and adds its probe to its output;
    the derivative of the logits with respect to the probe is the cotangent at the layer's output."""

    layer: Dense | Conv
    index: int = eqx.field(static=True)

    def __call__(self, x: jax.Array) -> jax.Array:
        tape = _TAPES[-1]
        if self.index in tape.inputs:
            raise ValueError("a weighted layer is called more than once in the network's forward pass (shared weights)")
        y = self.layer(x)
        tape.inputs[self.index] = x
        tape.outputs[self.index] = y
        return y if tape.probes is None else y + tape.probes[self.index]


def _is_weighted(node: Any) -> bool:
    return isinstance(node, Dense | Conv)


def weighted_layers(module: Any) -> list[Dense | Conv]:
    """The dense and convolutional layers of `module`, in the order of its tree."""
    return [node for node in jax.tree_util.tree_leaves(module, is_leaf=_is_weighted) if _is_weighted(node)]


def structure_problem(model: Any, input_shape: tuple[int, ...] | None = None) -> str | None:
    """Why `model` has no structured empirical NTK (None: it has one): it must be a stateless
    `eqx.Module` whose every parameter is a weight or bias of a dense or convolutional layer, each
    called once per forward pass (checked on inputs of `input_shape`, when given)."""
    if not isinstance(model, eqx.Module):
        return "the network keeps a state (batch norm): its empirical NTK couples a batch's examples"
    layers = weighted_layers(model)
    if not layers:
        return "the network has no dense or convolutional layer"
    owned = {id(array) for layer in layers for array in (layer.weight, layer.bias) if array is not None}
    others = [leaf for leaf in jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_inexact_array)) if id(leaf) not in owned]
    if others:
        return f"{len(others)} parameter array(s) belong to layers other than dense and convolutional ones"
    if input_shape is not None:
        try:
            _output_shapes(model, tuple(input_shape))
        except ValueError as error:
            return str(error)
    return None


def _probed(model: Any) -> Any:
    layers = weighted_layers(model)
    return eqx.tree_at(weighted_layers, model, [_Probed(layer, index) for index, layer in enumerate(layers)])


def _patch_size(layer: Conv) -> int:
    height, width, channels, _ = layer.weight.shape
    return height * width * channels


@dataclasses.dataclass(frozen=True)
class LayerCost:
    """What one weighted layer costs under each strategy it allows: multiply-adds per kernel entry
    and feature bytes per example (float32), and the multiply-adds of its forward pass per example."""

    per_entry: dict[Strategy, float]
    per_example_bytes: dict[Strategy, float]
    forward: float


def layer_costs(model: Any, input_shape: tuple[int, ...], contraction: Contraction = "trace") -> list[LayerCost]:
    """Per weighted layer of `model` on inputs of `input_shape`, its `LayerCost` (counted, not timed;
    kept per network structure and input shape: one forward pass is traced)."""
    key = (_structure_key(model), tuple(input_shape), contraction)
    if key not in _LAYER_COSTS:
        _LAYER_COSTS[key] = _counted_costs(model, tuple(input_shape), contraction)
    return _LAYER_COSTS[key]


_LAYER_COSTS: dict[Any, list[LayerCost]] = {}


def _structure_key(model: Any) -> Any:
    """What a network's layer costs depend on: its tree's structure and its arrays' shapes."""
    leaves, structure = jax.tree_util.tree_flatten(model)
    return structure, tuple(getattr(leaf, "shape", None) for leaf in leaves)


def feature_bytes_per_example(model: Any, input_shape: tuple[int, ...], contraction: Contraction,
                              strategies: tuple[Strategy, ...]) -> float:
    """The bytes of one example's features under `strategies` (float32), counted."""
    return sum(cost.per_example_bytes[strategy] for cost, strategy in zip(layer_costs(model, input_shape, contraction), strategies))


def _counted_costs(model: Any, input_shape: tuple[int, ...], contraction: Contraction) -> list[LayerCost]:
    costs = []
    outputs = _output_shapes(model, input_shape)
    logits = 1 if contraction == "sum_logits" else outputs[-1][-1]
    for layer, shape in zip(weighted_layers(model), outputs):
        channels = shape[-1]
        bias = 0 if layer.bias is None else logits * channels
        if isinstance(layer, Dense):
            fan_in = layer.weight.shape[0]
            size = fan_in + logits * channels
            costs.append(LayerCost({"gram": size}, {"gram": 4.0 * size}, fan_in * channels))
            continue
        positions, patch = math.prod(shape[:-1]), _patch_size(layer)
        jacobian = logits * patch * channels + bias
        pairs = positions * positions * (patch + logits * channels + 1) + bias
        costs.append(LayerCost(
            {"jacobian": jacobian, "positions": pairs},
            {"jacobian": 4.0 * jacobian, "positions": 4.0 * (positions * patch + logits * positions * channels + bias)},
            positions * patch * channels,
        ))
    return costs


def choose_strategies(
    model: Any, input_shape: tuple[int, ...], contraction: Contraction = "trace", *, examples: int | None = None,
    memory: float | None = None,
) -> tuple[Strategy, ...]:
    """Each weighted layer's strategy: the one with the fewest multiply-adds per kernel entry; and,
    for a kernel on `examples` inputs whose features exceed `memory` bytes, a trade of per-entry
    work for feature bytes wherever it pays. `evaluate_tiled` keeps `memory / bytes per example`
    examples' features and computes every other example's once per band of that many rows, so a
    byte per example costs about `2 · features' work / memory` per kernel entry (the features' work
    counted as a forward pass and, per logit, a backward pass and a weight Jacobian)."""
    costs = layer_costs(model, input_shape, contraction)
    chosen = [min(cost.per_entry, key=cost.per_entry.get) for cost in costs]
    if examples is None or memory is None:
        return tuple(chosen)
    logits = 1 if contraction == "sum_logits" else _output_shapes(model, input_shape)[-1][-1]
    feature_work = (1 + 2 * logits) * sum(cost.forward for cost in costs)

    def total(strategies: list[Strategy]) -> float:
        per_entry = sum(cost.per_entry[strategy] for cost, strategy in zip(costs, strategies))
        example_bytes = sum(cost.per_example_bytes[strategy] for cost, strategy in zip(costs, strategies))
        kept = min(examples, max(memory / example_bytes, 1.0))
        return per_entry + 2.0 * feature_work / kept

    while True:
        candidates = [chosen[:index] + [other] + chosen[index + 1 :]
                      for index, cost in enumerate(costs) for other in cost.per_entry if other != chosen[index]]
        best = min(candidates, key=total, default=chosen)
        if total(best) >= total(chosen):
            return tuple(chosen)
        chosen = best


@dataclasses.dataclass(frozen=True)
class LayerPlan:
    """How one weighted layer's part of the kernel is computed."""

    strategy: Strategy
    weight_multiplier: float
    bias_multiplier: float | None
    """None: the layer has no bias."""


def layer_plans(model: Any, strategies: tuple[Strategy, ...]) -> list[LayerPlan]:
    """How each weighted layer of `model` is computed, with these strategies."""
    return [
        LayerPlan(strategy, layer.scaling.weight_multiplier, None if layer.bias is None else layer.scaling.bias_multiplier)
        for layer, strategy in zip(weighted_layers(model), strategies)
    ]


@dataclasses.dataclass(frozen=True, eq=False)
class StructuredNTK:
    """The structured empirical NTK of `model` (see the module docstring), traced over the logits
    (`contraction="trace"`, their mean) or of their sum over sqrt(K) (`"sum_logits"`), each weighted
    layer computed by its strategy (`strategies`; None: `choose_strategies` on each block's shape,
    without a memory limit).

    Called on two batches it is the kernel matrix; `features(x)` gives each example's per-layer
    inputs, cotangents or Jacobians, and `combine(f1, f2)` the matrix from two blocks' features.
    Both are jitted with the network as an argument: one compilation serves every seed."""

    model: Any
    contraction: Contraction = "trace"
    strategies: tuple[Strategy, ...] | None = None

    def __post_init__(self) -> None:
        problem = structure_problem(self.model)
        if problem is not None:
            raise ValueError(f"no structured empirical NTK: {problem}")

    def features(self, x: jax.Array) -> tuple[dict[str, jax.Array], ...]:
        return _features(self.model, x, self.contraction, self.strategies)

    def combine(self, first: tuple[dict[str, jax.Array], ...], second: tuple[dict[str, jax.Array], ...]) -> jax.Array:
        return _combine(self.model, first, second)

    def __call__(self, x1: jax.Array, x2: jax.Array) -> jax.Array:
        return self.combine(self.features(x1), self.features(x2))


def _output_shapes(model: Any, input_shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Each weighted layer's output shape for one input of `input_shape` (traced only: `model` may
    hold `jax.ShapeDtypeStruct` leaves, as a plan's network does; kept per network structure)."""
    key = (_structure_key(model), tuple(input_shape))
    if key not in _OUTPUT_SHAPES:
        _OUTPUT_SHAPES[key] = _traced_output_shapes(model, tuple(input_shape))
    return _OUTPUT_SHAPES[key]


_OUTPUT_SHAPES: dict[Any, list[tuple[int, ...]]] = {}


def _traced_output_shapes(model: Any, input_shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    count = len(weighted_layers(model))

    def forward(network: Any, x: jax.Array) -> list[jax.Array]:
        _TAPES.append(_Tape(None))
        try:
            _probed(network)(x)
            return list(_TAPES[-1].in_order(_TAPES[-1].outputs, count))
        finally:
            _TAPES.pop()

    shapes = jax.eval_shape(forward, model, jax.ShapeDtypeStruct(input_shape, jnp.float32))
    return [tuple(shape.shape) for shape in shapes]


def _cotangent_rows(logits: int, contraction: Contraction, dtype: Any) -> jax.Array:
    """The cotangents pulled back from the logits: one per logit, or their sum over sqrt(K)."""
    if contraction == "sum_logits":
        return jnp.full((1, logits), 1.0 / math.sqrt(logits), dtype=dtype)
    return jnp.eye(logits, dtype=dtype)


def block_features(
    model: Any, x: jax.Array, contraction: Contraction = "trace", strategies: tuple[Strategy, ...] | None = None
) -> tuple[dict[str, jax.Array], ...]:
    """Per weighted layer of `model`, the per-example quantities of the block `x` that its strategy
    combines (`StructuredNTK.features` unjitted, as a plan traces it); `strategies` default to
    `choose_strategies` without a memory limit."""
    strategies = strategies or choose_strategies(model, tuple(x.shape[1:]), contraction)
    plans = layer_plans(model, strategies)
    layers = weighted_layers(model)
    probed = _probed(model)
    shapes = _output_shapes(model, tuple(x.shape[1:]))

    def one(example: jax.Array) -> tuple[dict[str, jax.Array], ...]:
        def forward(probes: tuple[jax.Array, ...]) -> tuple[jax.Array, tuple[jax.Array, ...]]:
            _TAPES.append(_Tape(probes))
            try:
                logits = probed(example)
                return logits, _TAPES[-1].in_order(_TAPES[-1].inputs, len(layers))
            finally:
                _TAPES.pop()

        zeros = tuple(jnp.zeros(shape, example.dtype) for shape in shapes)
        logits, pull, inputs = jax.vjp(forward, zeros, has_aux=True)
        (cotangents,) = jax.vmap(pull)(_cotangent_rows(logits.shape[-1], contraction, logits.dtype))
        return tuple(_layer_features(layer, plan, inputs[index], cotangents[index])
                     for index, (layer, plan) in enumerate(zip(layers, plans)))

    return jax.vmap(one)(x)


_features = eqx.filter_jit(block_features)


def _layer_features(layer: Dense | Conv, plan: LayerPlan, inputs: jax.Array, cotangents: jax.Array) -> dict[str, jax.Array]:
    """One example's features of one layer: `inputs` as the layer took them, `cotangents` `(K', *output)`."""
    features: dict[str, jax.Array] = {}
    if plan.strategy == "gram":
        features = {"inputs": inputs, "cotangents": cotangents}
    elif plan.strategy == "jacobian":  # Σ_p patch_p ⊗ g_{k,p}: one matrix product per logit
        rows = cotangents.reshape(cotangents.shape[0], -1, cotangents.shape[-1])
        features = {"jacobian": plan.weight_multiplier * jnp.einsum("pf,kpc->kfc", _patches(layer, inputs), rows)}
    else:
        features = {"patches": _patches(layer, inputs), "cotangents": cotangents.reshape(cotangents.shape[0], -1, cotangents.shape[-1])}
    if plan.bias_multiplier is not None and plan.strategy != "gram":
        spatial = tuple(range(1, cotangents.ndim - 1))
        features["bias"] = plan.bias_multiplier * jnp.sum(cotangents, axis=spatial)
    return features


def _patches(layer: Conv, x: jax.Array) -> jax.Array:
    """`(positions, patch)`: the input patches each output position sees (in any fixed order)."""
    height, width = layer.weight.shape[:2]
    patches = jax.lax.conv_general_dilated_patches(
        x[None], (height, width), (layer.stride, layer.stride), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"),
    )[0]
    return patches.reshape(-1, patches.shape[-1])


@eqx.filter_jit
def _combine(model: Any, first: tuple[dict[str, jax.Array], ...], second: tuple[dict[str, jax.Array], ...]) -> jax.Array:
    layers = weighted_layers(model)
    total = jnp.zeros((_rows(first), _rows(second)), jnp.float32)
    for layer, a, b in zip(layers, first, second):
        total = total + _layer_kernel(layer, a, b)
    return total


def _rows(features: tuple[dict[str, jax.Array], ...]) -> int:
    return next(iter(features[0].values())).shape[0]


def _flat(array: jax.Array) -> jax.Array:
    return array.reshape(array.shape[0], -1)


def _layer_kernel(layer: Dense | Conv, a: dict[str, jax.Array], b: dict[str, jax.Array]) -> jax.Array:
    """One layer's part of the kernel between two blocks, traced over the cotangents' rows."""
    scaling = layer.scaling
    if "jacobian" in a:
        rows = a["jacobian"].shape[1]
        kernel = _flat(a["jacobian"]) @ _flat(b["jacobian"]).T / rows
    elif "patches" in a:
        rows = a["cotangents"].shape[1]
        kernel = scaling.weight_multiplier**2 * _position_pairs(a, b) / rows
    else:
        rows = a["cotangents"].shape[1]
        cotangent_gram = _flat(a["cotangents"]) @ _flat(b["cotangents"]).T / rows
        kernel = scaling.weight_multiplier**2 * (a["inputs"] @ b["inputs"].T) * cotangent_gram
        if layer.bias is not None:
            kernel = kernel + scaling.bias_multiplier**2 * cotangent_gram
        return kernel
    if "bias" in a:
        kernel = kernel + _flat(a["bias"]) @ _flat(b["bias"]).T / rows
    return kernel


def _position_pairs(a: dict[str, jax.Array], b: dict[str, jax.Array]) -> jax.Array:
    """Σ_{p,q} (patch_p · patch'_q) (Σ_k g_{k,p} · g'_{k,q}), one position p of the first block at a time."""

    def at(position: jax.Array) -> jax.Array:
        patches = jnp.einsum("if,jqf->ijq", a["patches"][:, position], b["patches"])
        cotangents = jnp.einsum("ikc,jkqc->ijq", a["cotangents"][:, :, position], b["cotangents"])
        return jnp.sum(patches * cotangents, axis=-1)

    positions = a["patches"].shape[1]
    return jax.lax.fori_loop(0, positions, lambda p, total: total + at(p),
                             jnp.zeros((a["patches"].shape[0], b["patches"].shape[0]), jnp.float32))
