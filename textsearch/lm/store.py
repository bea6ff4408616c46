"""Scored sentences kept with their key/value cache and final hidden states.

A sampler step scores candidate sentences, and the next step edits one of them (the
one it accepted) or the sentence it kept, which an earlier step scored. So the next
step's slot distributions p(· | x_<i) and the key/value cache of x_<i are already in
hand: the LM head applied to the kept hidden state at i − 1 gives the first, the kept
cache of x_<i the second. Kept here, they spare the step its prefix forward: a step
runs one forward, a token tree of its candidates from their slots on (`tree`), for
all chains at once.

The states live in one arena of columns (keys and values of every layer, and the final
hidden state, per token) that each forward writes its new tokens into, in place. A kept
row is the list of its tokens' columns, so rows that begin alike share columns: a
prompt's context is held once, and so is a particle's every ancestor. A forward
continues from the arena as it is, nothing gathered or copied; an attention mask says
which columns each new token sees. When the arena passes its budget, the least recently
used rows go and the columns still in use move to its front: a prefix that is not held
any more costs a forward, never a wrong answer. A CausalLM keeps a store for one session
(`CausalLM.session`, a sampler run), so what a run scores never depends on earlier runs.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .head import captured_hidden, log_softmax_after
from .kv import dynamic_cache, returned_cache, stacked, with_cache

STORE_BYTES = 64 * 2 ** 20       # states kept for one sampler run: a few steps of its chains' candidates
SEARCH_BYTES = 8 * 2 ** 20       # per search, when several take turns: its chains, their candidates, its context


def store_bytes(searches: int) -> int:
    """The store's budget for `searches` runs that take turns: enough that one's states do not push out
    another's before it uses them again."""
    return max(STORE_BYTES, SEARCH_BYTES * searches)


@dataclass(frozen=True)
class Layout:
    """What one token's states are: keys and values [2·layers, heads, head_dim], and a hidden state."""
    kv: tuple[int, int, int]
    hidden: int
    dtype: torch.dtype           # of the keys and values
    hidden_dtype: torch.dtype
    device: torch.device

    @classmethod
    @torch.inference_mode()
    def of(cls, model, token: int, device: torch.device) -> Layout:
        """The layout of `model`'s states, read off a one-token forward."""
        with captured_hidden(model) as seen:
            out = model(input_ids=torch.tensor([[token]], device=device), use_cache=True,
                        **with_cache(model, dynamic_cache()))
        kv = stacked(returned_cache(out))                  # [2·layers, 1, heads, 1, head_dim]
        return cls((kv.shape[0], kv.shape[2], kv.shape[4]), seen[0].shape[-1], kv.dtype, seen[0].dtype, kv.device)

    @property
    def column_bytes(self) -> int:
        """The memory of one token's states."""
        layers2, heads, head_dim = self.kv
        return (layers2 * heads * head_dim * self.dtype.itemsize + self.hidden * self.hidden_dtype.itemsize)


@dataclass(eq=False)
class Kept:
    columns: torch.Tensor    # [S] (CPU) the arena columns of the states of the row's first S tokens
    token_lp: torch.Tensor   # [L-1] float64 CPU: log p of each token after the first
                             # (S = L, or L − 1 for a row scored without the distribution after it)


