"""Linear layers on a CPU through oneDNN's matmul rather than MKL's sgemm, where that is faster.

PyTorch hands a CPU nn.Linear to MKL, and MKL's sgemm takes a slower code path on
CPUs other than Intel's. On an AMD EPYC with AVX-512 and 2 threads, SmolLM2's layers
at 1 to 512 rows reach 40-220 GFLOP/s through it, and 110-510 through oneDNN's
matmul (shipped inside PyTorch; its compiler uses it for CPU linears), from the same
weight and with no copy of it: the body's layers run about 2.2× faster, the LM head
2-3×. On Intel's CPUs MKL is as fast, so the products stay with it there.

oneDNN compiles and keeps a kernel for every shape it runs (about half a megabyte
each, up to 1024 of them), and the engine's forwards take any number of rows from 1
to thousands: so the rows are padded up to one of a few counts (`padded_rows`, at
most a quarter more), which holds that cache to tens of MB instead of hundreds.

The numbers equal the plain product's up to float rounding, and a row's do not
depend on the other rows or on where the weight sits in memory. `linear` serves the
engine's own products (the LM head's slices) whatever the model; `enable` switches a
model's layers over, in place, so it is for a copy the engine owns.
"""
from __future__ import annotations

from pathlib import Path

import torch


def intel_cpu() -> bool:
    """Whether this machine's CPU is Intel's, on which MKL's sgemm takes its fast path."""
    try:
        return "GenuineIntel" in Path("/proc/cpuinfo").read_text(errors="ignore")
    except OSError:
        return False


ONEDNN = (getattr(torch.ops.mkldnn, "_linear_pointwise", None)
          if torch.backends.mkldnn.is_available() and not intel_cpu() else None)
EXACT_ROWS = 8      # row counts up to this run as they are


def padded_rows(rows: int) -> int:
    """`rows` rounded up to one of four counts per doubling (at most a quarter more): few shapes for oneDNN."""
    if rows <= EXACT_ROWS:
        return rows
    step = 1 << (rows.bit_length() - 3)
    return -(-rows // step) * step


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """x · weightᵀ + bias: through oneDNN for float32 CPU tensors outside autograd where it is faster
    than MKL, else torch's linear."""
    if (ONEDNN is None or x.device.type != "cpu" or x.dtype != torch.float32 or weight.dtype != torch.float32
            or not x.numel() or (torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad))):
        return torch.nn.functional.linear(x, weight, bias)
    rows = x.reshape(-1, x.shape[-1])
    n, padded = len(rows), padded_rows(len(rows))
    if padded > n:
        rows = torch.cat([rows, rows.new_zeros(padded - n, rows.shape[1])])
    return ONEDNN(rows.contiguous(), weight, bias, "none", [], "")[:n].view(*x.shape[:-1], weight.shape[0])


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
