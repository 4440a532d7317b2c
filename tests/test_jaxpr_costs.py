"""FLOPs and peak memory read from a jaxpr (`numerics/_jaxpr_costs.py`), which `ntkbench plan`
estimates with instead of compiling: exact on computations whose cost is known by hand, the same
symbolic as concrete, and close to XLA's own analysis of the compiled kernel tiles."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import pytest
from jax import export

from ntkbench.numerics._jaxpr_costs import TracedCost, trace_cost
from ntkbench.numerics._kernels import compiled_facts, empirical_ntk


@pytest.mark.parity  # symbolic shapes and jaxpr primitives change between jax versions
def test_products_and_elementwise_work_are_counted_as_xla_counts_them():
    weights = jax.ShapeDtypeStruct((64, 32), jnp.float32)

    def layer(w: jax.Array, x: jax.Array) -> jax.Array:
        return jax.nn.relu(x @ w).sum()

    (rows,) = export.symbolic_shape("rows")
    cost = trace_cost(layer, weights, jax.ShapeDtypeStruct((rows, 64), jnp.float32))
    # 2 FLOPs per multiply-add; the relu's max, one per element; the sum, one per input element.
    assert cost.flops(rows=10) == 2 * 10 * 64 * 32 + 10 * 32 + 10 * 32
    concrete = jax.ShapeDtypeStruct((10, 64), jnp.float32)
    compiled = jax.jit(layer).lower(weights, concrete).compile()
    assert cost.flops(rows=10) == pytest.approx(compiled_facts(compiled)[0], rel=0.05)


@pytest.mark.parity  # symbolic shapes and jaxpr primitives change between jax versions
def test_the_peak_holds_inputs_throughout_and_frees_each_value_after_its_last_use():
    def chain(x: jax.Array) -> jax.Array:
        y = jnp.sin(x)
        z = jnp.cos(y)  # y's last use: x, y and z are held here
        return jnp.exp(z)  # x, z and the output: y is gone

    (rows,) = export.symbolic_shape("rows")
    cost = trace_cost(chain, jax.ShapeDtypeStruct((rows, 100), jnp.float32), peaks_at=[{"rows": 10}, {"rows": 1000}])
    assert cost.peak_bytes(rows=10) == 3 * 10 * 100 * 4
    assert cost.peak_bytes(rows=1000) == 3 * 1000 * 100 * 4
    with pytest.raises(KeyError):
        cost.peak_bytes(rows=7)  # not traced for
    again = TracedCost.from_json(cost.as_json())  # kept across processes as JSON
    assert again == cost and again.flops(rows=7) == cost.flops(rows=7)


@pytest.mark.parity  # symbolic shapes and jaxpr primitives change between jax versions
def test_a_reshape_or_broadcast_holds_no_memory_of_its_own():
    def viewed(x: jax.Array) -> jax.Array:
        return jnp.sin(jnp.broadcast_to(x.reshape(-1), (8, x.size)))

    cost = trace_cost(viewed, jax.ShapeDtypeStruct((10, 10), jnp.float32))
    assert cost.peak_bytes() == 100 * 4 + 8 * 100 * 4  # the input and the sine's output


def test_a_kernel_tile_traced_once_with_symbolic_sizes_matches_concrete_tiles_and_xla():
    """An MLP's empirical NTK (implementations 1, 2 and 3) and a Myrtle-5 tile (1 and 3): FLOPs within
    1.5x of XLA's count of the compiled tile, memory within a factor 2.5 of its memory analysis,
    at two edges from one trace. The MLP's symbolic trace is its concrete traces exactly; the
    CNN's implementation 3 takes a costlier path when neural-tangents cannot compare the sizes."""
    from ntkbench.architectures.mlp import MLPArchitecture
    from ntkbench.architectures.myrtle import MyrtleArchitecture

    networks = [
        (MLPArchitecture(MLPArchitecture.Options(width=128, depth=2)), (64,), (1, 2, 3)),
        (MyrtleArchitecture(MyrtleArchitecture.Options(depth=5, width=16)), (8, 8, 1), (1, 3)),
    ]
    rows, columns = export.symbolic_shape("rows, columns")
    for architecture, shape, implementations in networks:
        model = architecture.init_model(input_shape=shape, num_classes=10, key=jax.random.PRNGKey(0))
        abstract = eqx.filter_eval_shape(lambda: model)
        for implementation in implementations:
            def kernel(network, a, b, implementation=implementation):
                return empirical_ntk(network, a, b, implementation)

            sides = [jax.ShapeDtypeStruct((size, *shape), jnp.float32) for size in (rows, columns)]
            edges = (16, 64)
            cost = trace_cost(kernel, abstract, *sides, peaks_at=[{"rows": e, "columns": e} for e in edges])
            for edge in edges:
                label = (type(architecture).__name__, implementation, edge)
                tile = jax.ShapeDtypeStruct((edge, *shape), jnp.float32)
                flops, peak = cost.flops(rows=edge, columns=edge), cost.peak_bytes(rows=edge, columns=edge)
                if isinstance(architecture, MLPArchitecture):
                    concrete = trace_cost(kernel, abstract, tile, tile)
                    assert (concrete.flops(), concrete.peak_bytes()) == (flops, peak), label
                compiled_flops, memory = compiled_facts(jax.jit(lambda a, b: kernel(model, a, b)).lower(tile, tile).compile())
                assert 0.77 <= flops / compiled_flops <= 1.5, (label, flops / compiled_flops)
                assert 0.4 <= peak / memory <= 2.5, (label, peak / memory)
