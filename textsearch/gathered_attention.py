"""Attention over the keys every query sees, in one product, and each query's own few, gathered.

A draft step (`lm_sampler`) runs a few dozen nodes per prompt. Each attends to the
few-shot opening that all prompts share (115 of SmolLM2's tokens), then to its own
prompt's keywords and the tokens its row drew (a dozen to thirty keys). Blocks of
consecutive queries over the keys any of them sees (`block_attention`) spend most of
their work on keys a query does not see, since a prompt's rows part ways. Here the
shared keys are one dense product for all queries, and each query's own keys are
gathered into a short padded row: the same numbers up to float rounding, and a pack
of 8 concept sets draws its drafts in 2.55 s instead of 2.66 s with a block per prompt
(SmolLM2, 2 CPU threads, side by side). A token tree shares no such keys, and there
blocks are as fast (measured), so they stay.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch


class Gathered(NamedTuple):
    shared: int               # keys [0, shared) every query sees
    own: torch.Tensor         # [T, M] the other keys each query sees, padded with key 0
    pad: torch.Tensor         # [T, M] 0 at a key, −inf at padding


def gathered_keys(allowed: torch.Tensor, device) -> Gathered:
    """The layout of a [T, K] `allowed` matrix: the leading keys every query sees, then each query's own."""
    shared = int(allowed.all(0).long().cumprod(0).sum())
    rest = allowed[:, shared:]
    counts = rest.sum(1)
    width = int(counts.max()) if len(counts) else 0
    order = rest.to(torch.int8).argsort(dim=1, descending=True, stable=True)[:, :width]    # seen keys first, in order
    real = torch.arange(width) < counts[:, None]
    pad = torch.zeros(real.shape).masked_fill(~real, -math.inf)
    return Gathered(shared, torch.where(real, order + shared, 0).to(device), pad.to(device))


def gathered_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, layout: Gathered,
                       scaling: float) -> torch.Tensor:
    """softmax(q·kᵀ · scaling) v over each query's keys: query [1, H, T, D], key and value [1, KH, K, D]
    (each key/value head serves H / KH query heads) → [1, T, H, D], as the model's attention returns it."""
    _, heads, queries, dim = query.shape
    kv_heads, shared = key.shape[1], layout.shared
    groups = heads // kv_heads
    q = query[0].reshape(kv_heads, groups, queries, dim)
    keys, values = key[0], value[0]                                                    # [KH, K, D]
    own = layout.own.reshape(-1)
    own_keys = keys.index_select(1, own).view(kv_heads, queries, -1, dim)              # [KH, T, M, D]
    own_values = values.index_select(1, own).view(kv_heads, queries, -1, dim)
    scores = torch.cat([
        torch.matmul(q.reshape(kv_heads, groups * queries, dim), keys[:, :shared].transpose(1, 2))
        .view(kv_heads, groups, queries, shared),
        torch.matmul(q.transpose(1, 2), own_keys.transpose(2, 3)).transpose(1, 2),     # [KH, G, T, M]
    ], dim=-1).float() * scaling
    scores[..., shared:] += layout.pad
    weights = scores.softmax(-1).to(value.dtype)
    out = torch.matmul(weights[..., :shared].reshape(kv_heads, groups * queries, shared), values[:, :shared])
    out = out.view(kv_heads, groups, queries, dim) + \
        torch.matmul(weights[..., shared:].transpose(1, 2), own_values).transpose(1, 2)
    return out.reshape(heads, queries, dim).transpose(0, 1).unsqueeze(0).contiguous()
