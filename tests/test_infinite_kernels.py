"""The native infinite-width kernels (`ntkbench.numerics.infinite`) against neural-tangents'
`kernel_fn`, the oracle: every layer family the built-in architectures use, in both
parameterisations, with and without biases, NTK and NNGP, within 1e-5 of the largest entry
(float32). Inputs of the two batches differ: where an input meets itself the arc-cosine kernel
is not differentiable (cos = 1), and one float32 ulp of the cosine moves it by about its square
root (about 2e-5 here, as between jax stacks; DEVELOPERS.md)."""

from __future__ import annotations

import warnings

import jax
import numpy as np
import pytest

from ntkbench.nt_compat import import_neural_tangents
from ntkbench.numerics import infinite

pytestmark = pytest.mark.parity
TOLERANCE = 1e-5


_REFERENCES: dict[tuple, dict[str, np.ndarray]] = {}


def stax_kernels(key: tuple, kernel_fn, x1: np.ndarray, x2: np.ndarray) -> dict[str, np.ndarray]:
    """neural-tangents' NNGP and NTK of `kernel_fn` on (x1, x2), from one call, computed once per
    session for `key`: the tests of either kind, and of one network under several options of ours,
    share it."""
    if key not in _REFERENCES:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="`FanIn` layers assume independent inputs")
            both = jax.jit(lambda a, b: kernel_fn(a, b, ("nngp", "ntk")))(x1, x2)
        _REFERENCES[key] = {"nngp": np.asarray(both.nngp), "ntk": np.asarray(both.ntk)}
    return _REFERENCES[key]


def error_against(reference: np.ndarray, ours: np.ndarray) -> float:
    assert ours.shape == reference.shape
    return float(np.max(np.abs(ours - reference)) / np.max(np.abs(reference)))


def relative_error(key: tuple, stax_layers: list, native, x1: np.ndarray, x2: np.ndarray, kind: str) -> float:
    reference = stax_kernels(key, import_neural_tangents().stax.serial(*stax_layers)[2], x1, x2)[kind]
    return error_against(reference, np.asarray(infinite.kernel_fn(native, kind)(x1, x2)))


PARAMETERIZATIONS = [("ntk", None), ("ntk", 0.1), ("standard", None), ("standard", 0.1)]


@pytest.mark.parametrize("kind", ["ntk", "nngp"])
@pytest.mark.parametrize(("parameterization", "b_std"), PARAMETERIZATIONS)
def test_an_mlp_on_images_equals_its_stax_kernel(parameterization, b_std, kind):
    stax = import_neural_tangents().stax
    rng = np.random.default_rng(0)
    x1, x2 = rng.normal(size=(6, 4, 4, 2)).astype(np.float32), rng.normal(size=(5, 4, 4, 2)).astype(np.float32)
    dense = dict(W_std=1.4, b_std=b_std, parameterization=parameterization)
    reference = [stax.Flatten(), stax.Dense(64, **dense), stax.Relu(), stax.Dense(64, **dense), stax.Relu(), stax.Dense(10, **dense)]
    native = infinite.serial(infinite.Flatten(), *[layer for _ in range(2) for layer in (
        infinite.Dense(64, 1.4, b_std, parameterization), infinite.Relu())], infinite.Dense(10, 1.4, b_std, parameterization))
    key = ("mlp", parameterization, b_std)
    assert relative_error(key, reference, native, x1, x2, kind) < TOLERANCE  # the inputs flattened first
    unflattened = infinite.serial(infinite.identity, native)  # Flatten not first: position pairs formed, then averaged
    assert relative_error(key, reference, unflattened, x1, x2, kind) < TOLERANCE


