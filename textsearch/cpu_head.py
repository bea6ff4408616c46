"""The LM head for a few rows on a CPU, computed the way round that streams its weight well.

The head maps [M, H] hidden states to [M, V] logits, and a sampler step or a decoding
step has few rows (M of 2 to 80). For such M the CPU BLAS kernel chosen for h·Wᵀ
reads the vocabulary-sized weight (113 MB for SmolLM2) slowly; W·hᵀ, transposed back,
is 1.3× (M = 64) to 3× (M = 3) faster with 2 threads. Above `ROWS` the plain product
wins, and is used. The numbers are the same up to float rounding. This kernel's last
bits depend on the weight's memory alignment, so the weight is moved to an aligned
copy (a weight read from a file may sit at any offset): a model saved and loaded
again then scores exactly as before.
"""
from __future__ import annotations

import torch

ROWS = 96     # the plain product from here on (measured crossover between 64 and 128 rows)
ALIGNMENT = 64   # bytes; PyTorch's CPU allocator aligns every new tensor so


def use_cpu_head(model) -> None:
    """Make `model`'s output embedding compute few rows as (W·hᵀ)ᵀ, if it is a CPU nn.Linear."""
    head = model.get_output_embeddings()
    if not isinstance(head, torch.nn.Linear) or head.weight.device.type != "cpu":
        return
    if head.weight.data_ptr() % ALIGNMENT:
        head.weight.data = head.weight.data.clone()          # a tied input embedding is this Parameter: it moves too
    plain = head.forward

    def forward(hidden: torch.Tensor) -> torch.Tensor:
        rows = hidden.numel() // hidden.shape[-1]
        if rows > ROWS or rows == 0:
            return plain(hidden)
        logits = (head.weight @ hidden.reshape(rows, -1).T).T.contiguous()
        if head.bias is not None:
            logits = logits + head.bias
        return logits.reshape(*hidden.shape[:-1], logits.shape[-1])

    head.forward = forward