@dataclass
class Past:
    """What rows continue from (`tree`): per row the arena columns of its held tokens, whose last state
    gives the log p of the row's next token; the arena itself is the store's."""
    store: SentenceStore
    held: list[torch.Tensor]       # per row, its held tokens' columns, in order (empty: none)
    token_lp: list[torch.Tensor]   # per row, log p of those tokens after the first

    @property
    def lengths(self) -> list[int]:
        """Per row, how many of its tokens the past holds."""
        return [len(columns) for columns in self.held]

    def room(self, new: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        """The arena (keys and values [2·layers, heads, capacity, head_dim], hidden states [capacity, H])
        with room for `new` more columns after its filled ones, and how many are filled."""
        self.store.room(new)
        return self.store.kv, self.store.hidden, self.store.width


class SentenceStore:
    """Recently scored rows (start token included), by prefix, their states in an arena that keeps
    `budget` bytes of them between forwards (and room for a forward's new ones)."""

    def __init__(self, model, layout: Layout, budget: int = STORE_BYTES):
        self.model, self.layout, self.budget = model, layout, budget
        self.rows: OrderedDict[tuple[int, ...], Kept] = OrderedDict()
        self.holders: dict[tuple[int, ...], tuple[int, ...]] = {}      # prefix → a kept row that starts with it
        self.last_after: dict[tuple[int, ...], torch.Tensor] = {}       # the last `after` call's distributions
        self.kv: torch.Tensor | None = None                             # the arena, allocated at first use
        self.hidden: torch.Tensor | None = None
        self.width = 0                                                  # its filled columns

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def limit(self) -> int:
        """The columns the arena keeps between forwards."""
        return max(1, self.budget // self.layout.column_bytes)

    def add(self, rows: Sequence[Sequence[int]], columns: Sequence[torch.Tensor], token_lp: Sequence[torch.Tensor],
            width: int) -> None:
        """Keep rows of a tree forward that left the arena `width` columns wide: the states of row i's first
        tokens (all of them, or all but the last) at `columns[i]`. A row holds the prefixes its states
        cover. Past the budget, the oldest rows go and the arena is compacted."""
        self.width = width
        for i, row in enumerate(rows):
            if not len(columns[i]):
                continue
            key = tuple(row)
            if key in self.rows:
                self._drop(key)
            kept = self.rows[key] = Kept(columns[i], token_lp[i])
            for p in range(1, len(kept.columns) + 1):
                self.holders[key[:p]] = key
        if self.width > self.limit:
            self._compact()

    def _compact(self) -> None:
        """Drop the oldest rows until those left use at most half the budget's columns, and move their
        columns to the front of the arena, in order."""
        uses = torch.zeros(self.width, dtype=torch.long)
        for kept in self.rows.values():
            uses[kept.columns] += 1
        live = int((uses > 0).sum())
        for key in list(self.rows):                                          # oldest first
            if live <= self.limit // 2:
                break
            columns = self._drop(key).columns
            uses[columns] -= 1
            live -= int((uses[columns] == 0).sum())
        keep = (uses > 0).nonzero()[:, 0]
        moved = torch.full((self.width,), -1, dtype=torch.long)
        moved[keep] = torch.arange(len(keep))
        self.kv[:, :, :len(keep)] = self.kv[:, :, keep]
        self.hidden[:len(keep)] = self.hidden[keep]
        self.width = len(keep)
        for kept in self.rows.values():
            kept.columns = moved[kept.columns]

    def _drop(self, key: tuple[int, ...]) -> Kept:
        kept = self.rows.pop(key)
        for p in range(1, len(kept.columns) + 1):
            if self.holders.get(key[:p]) == key:
                del self.holders[key[:p]]
        return kept

    def holds(self, prefix: Sequence[int]) -> bool:
        return tuple(prefix) in self.holders

    def has(self, row: Sequence[int], with_last: bool = False) -> bool:
        """Whether the row was scored, and `with_last`, with its last token's state (the distribution after it)."""
        return tuple(row) in self.rows and (not with_last or self.holds(row))

    def token_lp(self, row: Sequence[int]) -> torch.Tensor:
        """The kept log-probs of a kept row: the same numbers as when it was scored."""
        self.rows.move_to_end(tuple(row))
        return self.rows[tuple(row)].token_lp

    def past_length(self, row: Sequence[int]) -> int:
        """How many of the row's first tokens a tree continues from (`past`): its longest held prefix
        that leaves a token to score; 0 if none is held."""
        return next((p for p in range(len(row) - 1, 0, -1) if tuple(row[:p]) in self.holders), 0)

    def _holder(self, prefix: tuple[int, ...]) -> Kept:
        key = self.holders[prefix]
        self.rows.move_to_end(key)
        return self.rows[key]

    def after(self, prefixes: Sequence[Sequence[int]]) -> torch.Tensor:
        """log p(· | prefix) [n, V] for held prefixes, from the kept hidden states: no forward. The LM
        head runs once per distinct prefix, and not again for a prefix of the last call (a chain that
        stayed may draw the same slot again). A new tensor: what the caller does to it leaves those alone."""
        keys = [tuple(p) for p in prefixes]
        known = {k: self.last_after[k] for k in keys if k in self.last_after}
        distinct = list(dict.fromkeys(k for k in keys if k not in known))
        if distinct:
            at = torch.stack([self._holder(k).columns[len(k) - 1] for k in distinct])
            known.update(zip(distinct, log_softmax_after(self.model, self.hidden[at])))
        self.last_after = known
        return torch.stack([known[k] for k in keys])

    def touch(self, rows: Sequence[Sequence[int]], lengths: Sequence[int]) -> None:
        """Mark the kept beginnings of rows about to run (their first `lengths`, as `past_length` gives
        them) as just used: a compaction between the chunks of one call then drops other rows first."""
        for row, length in zip(rows, lengths):
            if length:
                self._holder(tuple(row[:length]))

    def past(self, rows: Sequence[Sequence[int]]) -> Past:
        """What rows continue from: each row's longest held prefix (none: nothing)."""
        held, token_lp = [], []
        for row in rows:
            length = self.past_length(row)
            kept = self._holder(tuple(row[:length])) if length else None
            held.append(kept.columns[:length] if kept else torch.zeros(0, dtype=torch.long))
            token_lp.append(kept.token_lp[:length - 1] if kept else torch.zeros(0, dtype=torch.float64))
        return Past(self, held, token_lp)

    def room(self, new: int) -> None:
        """An arena with room for `new` more columns: allocated, or grown with its filled columns copied."""
        capacity = 0 if self.kv is None else self.kv.shape[2]
        if self.width + new <= capacity:
            return
        capacity = max(self.limit, self.width) + new
        kv = torch.empty((*self.layout.kv[:2], capacity, self.layout.kv[2]), dtype=self.layout.dtype,
                         device=self.layout.device)
        hidden = torch.empty((capacity, self.layout.hidden), dtype=self.layout.hidden_dtype, device=self.layout.device)
        if self.width:
            kv[:, :, :self.width] = self.kv[:, :, :self.width]
            hidden[:self.width] = self.hidden[:self.width]
        self.kv, self.hidden = kv, hidden
