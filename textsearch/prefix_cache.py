"""Prefix reuse: rows of a batch that begin alike share one forward pass of their beginning.

The candidate sentences of one sampler step share prefixes: every candidate for
position i of a chain has the same x_<i. `shared_prefix_lengths` finds such prefixes
in any batch (sort the rows, take each row's longest common prefix with its sorted
neighbours). `run_prefixes` runs the distinct prefixes once with the key/value cache
on; `score_suffixes` then runs the suffix of every row against its prefix's cache
(gathered per row; the attention mask covers [prefix with its padding holes, suffix];
positions continue after the row's real prefix length). Log-probs equal the plain
forward's up to float rounding; only the work shrinks.

A proposal first asks for the next-token distribution after each slot's prefix and
then scores the sentences that extend those prefixes; `PrefixStates` kept from the
first call let the second skip its prefix forward altogether.
"""
from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch

from .sequences import pad


@dataclass
class PrefixStates:
    """Distinct prefixes after one forward: what rows that extend them need."""
    index: dict[tuple[int, ...], int]    # prefix (start token included) → its row here
    cache: object                         # the model's key/value cache, one row per prefix
    mask: torch.Tensor                    # [G, P] 1 on real tokens
    token_lp: torch.Tensor                # [G, P-1] log p of each prefix token after the first
    after: torch.Tensor                   # [G, V] log-softmax of the token after each prefix

    def knows(self, prefixes: Iterable[tuple[int, ...]]) -> bool:
        return all(p in self.index for p in prefixes)


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


def known_prefix_lengths(rows: Sequence[Sequence[int]], known: PrefixStates) -> list[int] | None:
    """Per row, the longest prefix already in `known` that leaves a token to score; None if a row has none."""
    lengths = []
    for row in rows:
        length = next((p for p in range(len(row) - 1, 0, -1) if tuple(row[:p]) in known.index), None)
        if length is None:
            return None
        lengths.append(length)
    return lengths


def saved_tokens(rows: Sequence[Sequence[int]], lengths: Sequence[int]) -> int:
    """Tokens a plain forward runs that prefix reuse does not: every repeat of a prefix."""
    distinct = {tuple(r[:p]) for r, p in zip(rows, lengths)}
    return sum(lengths) - sum(len(prefix) for prefix in distinct)


def plan_reuse(rows: Sequence[Sequence[int]], overhead: int, known: PrefixStates | None = None) -> list[int] | None:
    """Prefix lengths when reuse pays, None for the plain path. Prefixes in `known` cost nothing;
    otherwise sharing must save more tokens than the extra forward costs (`overhead`, in tokens)."""
    if not rows or min(len(r) for r in rows) < 2:
        return None
    lengths = known_prefix_lengths(rows, known) if known is not None else None
    if lengths is not None:
        return lengths
    lengths = shared_prefix_lengths(rows)
    return lengths if saved_tokens(rows, lengths) > overhead else None


def suffix_widths(rows: Sequence[Sequence[int]], lengths: Sequence[int]) -> list[int]:
    """The width each row takes in a suffix forward: its suffix, plus the longest prefix of the
    batch, which its cached keys and values may be padded to."""
    longest = max(lengths, default=0)
    return [longest + len(r) - p for r, p in zip(rows, lengths)]


def run_prefixes(model, prefixes: Sequence[Sequence[int]], pad_id: int, device: torch.device) -> PrefixStates:
    """The distinct prefixes in one padded forward with the cache on."""
    index = {tuple(p): None for p in prefixes}
    index = {p: g for g, p in enumerate(index)}
    ids, mask = pad([list(p) for p in index], pad_id, device)
    out = model(input_ids=ids, attention_mask=mask, position_ids=(mask.cumsum(-1) - 1).clamp(min=0),
                use_cache=True)
    logits = out.logits.float()
    log_norm = logits.logsumexp(-1)                                                      # [G, P]
    token_lp = logits[:, :-1].gather(-1, ids[:, 1:, None])[..., 0] - log_norm[:, :-1]   # [G, P-1]
    end = (torch.arange(len(index), device=device), mask.sum(-1) - 1)
    return PrefixStates(index, out.past_key_values, mask, token_lp, logits[end] - log_norm[end][:, None])


def score_suffixes(model, states: PrefixStates, rows: Sequence[Sequence[int]], lengths: Sequence[int],
                   pad_id: int, device: torch.device, with_last: bool = True
                   ) -> tuple[list[torch.Tensor], torch.Tensor | None]:
    """Per-token log p of each row's tokens after the first (float64, CPU) and, `with_last`, the
    next-token log-softmax after each row [n, V] (float32, CPU), in one forward of the suffixes.
    Row i's first `lengths[i]` tokens are a prefix in `states`, which stay as they were."""
    group = [states.index[tuple(r[:p])] for r, p in zip(rows, lengths)]
    row_group = torch.tensor(group, device=device)
    cache = copy.deepcopy(states.cache)
    cache.batch_select_indices(row_group)
    mask = states.mask[row_group]

    suffix_ids, suffix_mask = pad([list(r[p:]) for r, p in zip(rows, lengths)], pad_id, device)
    positions = mask.sum(-1, keepdim=True) + torch.arange(suffix_ids.shape[1], device=device)
    out = model(input_ids=suffix_ids, attention_mask=torch.cat([mask, suffix_mask], dim=1),
                position_ids=positions, past_key_values=cache, use_cache=True)
    logits = out.logits.float()
    log_norm = logits.logsumexp(-1)                                                      # [n, S]
    first_lp = states.after[row_group, suffix_ids[:, 0]]                                 # [n]
    suffix_lp = logits[:, :-1].gather(-1, suffix_ids[:, 1:, None])[..., 0] - log_norm[:, :-1]
    suffix_len = suffix_mask.sum(-1)
    end = (torch.arange(len(rows), device=device), suffix_len - 1)
    last = (logits[end] - log_norm[end][:, None]).cpu() if with_last else None

    prefix_lp = states.token_lp.double().cpu()
    first_lp, suffix_lp = first_lp.double().cpu(), suffix_lp.double().cpu()
    token_lp = [torch.cat([prefix_lp[g, : p - 1], first_lp[i: i + 1], suffix_lp[i, : s - 1]])
                for i, (g, p, s) in enumerate(zip(group, lengths, suffix_len.tolist()))]
    return token_lp, last