@pytest.mark.parametrize("kind", ["ntk", "nngp"])
@pytest.mark.parametrize(("parameterization", "b_std"), PARAMETERIZATIONS)
def test_a_myrtle_cnn_equals_its_stax_kernel(parameterization, b_std, kind):
    stax = import_neural_tangents().stax
    rng = np.random.default_rng(1)
    x1, x2 = rng.normal(size=(4, 8, 8, 1)).astype(np.float32), rng.normal(size=(3, 8, 8, 1)).astype(np.float32)
    conv = dict(W_std=1.4, b_std=b_std, padding="SAME", parameterization=parameterization)
    reference = [stax.Conv(32, (3, 3), **conv), stax.Relu(), stax.Conv(32, (3, 3), **conv), stax.Relu(), stax.AvgPool((2, 2), (2, 2)),
                 stax.Conv(32, (3, 3), **conv), stax.Relu(), stax.AvgPool((2, 2), (2, 2)), stax.Conv(32, (3, 3), **conv), stax.Relu(),
                 stax.GlobalAvgPool(), stax.Dense(10, 1.4, b_std, parameterization=parameterization)]

    def conv_layer():
        return infinite.Conv(32, 3, 1, "SAME", 1.4, b_std, parameterization)

    native = infinite.serial(conv_layer(), infinite.Relu(), conv_layer(), infinite.Relu(), infinite.AvgPool(), conv_layer(),
                             infinite.Relu(), infinite.AvgPool(), conv_layer(), infinite.Relu(), infinite.GlobalAvgPool(),
                             infinite.Dense(10, 1.4, b_std, parameterization))
    assert relative_error(("myrtle", parameterization, b_std), reference, native, x1, x2, kind) < TOLERANCE


def test_strides_valid_padding_odd_sizes_residual_sums_and_flatten():
    stax = import_neural_tangents().stax
    rng = np.random.default_rng(2)
    x1, x2 = rng.normal(size=(4, 8, 8, 3)).astype(np.float32), rng.normal(size=(3, 8, 8, 3)).astype(np.float32)
    reference = [
        stax.Conv(16, (3, 3), padding="SAME", W_std=1.4), stax.FanOut(2),
        stax.parallel(stax.serial(stax.Relu(), stax.Conv(16, (3, 3), (2, 2), padding="SAME", W_std=1.4), stax.Relu(),
                                  stax.Conv(16, (3, 3), padding="SAME", W_std=1.4)),
                      stax.Conv(16, (1, 1), (2, 2), padding="SAME", W_std=1.4)),
        stax.FanInSum(), stax.Relu(), stax.GlobalAvgPool(), stax.Dense(10, 1.4),
    ]
    native = infinite.serial(
        infinite.Conv(16, 3, 1, "SAME", 1.4),
        infinite.Residual(infinite.serial(infinite.Relu(), infinite.Conv(16, 3, 2, "SAME", 1.4), infinite.Relu(),
                                          infinite.Conv(16, 3, 1, "SAME", 1.4)), infinite.Conv(16, 1, 2, "SAME", 1.4)),
        infinite.Relu(), infinite.GlobalAvgPool(), infinite.Dense(10, 1.4),
    )
    assert relative_error(("residual",), reference, native, x1, x2, "ntk") < TOLERANCE
    x1, x2 = rng.normal(size=(4, 7, 7, 3)).astype(np.float32), rng.normal(size=(3, 7, 7, 3)).astype(np.float32)
    reference = [stax.Conv(16, (3, 3), padding="VALID", W_std=1.4), stax.Relu(), stax.Conv(16, (3, 3), (2, 2), padding="SAME", W_std=1.4),
                 stax.Relu(), stax.Flatten(), stax.Dense(10, 1.4)]
    native = infinite.serial(infinite.Conv(16, 3, 1, "VALID", 1.4), infinite.Relu(), infinite.Conv(16, 3, 2, "SAME", 1.4),
                             infinite.Relu(), infinite.Flatten(), infinite.Dense(10, 1.4))
    assert relative_error(("valid-strided",), reference, native, x1, x2, "ntk") < TOLERANCE


def twin_kernels(architecture, x1: np.ndarray, x2: np.ndarray) -> dict[str, np.ndarray]:
    """The NNGP and NTK of an architecture's `stax` twin (10 classes), once per session."""
    key = (type(architecture).__name__, repr(architecture.options), x1.shape, x2.shape, float(x1.sum()), float(x2.sum()))
    return stax_kernels(key, architecture.stax_twin(num_classes=10).kernel_fn, x1, x2)


