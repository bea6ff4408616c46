"""The key/value cache of a prompt's fixed opening, kept for the next prompts that open alike.

Prompts built from one template share their opening: the keyword task's few-shot
prompt is about 115 tokens of examples and ends with ten or so tokens that name the
keywords. Keeping the cache of the opening turns a forward over the whole prompt
into one over its tail, and several prompts run their tails in one forward, one row
each. The opening is always run alone and the tails always on its cache, whichever
prompt came before, so a prompt's logits never depend on the prompts run earlier
(a batch gives the same results in any order).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

from .base import Stats
from .kv import dynamic_cache, returned_cache, stacked, with_cache


@dataclass
class Opening:
    tokens: tuple[int, ...]
    cache: object              # the model's key/value cache after `tokens` (one row), never handed out


class Openings:
    """The last opening a model ran, kept (one per language model wrapper)."""

    def __init__(self):
        self.kept: Opening | None = None


@torch.inference_mode()
def run_prompts(model, prompts: list[list[int]], opening: int, device: torch.device,
                openings: Openings, stats: Stats) -> tuple[object, torch.Tensor]:
    """(a key/value cache of the prompts, one row each, that the caller may extend; the logits after
    each prompt [n, V]).

    The prompts share their first `opening` tokens (0 <= opening < every length), which run once and
    are kept in `openings`; each call runs only the rest, right-padded to the longest: row i holds its
    prompt at columns [0, len(prompts[i])), and the pad columns after it are for no one to attend to."""
    if not all(0 <= opening < len(p) for p in prompts):
        raise ValueError(f"the opening must leave a token of every prompt to run, got {opening} of "
                         f"{min(map(len, prompts))}")
    if any(p[:opening] != prompts[0][:opening] for p in prompts):
        raise ValueError("prompts run together must share their opening tokens")
    cache = None
    if opening:
        kept = openings.kept
        if kept is None or kept.tokens != tuple(prompts[0][:opening]):
            stats.count(opening)
            out = model(input_ids=torch.tensor([prompts[0][:opening]], device=device), use_cache=True)
            kept = openings.kept = Opening(tuple(prompts[0][:opening]), returned_cache(out))
        cache = copy.deepcopy(kept.cache)
        if len(prompts) > 1:
            cache.batch_repeat_interleave(len(prompts))
    tails = [p[opening:] for p in prompts]
    width = max(map(len, tails))
    ids = torch.tensor([tail + tail[-1:] * (width - len(tail)) for tail in tails], device=device)
    stats.count(ids.numel())
    ends = sorted({len(tail) - 1 for tail in tails})                 # the LM head runs where a prompt ends
    out = model(input_ids=ids, **with_cache(model, cache), use_cache=True,
                position_ids=torch.arange(opening, opening + width, device=device).expand(len(prompts), -1),
                logits_to_keep=torch.tensor(ends, dtype=torch.long, device=device))
    rows = torch.arange(len(prompts), device=device)
    return returned_cache(out), out.logits[rows, torch.tensor([ends.index(len(t) - 1) for t in tails], device=device)]


def laid_end_to_end(cache, lengths: list[int], opening: int) -> tuple[object, list[list[tuple[int, int]]]]:
    """`run_prompts`' cache (prompt i in row i, its first `lengths[i]` columns) as one row: the opening
    once, then each prompt's rest; and per prompt, the [start, end) column spans of that row it sees.
    Its continuations can then run end to end in one row, with no padding and no copy of the opening
    per prompt."""
    kv = stacked(cache)                                     # [2·layers, prompts, heads, W, head_dim]
    parts, seen, width = [kv[:, 0, :, :opening]], [], opening
    for row, length in enumerate(lengths):
        parts.append(kv[:, row, :, opening:length])
        seen.append([(0, opening), (width, width + length - opening)])
        width += length - opening
    return dynamic_cache(torch.cat(parts, dim=2)[:, None]), seen
