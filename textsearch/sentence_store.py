"""Scored sentences kept with their key/value cache and final hidden states.

A sampler step scores candidate sentences, and the next step edits one of them (the
one it accepted) or the sentence it kept, which an earlier step scored. So the next
step's slot distributions p(· | x_<i) and the key/value cache of x_<i are already in
hand: the LM head applied to the kept hidden state at i − 1 gives the first, a slice
of the kept cache the second. Kept here, they spare the step its prefix forward: a
step runs one forward, of its candidates' suffixes, for all chains at once.

Rows are kept by recent use up to a memory budget; a prefix that is not held any more
costs a forward, never a wrong answer. A CausalLM keeps a store for one sampler run
(`CausalLM.keeping_states`), so what a run scores never depends on earlier runs.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch

STORE_BYTES = 128 * 2 ** 20      # cache and hidden states kept: a few steps of 4 chains × 8 candidates


@dataclass
class Kept:
    kv: torch.Tensor         # [2·layers, heads, L, head_dim]: the keys of every layer, then the values
    hidden: torch.Tensor     # [L, H] the final hidden state at each token: what the LM head reads
    token_lp: torch.Tensor   # [L-1] float64 CPU: log p of each token after the first

    @property
    def bytes(self) -> int:
        return self.kv.numel() * self.kv.element_size() + self.hidden.numel() * self.hidden.element_size()


@dataclass
class Gathered:
    """The prefixes of n rows, left-aligned in [n, P]: what a forward of their suffixes needs."""
    kv: torch.Tensor             # [2·layers, n, heads, P, head_dim]
    mask: torch.Tensor           # [n, P] 1 on real prefix tokens
    hidden: torch.Tensor         # [n, P, H]
    token_lp: list[torch.Tensor]  # per row, log p of its prefix tokens after the first (float64, CPU)
    after: torch.Tensor          # [n, V] log-softmax of the token after each prefix


@contextmanager
def captured_hidden(model):
    """Records the input of the model's LM head (the final hidden states) during a forward: [0] after."""
    seen: list[torch.Tensor] = []
    handle = model.get_output_embeddings().register_forward_hook(lambda module, args, out: seen.append(args[0]))
    try:
        yield seen
    finally:
        handle.remove()


def stacked_cache(cache) -> torch.Tensor:
    """A model's key/value cache as one tensor [2·layers, n, heads, W, head_dim]."""
    return torch.stack([layer.keys for layer in cache.layers] + [layer.values for layer in cache.layers])


def model_cache(model, kv: torch.Tensor):
    """A cache the model continues from, holding `kv` as `stacked_cache` lays it out."""
    from transformers import DynamicCache
    layers = kv.shape[0] // 2
    return DynamicCache(ddp_cache_data=[(kv[i], kv[layers + i]) for i in range(layers)], config=model.config)


def head_reads_hidden(model, token: int, device: torch.device) -> bool:
    """Whether the logits are the LM head of the captured hidden states and nothing more (no soft-capping
    or scaling after it), so that the kept hidden states give the next-token distributions exactly."""
    with torch.inference_mode(), captured_hidden(model) as seen:
        logits = model(input_ids=torch.tensor([[token, token]], device=device), use_cache=False).logits
        return bool(torch.allclose(model.get_output_embeddings()(seen[0]).float(), logits.float(), atol=1e-5))


def log_softmax_after(model, hidden: torch.Tensor) -> torch.Tensor:
    """log p(next token) from final hidden states [n, H] → [n, V] float32."""
    return model.get_output_embeddings()(hidden).float().log_softmax(-1)


