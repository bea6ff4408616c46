"""Attention for the engine's two layouts on a CPU: token trees by blocks, draft steps gathered.

The engine runs many short rows laid end to end in one sequence, and an attention
mask says which keys each token sees: a sliver of the dense [T, K] score matrix that
SDPA computes and masks.

- A token tree (`tree`): cut into blocks of 64 consecutive queries, a block needs only
  the keys some query in it sees, a fraction of K, and gives the same numbers (a key left
  out weighs exactly zero); on a 648-token tree, attention takes a quarter of the time.
- A draft step (`drafting`): every node attends to the few-shot opening all prompts
  share, then to its own prompt's and row's few keys. The shared keys are one dense
  product for all queries, and each query's own keys are gathered into a short padded
  row. (Blocks would spend most of their work on keys a query does not see, since a
  prompt's rows part ways; for trees, gathering is no faster than blocks.)

A model runs these only when its wrapper was asked to (`CausalLM(..., cpu_kernels=True)`,
which `load_lm` does for the copy it loads): `enable` registers the implementation under
its own name and sets it on that model; a forward then passes `attention_blocks` or
`attention_gathered`, and any other forward runs SDPA's own attention.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch

NAME = "textsearch_blocks"
QUERIES = 64          # queries per block
WORTH = 0.5           # blocks are used when they leave at most this share of the dense score matrix


class Block(NamedTuple):
    start: int                # the block's queries are [start, end)
    end: int
    keys: torch.Tensor        # [k] the key columns any of them sees
    mask: torch.Tensor        # [B, 1, end − start, k] the additive mask on those


class Gathered(NamedTuple):
    shared: int               # keys [0, shared) every query sees
    own: torch.Tensor         # [T, M] the other keys each query sees, padded with key 0
    pad: torch.Tensor         # [T, M] 0 at a key, −inf at padding


def query_blocks(allowed: torch.Tensor, mask: torch.Tensor, size: int = QUERIES) -> list[Block] | None:
    """Blocks of at most `size` consecutive queries of a [T, K] `allowed` matrix, with the keys each sees
    and `mask` [B, 1, T, K] on them; None when they would save too little to be worth the gathers."""
    queries = len(allowed)
    spans = [(start, min(start + size, queries)) for start in range(0, queries, size)]
    keys = [allowed[start:end].any(0).nonzero()[:, 0].to(mask.device) for start, end in spans]
    if sum((end - start) * len(k) for (start, end), k in zip(spans, keys)) > WORTH * allowed.numel():
        return None
    return [Block(start, end, k, mask[:, :, start:end].index_select(-1, k)) for (start, end), k in zip(spans, keys)]


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


def runs_here(model) -> bool:
    """Whether `model` runs the attention implementation of this module (`enable`)."""
    return getattr(model.config, "_attn_implementation", None) == NAME


def blocks_for(model, allowed: torch.Tensor, mask: torch.Tensor) -> dict:
    """The keyword arguments that make a forward of `model` with this mask attend block by block
    (`query_blocks`): none where the model does not run here, or blocks would not pay."""
    if not runs_here(model):
        return {}
    blocks = query_blocks(allowed, mask, QUERIES)
    return {} if blocks is None else {"attention_blocks": blocks}


def gathered_for(model, allowed: torch.Tensor, device) -> dict:
    """The keyword arguments that make a forward of `model` attend to the keys all its queries see at once
    and to each query's own gathered: none where the model does not run here."""
    return {"attention_gathered": gathered_keys(allowed, device)} if runs_here(model) else {}


def attention(module, query, key, value, attention_mask, attention_blocks: list[Block] | None = None,
              attention_gathered: Gathered | None = None, **kwargs):
    """SDPA's attention; with `attention_blocks`, each block of queries attends to its own keys; with
    `attention_gathered`, every query to the shared keys and its own."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward
    if attention_gathered is not None:
        scaling = kwargs.get("scaling")
        return gathered_attention(query, key, value, attention_gathered,
                                  query.shape[-1] ** -0.5 if scaling is None else scaling), None
    if attention_blocks is None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)
    outputs = [sdpa_attention_forward(module, query[:, :, b.start:b.end], key.index_select(2, b.keys),
                                      value.index_select(2, b.keys), b.mask, **kwargs)[0]
               for b in attention_blocks]
    return torch.cat(outputs, dim=1), None


def enable(model) -> bool:
    """Run `model` (the engine's own copy) under this attention if it runs SDPA on a CPU, where the gain was
    measured (on a GPU the dense kernel stays); whether it does now. The implementation is registered with
    transformers under its own name, which changes no other model."""
    if runs_here(model):
        return True
    if getattr(model.config, "_attn_implementation", None) != "sdpa" or next(model.parameters()).device.type != "cpu":
        return False
    from transformers import AttentionInterface, AttentionMaskInterface
    from transformers.masking_utils import sdpa_mask
    AttentionInterface.register(NAME, attention)
    AttentionMaskInterface.register(NAME, sdpa_mask)
    model.config._attn_implementation = NAME
    return True
