"""What a plan would take on an accelerator the user does not have: a named device's published peak
rates and memory, and the plan's FLOPs counted at a stated fraction of them (`ntkbench plan --device
h100`). An estimate, labelled so wherever it is shown: the plan counts FLOPs, not memory traffic, so
work bound by memory (element-wise kernels, small tiles) runs slower than the estimate says, and
`scripts/gpu-check` compares the estimate with what a lent device measures."""

from __future__ import annotations

import dataclasses

FP32_EFFICIENCY = 0.4
"""The fraction of a device's float32 peak the plan's JAX work is counted at: matrix products reach
more, convolutions with few channels and element-wise work far less."""
FP64_EFFICIENCY = 0.6
"""The fraction of a device's float64 peak a large Cholesky factorisation is counted at (cuSOLVER's
blocked factorisation is mostly GEMM on large matrices)."""


@dataclasses.dataclass(frozen=True)
class Accelerator:
    """One accelerator model: its published peak rates (dense, without sparsity) and its memory."""

    name: str
    fp32_flops: float
    """Peak float32 rate without tensor cores (JAX's float32 convolutions and element-wise work)."""
    fp64_flops: float
    """Peak float64 rate a factorisation can use (with FP64 tensor cores where the device has them)."""
    memory_bytes: int
    source: str

    def seconds(self, flops: float, factor_flops: float) -> float:
        """The estimated seconds of `flops` of float32 JAX work and `factor_flops` of float64 factorisation."""
        return flops / (FP32_EFFICIENCY * self.fp32_flops) + factor_flops / (FP64_EFFICIENCY * self.fp64_flops)


TERA = 1e12
GB = 10**9
ACCELERATORS: dict[str, Accelerator] = {
    "h100": Accelerator("NVIDIA H100 SXM5 80GB", 67 * TERA, 67 * TERA, 80 * GB,
                        "NVIDIA H100 Tensor Core GPU datasheet (FP32 67, FP64 Tensor Core 67 TFLOPS)"),
    "h200": Accelerator("NVIDIA H200 SXM 141GB", 67 * TERA, 67 * TERA, 141 * GB,
                        "NVIDIA H200 Tensor Core GPU datasheet (FP32 67, FP64 Tensor Core 67 TFLOPS)"),
    "a100": Accelerator("NVIDIA A100 SXM4 80GB", 19.5 * TERA, 19.5 * TERA, 80 * GB,
                        "NVIDIA A100 Tensor Core GPU datasheet (FP32 19.5, FP64 Tensor Core 19.5 TFLOPS)"),
    "a100-40gb": Accelerator("NVIDIA A100 SXM4 40GB", 19.5 * TERA, 19.5 * TERA, 40 * GB,
                             "NVIDIA A100 Tensor Core GPU datasheet (FP32 19.5, FP64 Tensor Core 19.5 TFLOPS)"),
    "v100": Accelerator("NVIDIA V100 SXM2 32GB", 15.7 * TERA, 7.8 * TERA, 32 * GB,
                        "NVIDIA Tesla V100 datasheet (FP32 15.7, FP64 7.8 TFLOPS, SXM2)"),
    "l4": Accelerator("NVIDIA L4 24GB", 30.3 * TERA, 30.3 * TERA / 64, 24 * GB,
                      "NVIDIA L4 datasheet (FP32 30.3 TFLOPS); FP64 at 1/64 of FP32 (CUDA C++ Programming Guide, "
                      "arithmetic throughput of compute capability 8.9)"),
    "t4": Accelerator("NVIDIA T4 16GB", 8.1 * TERA, 8.1 * TERA / 32, 16 * GB,
                      "NVIDIA T4 datasheet (FP32 8.1 TFLOPS); FP64 at 1/32 of FP32 (CUDA C++ Programming Guide, "
                      "arithmetic throughput of compute capability 7.5)"),
}
"""The devices `ntkbench plan --device` knows, by the name it takes."""


def accelerator(name: str) -> Accelerator:
    """The device `name` names (case-insensitive).

    **Raises:** `KeyError` listing the known names."""
    try:
        return ACCELERATORS[name.lower()]
    except KeyError:
        raise KeyError(f"unknown device {name!r}; known: {', '.join(ACCELERATORS)}") from None