class SentenceStore:
    """Recently scored rows (start token included), by prefix, up to `budget` bytes."""

    def __init__(self, model, budget: int = STORE_BYTES):
        self.model, self.budget, self.bytes = model, budget, 0
        self.rows: OrderedDict[tuple[int, ...], Kept] = OrderedDict()
        self.holders: dict[tuple[int, ...], tuple[int, ...]] = {}      # prefix → a kept row that starts with it
        self.last_after: dict[tuple[int, ...], torch.Tensor] = {}       # the last `after` call's distributions

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, rows: Sequence[Sequence[int]], kv: torch.Tensor, hidden: torch.Tensor,
            columns: Sequence[torch.Tensor], token_lp: Sequence[torch.Tensor], pinned: frozenset = frozenset()) -> None:
        """Keep rows of a forward: `kv` [2·layers, n, heads, W, d] and `hidden` [n, W, H] as it left them,
        row i's tokens at `columns[i]`. Old rows go to stay within the budget, but not the `pinned` ones
        (`holders_of`: what a call still has to gather)."""
        for i, row in enumerate(rows):
            key = tuple(row)
            cols = columns[i].to(kv.device)
            kept = Kept(kv[:, i, :, cols], hidden[i, cols], token_lp[i])
            if key in self.rows:
                self.bytes -= self.rows.pop(key).bytes
            self.rows[key] = kept
            self.bytes += kept.bytes
            for p in range(1, len(key) + 1):
                self.holders[key[:p]] = key
        for key in [key for key in self.rows if key not in pinned]:         # oldest first
            if self.bytes <= self.budget:
                break
            self.bytes -= self.rows.pop(key).bytes
            for p in range(1, len(key) + 1):
                if self.holders.get(key[:p]) == key:
                    del self.holders[key[:p]]

    def holders_of(self, prefixes: Sequence[Sequence[int]]) -> frozenset:
        """The kept rows that hold these prefixes now."""
        return frozenset(self.holders[tuple(p)] for p in prefixes)

    def holds(self, prefix: Sequence[int]) -> bool:
        return tuple(prefix) in self.holders

    def has(self, row: Sequence[int]) -> bool:
        return tuple(row) in self.rows

    def token_lp(self, row: Sequence[int]) -> torch.Tensor:
        """The kept log-probs of a kept row: the same numbers as when it was scored."""
        self.rows.move_to_end(tuple(row))
        return self.rows[tuple(row)].token_lp

    def longest_prefix(self, row: Sequence[int]) -> int | None:
        """The longest held prefix of `row` that leaves a token to score; None if none is held."""
        return next((p for p in range(len(row) - 1, 0, -1) if tuple(row[:p]) in self.holders), None)

    def _holder(self, prefix: tuple[int, ...]) -> Kept:
        key = self.holders[prefix]
        self.rows.move_to_end(key)
        return self.rows[key]

    def after(self, prefixes: Sequence[Sequence[int]]) -> torch.Tensor:
        """log p(· | prefix) [n, V] for held prefixes, from the kept hidden states: no forward. The LM
        head runs once per distinct prefix, and not again for a prefix of the last call (the candidates
        scored after a slot's distribution start from the slot's prefix)."""
        keys = [tuple(p) for p in prefixes]
        known = {k: self.last_after[k] for k in keys if k in self.last_after}
        distinct = list(dict.fromkeys(k for k in keys if k not in known))
        if distinct:
            hidden = torch.stack([self._holder(k).hidden[len(k) - 1] for k in distinct])
            known.update(zip(distinct, log_softmax_after(self.model, hidden)))
        self.last_after = known
        return torch.stack([known[k] for k in keys])

    def gather(self, rows: Sequence[Sequence[int]], lengths: Sequence[int]) -> Gathered:
        """The held prefixes rows[i][:lengths[i]], left-aligned."""
        kept = [self._holder(tuple(r[:p])) for r, p in zip(rows, lengths)]
        width, first = max(lengths), kept[0].kv
        kv = first.new_zeros((first.shape[0], len(rows), first.shape[1], width, first.shape[3]))
        hidden = kept[0].hidden.new_zeros((len(rows), width, kept[0].hidden.shape[-1]))
        for i, (k, p) in enumerate(zip(kept, lengths)):
            kv[:, i, :, :p] = k.kv[:, :, :p]
            hidden[i, :p] = k.hidden[:p]
        mask = (torch.arange(width, device=kv.device) < torch.tensor(lengths, device=kv.device)[:, None]).long()
        return Gathered(kv, mask, hidden, [k.token_lp[: p - 1] for k, p in zip(kept, lengths)],
                        self.after([r[:p] for r, p in zip(rows, lengths)]))
