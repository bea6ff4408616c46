"""Prefix reuse: rows of a batch that begin alike share one forward pass of their beginning.

The candidate sentences of one sampler step share prefixes: every candidate for
position i of a chain has the same x_<i. `shared_prefix_lengths` finds such prefixes
in any batch (sort the rows, take each row's longest common prefix with its sorted
neighbours), and `forward_with_prefixes` scores a chunk in two forwards: the distinct
prefixes once, with the key/value cache on, then the suffix of every row against its
prefix's cache (gathered per row; the attention mask covers [prefix with its padding
holes, suffix]; positions continue after the row's real prefix length). Log-probs
equal the plain forward's up to float rounding; only the work shrinks.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch

from .sequences import pad

MIN_SAVING = 0.25     # reuse when it skips at least this share of the batch's tokens; else one plain forward


def common_length(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common prefix of two token lists."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def shared_prefix_lengths(rows: Sequence[Sequence[int]]) -> list[int]:
    """Per row, the longest prefix it shares with a neighbour in sorted order, kept at least one
    token long and one token short of the row (a row needs a token to score after its prefix)."""
    order = sorted(range(len(rows)), key=lambda i: rows[i])
    shared = [common_length(rows[a], rows[b]) for a, b in zip(order, order[1:])] + [0]
    lengths = [0] * len(rows)
    for k, i in enumerate(order):
        lengths[i] = max(1, min(max(shared[k], shared[k - 1] if k else 0), len(rows[i]) - 1))
    return lengths


def saved_tokens(rows: Sequence[Sequence[int]], lengths: Sequence[int]) -> int:
    """Tokens a plain forward runs that prefix reuse does not: every repeat of a prefix."""
    distinct = {tuple(r[:p]) for r, p in zip(rows, lengths)}
    return sum(lengths) - sum(len(prefix) for prefix in distinct)


def plan_reuse(rows: Sequence[Sequence[int]], min_saving: float = MIN_SAVING) -> list[int] | None:
    """Prefix lengths when sharing pays (every row two tokens or more, at least `min_saving` of the
    tokens skipped); None means: score the batch the plain way."""
    if len(rows) < 2 or min(len(r) for r in rows) < 2:
        return None
    lengths = shared_prefix_lengths(rows)
    return lengths if saved_tokens(rows, lengths) >= min_saving * sum(len(r) for r in rows) else None


def suffix_widths(rows: Sequence[Sequence[int]], lengths: Sequence[int]) -> list[int]:
    """The width each row takes in a suffix forward: its suffix, plus the longest prefix of the
    batch, which its cached keys and values may be padded to."""
    longest = max(lengths, default=0)
    return [longest + len(r) - p for r, p in zip(rows, lengths)]


def forward_with_prefixes(model, rows: Sequence[Sequence[int]], lengths: Sequence[int], pad_id: int,
                          device: torch.device, with_last: bool = True) -> tuple[list[torch.Tensor], torch.Tensor | None]:
    """Per-token log p of each row's tokens after the first (float64, CPU) and, `with_last`, the
    next-token log-softmax after each row [n, V] (float32, CPU): the distinct prefixes in one forward,
    the suffixes in one more. Row i's first `lengths[i]` tokens are its prefix."""
    prefixes: dict[tuple[int, ...], int] = {}
    group = [prefixes.setdefault(tuple(r[:p]), len(prefixes)) for r, p in zip(rows, lengths)]
    row_group = torch.tensor(group, device=device)

    ids, mask = pad([list(p) for p in prefixes], pad_id, device)
    out = model(input_ids=ids, attention_mask=mask, position_ids=(mask.cumsum(-1) - 1).clamp(min=0),
                use_cache=True)
    logits = out.logits.float()
    log_norm = logits.logsumexp(-1)                                                      # [G, P]
    prefix_lp = logits[:, :-1].gather(-1, ids[:, 1:, None])[..., 0] - log_norm[:, :-1]  # [G, P-1]
    prefix_len = mask.sum(-1)
    end = (torch.arange(len(prefixes), device=device), prefix_len - 1)
    after_prefix = logits[end] - log_norm[end][:, None]                                  # [G, V]
    cache = out.past_key_values
    cache.batch_select_indices(row_group)
    del out, logits

    suffix_ids, suffix_mask = pad([list(r[p:]) for r, p in zip(rows, lengths)], pad_id, device)
    positions = prefix_len[row_group, None] + torch.arange(suffix_ids.shape[1], device=device)
    out = model(input_ids=suffix_ids, attention_mask=torch.cat([mask[row_group], suffix_mask], dim=1),
                position_ids=positions, past_key_values=cache, use_cache=True)
    logits = out.logits.float()
    log_norm = logits.logsumexp(-1)                                                      # [n, S]
    first_lp = after_prefix[row_group, suffix_ids[:, 0]]                                 # [n]
    suffix_lp = logits[:, :-1].gather(-1, suffix_ids[:, 1:, None])[..., 0] - log_norm[:, :-1]
    suffix_len = suffix_mask.sum(-1)
    end = (torch.arange(len(rows), device=device), suffix_len - 1)
    last = (logits[end] - log_norm[end][:, None]).cpu() if with_last else None

    prefix_lp, first_lp, suffix_lp = prefix_lp.double().cpu(), first_lp.double().cpu(), suffix_lp.double().cpu()
    token_lp = [torch.cat([prefix_lp[g, : p - 1], first_lp[i: i + 1], suffix_lp[i, : s - 1]])
                for i, (g, p, s) in enumerate(zip(group, lengths, suffix_len.tolist()))]
    return token_lp, last
