"""Attention of a token tree computed block by block, each block of queries over the keys it sees.

A tree forward (`token_tree`) lays hundreds of short rows end to end in one sequence,
and each token sees its own row's few tokens and past: a sliver of the mask. SDPA
computes the whole [T, K] score matrix and masks it: for a tree of 648 tokens, a sixth
of the forward. Cut into blocks of consecutive queries, a block needs only the keys
some query in it sees, a fraction of K, and gives the same numbers (a key left out
weighs exactly zero): attention 236 → 61 ms, the forward 1.43 → 1.31 s (SmolLM2, 2
CPU threads, scripts/bench_speed.py measures the whole run).

The model runs under the attention implementation registered here, which is SDPA's
own unless a forward passes `attention_blocks`, or `attention_gathered` (a draft step's
layout, `gathered_attention`).
"""
from __future__ import annotations

from typing import NamedTuple

import torch

from .gathered_attention import Gathered, gathered_attention, gathered_keys

NAME = "textsearch_blocks"
QUERIES = 64          # queries per block
WORTH = 0.5           # blocks are used when they leave at most this share of the dense score matrix


class Block(NamedTuple):
    start: int                # the block's queries are [start, end)
    end: int
    keys: torch.Tensor        # [k] the key columns any of them sees
    mask: torch.Tensor        # [B, 1, end − start, k] the additive mask on those


def query_blocks(allowed: torch.Tensor, mask: torch.Tensor, size: int = QUERIES) -> list[Block] | None:
    """Blocks of at most `size` consecutive queries of a [T, K] `allowed` matrix, with the keys each sees
    and `mask` [B, 1, T, K] on them; None when they would save too little to be worth the gathers."""
    queries = len(allowed)
    spans = [(start, min(start + size, queries)) for start in range(0, queries, size)]
    keys = [allowed[start:end].any(0).nonzero()[:, 0].to(mask.device) for start, end in spans]
    if sum((end - start) * len(k) for (start, end), k in zip(spans, keys)) > WORTH * allowed.numel():
        return None
    return [Block(start, end, k, mask[:, :, start:end].index_select(-1, k)) for (start, end), k in zip(spans, keys)]


def runs_here(model) -> bool:
    """Whether `model` runs the attention implementation registered here (`use_block_attention`)."""
    return getattr(model.config, "_attn_implementation", None) == NAME


def blocks_for(model, allowed: torch.Tensor, mask: torch.Tensor) -> dict:
    """The keyword arguments that make a forward of `model` with this mask attend block by block
    (`query_blocks`): none where the model does not run the block attention, or blocks would not pay."""
    if not runs_here(model):
        return {}
    blocks = query_blocks(allowed, mask, QUERIES)
    return {} if blocks is None else {"attention_blocks": blocks}


def gathered_for(model, allowed: torch.Tensor, device) -> dict:
    """The keyword arguments that make a forward of `model` attend to the keys all its queries see at once
    and to each query's own gathered (`gathered_attention`): none where the model does not run here."""
    return {"attention_gathered": gathered_keys(allowed, device)} if runs_here(model) else {}


def block_attention(module, query, key, value, attention_mask, attention_blocks: list[Block] | None = None,
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


def use_block_attention(model) -> bool:
    """Run `model` under the block attention if it runs SDPA on a CPU, where the gain was measured (on a
    GPU the dense kernel stays); whether it does now."""
    config = model.config
    if runs_here(model):
        return True
    if getattr(config, "_attn_implementation", None) != "sdpa" or next(model.parameters()).device.type != "cpu":
        return False
    from transformers import AttentionInterface, AttentionMaskInterface
    from transformers.masking_utils import sdpa_mask
    AttentionInterface.register(NAME, block_attention)
    AttentionMaskInterface.register(NAME, sdpa_mask)
    config._attn_implementation = NAME
    return True
