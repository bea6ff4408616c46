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
then scores the sentences that extend those prefixes; the LM keeps the states of both
(`sentence_store`), so the second call, and the next step's first, skip their prefix
forward altogether.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .sentence_store import Gathered, captured_hidden, model_cache, stacked_cache
from .sequences import pad


@dataclass
class PrefixStates:
    """Distinct prefixes after one forward: what rows that extend them need."""
    index: dict[tuple[int, ...], int]    # prefix (start token included) → its row here
    kv: torch.Tensor                      # [2·layers, G, heads, P, head_dim] the key/value cache (stacked_cache)
    mask: torch.Tensor                    # [G, P] 1 on real tokens
    hidden: torch.Tensor                  # [G, P, H] final hidden states
    token_lp: torch.Tensor                # [G, P-1] log p of each prefix token after the first
    after: torch.Tensor                   # [G, V] log-softmax of the token after each prefix

    def gather(self, rows: Sequence[Sequence[int]], lengths: Sequence[int]) -> Gathered:
        """Row i's prefix rows[i][:lengths[i]], one per row."""
        group = [self.index[tuple(r[:p])] for r, p in zip(rows, lengths)]
        at = torch.tensor(group, device=self.mask.device)
        token_lp = self.token_lp.double().cpu()
        return Gathered(self.kv[:, at], self.mask[at], self.hidden[at],
                        [token_lp[g, : p - 1] for g, p in zip(group, lengths)], self.after[at])


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


def plan_reuse(rows: Sequence[Sequence[int]], overhead: int) -> list[int] | None:
    """Prefix lengths when reuse pays, None for the plain path: sharing must save more tokens than
    the extra forward costs (`overhead`, in tokens)."""
    if not rows or min(len(r) for r in rows) < 2:
        return None
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
    with captured_hidden(model) as hidden:
        out = model(input_ids=ids, attention_mask=mask, position_ids=(mask.cumsum(-1) - 1).clamp(min=0),
                    use_cache=True)
    logits = out.logits.float()
    log_norm = logits.logsumexp(-1)                                                      # [G, P]
    token_lp = logits[:, :-1].gather(-1, ids[:, 1:, None])[..., 0] - log_norm[:, :-1]   # [G, P-1]
    end = (torch.arange(len(index), device=device), mask.sum(-1) - 1)
    return PrefixStates(index, stacked_cache(out.past_key_values), mask, hidden[0], token_lp,
                        logits[end] - log_norm[end][:, None])


@dataclass
class Scored:
    """A forward's results per row, and the states it leaves, to keep (`SentenceStore.add`)."""
    token_lp: list[torch.Tensor]      # log p of each row's tokens after the first (float64, CPU)
    last: torch.Tensor | None         # [n, V] next-token log-softmax after each row (float32, CPU)
    kv: torch.Tensor | None           # [2·layers, n, heads, W, head_dim]; None when not kept
    hidden: torch.Tensor              # [n, W, H]
    columns: list[torch.Tensor]       # row i's tokens sit at columns[i] of kv and hidden


def score_suffixes(model, prefix: Gathered, rows: Sequence[Sequence[int]], lengths: Sequence[int],
                   pad_id: int, device: torch.device, with_last: bool = True) -> Scored:
    """Per-token log p of each row and, `with_last`, the next-token log-softmax after each row, in one
    forward of the suffixes. Row i's first `lengths[i]` tokens are `prefix`'s row i."""
    suffix_ids, suffix_mask = pad([list(r[p:]) for r, p in zip(rows, lengths)], pad_id, device)
    positions = prefix.mask.sum(-1, keepdim=True) + torch.arange(suffix_ids.shape[1], device=device)
    with captured_hidden(model) as hidden:
        out = model(input_ids=suffix_ids, attention_mask=torch.cat([prefix.mask, suffix_mask], dim=1),
                    position_ids=positions, past_key_values=model_cache(model, prefix.kv), use_cache=True)
    logits = out.logits.float()
    log_norm = logits.logsumexp(-1)                                                      # [n, S]
    first_lp = prefix.after.gather(-1, suffix_ids[:, :1])[:, 0]                          # [n]
    suffix_lp = logits[:, :-1].gather(-1, suffix_ids[:, 1:, None])[..., 0] - log_norm[:, :-1]
    suffix_len = suffix_mask.sum(-1)
    end = (torch.arange(len(rows), device=device), suffix_len - 1)
    last = (logits[end] - log_norm[end][:, None]).cpu() if with_last else None

    first_lp, suffix_lp = first_lp.double().cpu(), suffix_lp.double().cpu()
    token_lp = [torch.cat([prefix.token_lp[i], first_lp[i: i + 1], suffix_lp[i, : s - 1]])
                for i, s in enumerate(suffix_len.tolist())]
    width = prefix.mask.shape[1]
    columns = [torch.cat([torch.arange(p), width + torch.arange(s)]) for p, s in zip(lengths, suffix_len.tolist())]
    return Scored(token_lp, last, stacked_cache(out.past_key_values),
                  torch.cat([prefix.hidden, hidden[0]], dim=1), columns)