def _architecture_error(architecture, x1: np.ndarray, x2: np.ndarray, kind: str = "ntk") -> float:
    from ntkbench.kernels import architecture_kernel_fn

    assert architecture.has_kernel_map()
    ours = np.asarray(architecture_kernel_fn(architecture, num_classes=10, kind=kind)(x1, x2))
    return error_against(twin_kernels(architecture, x1, x2)[kind], ours)


OPTIONS = [dict(parameterization=p, b_std=b) for p in ("ntk", "standard", "mup") for b in (0.0, 0.1)]


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: f"{o['parameterization']}-b{o['b_std']}")
@pytest.mark.parametrize("depth", [3])
def test_every_mlp_configuration_computes_its_twins_kernel(depth, options):
    from ntkbench.architectures.mlp import MLPArchitecture

    rng = np.random.default_rng(3)
    x1, x2 = rng.normal(size=(6, 4, 4, 1)).astype(np.float32), rng.normal(size=(5, 4, 4, 1)).astype(np.float32)
    architecture = MLPArchitecture(MLPArchitecture.Options(depth=depth, width=64, **options))
    for kind in ("ntk", "nngp"):
        assert _architecture_error(architecture, x1, x2, kind) < TOLERANCE


@pytest.mark.parametrize(("depth", "options"), [(5, OPTIONS[0]), (7, OPTIONS[1]), (10, OPTIONS[3])],
                         ids=lambda value: str(value) if isinstance(value, int) else f"{value['parameterization']}-b{value['b_std']}")
def test_every_myrtle_configuration_computes_its_twins_kernel(depth, options):
    from ntkbench.architectures.myrtle import MyrtleArchitecture

    rng = np.random.default_rng(4)
    x1, x2 = rng.normal(size=(3, 8, 8, 1)).astype(np.float32), rng.normal(size=(2, 8, 8, 1)).astype(np.float32)
    architecture = MyrtleArchitecture(MyrtleArchitecture.Options(depth=depth, width=32, **options))
    assert _architecture_error(architecture, x1, x2) < TOLERANCE


def resnet_inputs() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    return rng.normal(size=(3, 8, 8, 3)).astype(np.float32), rng.normal(size=(2, 8, 8, 3)).astype(np.float32)


@pytest.mark.slow
@pytest.mark.parametrize("norm", ["none", "layer"])
@pytest.mark.parametrize("parameterization", ["ntk", "standard"])
def test_the_resnet_without_batch_norm_computes_its_twins_kernel(norm, parameterization):
    from ntkbench.architectures.resnet import ResNet18Architecture

    architecture = ResNet18Architecture(ResNet18Architecture.Options(width=16, norm=norm, parameterization=parameterization))
    assert _architecture_error(architecture, *resnet_inputs()) < TOLERANCE
    assert not ResNet18Architecture(ResNet18Architecture.Options(norm="batch")).has_kernel_map()


@pytest.mark.slow
@pytest.mark.parametrize("chunk_entries", [1, 3 * 64**2, 2**62], ids=["a-pair-a-chunk", "three-pairs", "one-chunk"])
def test_chunks_of_any_size_give_the_same_kernel(chunk_entries):
    """A chunk of one pair of images drops the batch axes and takes each input's own covariance
    alone; larger chunks keep them (8x8 inputs: 64**2 position pairs per input pair)."""
    from ntkbench.architectures.resnet import ResNet18Architecture

    x1, x2 = resnet_inputs()
    architecture = ResNet18Architecture(ResNet18Architecture.Options(width=16, norm="layer"))
    ours = np.asarray(infinite.kernel_fn(architecture.kernel_map(num_classes=10), chunk_entries=chunk_entries)(x1, x2))
    assert error_against(twin_kernels(architecture, x1, x2)["ntk"], ours) < TOLERANCE
