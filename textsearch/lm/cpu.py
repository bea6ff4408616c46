"""Linear layers on a CPU through oneDNN's matmul rather than MKL's sgemm.

PyTorch hands a CPU nn.Linear to MKL, and MKL's sgemm takes a slower code path on
CPUs other than Intel's. On an AMD EPYC with AVX-512 and 2 threads, SmolLM2's layers
at 1 to 512 rows reach 40-220 GFLOP/s through it, and 110-510 through oneDNN's
matmul (shipped inside PyTorch; its compiler uses it for CPU linears), from the same
weight and with no copy of it: the body's layers run about 2.2× faster, the LM head
2-3×. The numbers equal the plain product's up to float rounding, and a row's do not
depend on the other rows or on where the weight sits in memory. `linear` serves the
engine's own products (the LM head's slices) whatever the model; `enable` switches a
model's layers over, in place, so it is for a copy the engine owns.
"""
from __future__ import annotations

import torch

ONEDNN = getattr(torch.ops.mkldnn, "_linear_pointwise", None) if torch.backends.mkldnn.is_available() else None


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """x · weightᵀ + bias: through oneDNN for float32 CPU tensors outside autograd, else torch's linear."""
    if (ONEDNN is None or x.device.type != "cpu" or x.dtype != torch.float32 or weight.dtype != torch.float32
            or not x.numel() or (torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad))):
        return torch.nn.functional.linear(x, weight, bias)
    return ONEDNN(x.contiguous(), weight, bias, "none", [], "")


class CPULinear(torch.nn.Linear):
    """An nn.Linear whose product goes through `linear`: same parameters, same state dict."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return linear(x, self.weight, self.bias)


def enable(model: torch.nn.Module) -> int:
    """Make every plain nn.Linear of `model` a CPULinear, in place: for the engine's own copy of a model
    (`CausalLM(..., cpu_kernels=True)`, which `load_lm` does), never silently for a user's; how many
    there were."""
    layers = [module for module in model.modules() if type(module) is torch.nn.Linear]
    for module in layers:
        module.__class__ = CPULinear
    return len(layers)
