"""Rows into forward passes: as little padding as pays for the passes it adds.

A forward of r rows padded to width w costs about `overhead + r·w` tokens' worth of
time: on a CPU every token costs, padding included, and a pass has a small fixed cost;
on a GPU the fixed cost is large and few, full passes win. `pack` splits rows into
chunks that minimise that cost under the memory bound r·w ≤ token_budget: rows sorted
widest first, a chunk takes a run of neighbouring widths, and a dynamic program over
the distinct widths picks the runs (a handful of widths, so it costs nothing next to
a forward).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch

FORWARD_OVERHEAD = {"cpu": 40, "cuda": 4096}     # tokens a pass costs on its own (CPU: 38 measured on 2 cores)


def forward_overhead(device: torch.device) -> int:
    """The fixed cost of one forward on `device`, in tokens (GPU figure for any accelerator)."""
    return FORWARD_OVERHEAD.get(device.type, FORWARD_OVERHEAD["cuda"])


def pack(widths: Sequence[int], token_budget: int, overhead: int) -> list[list[int]]:
    """Row indices in chunks, widest rows first; each chunk has rows × its widest row ≤ token_budget
    (one row at least), and the chunks minimise Σ (overhead + rows × widest)."""
    levels: list[tuple[int, list[int]]] = []          # distinct widths, widest first, with their rows
    for i in sorted(range(len(widths)), key=lambda i: -widths[i]):
        if levels and levels[-1][0] == widths[i]:
            levels[-1][1].append(i)
        else:
            levels.append((widths[i], [i]))

    def passes(first: int, rows: int) -> int:
        return math.ceil(rows / max(1, token_budget // levels[first][0]))

    best, start = [0.0] + [math.inf] * len(levels), [0] * (len(levels) + 1)
    for end in range(1, len(levels) + 1):            # the last run covers levels[first:end]
        rows = 0
        for first in range(end - 1, -1, -1):
            rows += len(levels[first][1])
            cost = best[first] + passes(first, rows) * overhead + rows * levels[first][0]
            if cost < best[end]:
                best[end], start[end] = cost, first
    chunks: list[list[int]] = []
    end = len(levels)
    while end:
        first = start[end]
        rows = [i for _, members in levels[first:end] for i in members]
        size = math.ceil(len(rows) / passes(first, len(rows)))
        chunks[:0] = [rows[k: k + size] for k in range(0, len(rows), size)]
        end = first
    return chunks
