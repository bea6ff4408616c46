"""Scored sentences kept with their key/value cache and final hidden states.

A sampler step scores candidate sentences, and the next step edits one of them (the
one it accepted) or the sentence it kept, which an earlier step scored. So the next
step's slot distributions p(· | x_<i) and the key/value cache of x_<i are already in
hand: the LM head applied to the kept hidden state at i − 1 gives the first, a slice
of the kept cache the second. Kept here, they spare the step its prefix forward: a
step runs one forward, a token tree of its candidates from their slots on
(`tree`), for all chains at once.

Rows are kept by recent use up to a memory budget; a prefix that is not held any more
costs a forward, never a wrong answer. A CausalLM keeps a store for one session
(`CausalLM.session`, a sampler run), so what a run scores never depends on earlier runs.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .head import log_softmax_after

STORE_BYTES = 128 * 2 ** 20      # states kept for one sampler run: a few steps of its chains' candidates
SEARCH_BYTES = 16 * 2 ** 20      # per search, when several take turns: its chains, their candidates, its context


def store_bytes(searches: int) -> int:
    """The store's budget for `searches` runs that take turns: enough that one's states do not push out
    another's before it uses them again."""
    return max(STORE_BYTES, SEARCH_BYTES * searches)


@dataclass(eq=False)
class Kept:
    kv: torch.Tensor         # [2·layers, heads, S − offset, head_dim]: the keys of every layer, then the values
    hidden: torch.Tensor     # [S − offset, H] the final hidden state at each token: what the LM head reads
    token_lp: torch.Tensor   # [L-1] float64 CPU: log p of each token after the first
                             # (S = L, or L − 1 for a row scored without the distribution after it)
    base: "Kept | None" = None   # holds the states of the row's first `offset` tokens (a shared context)
    offset: int = 0
    users: int = 0               # of a base: the kept rows that begin with it

    @property
    def states(self) -> int:
        """How many of the row's first tokens have their states kept."""
        return self.offset + len(self.hidden)

    @property
    def bytes(self) -> int:
        """The memory the row holds itself (its base counts once, apart)."""
        return self.kv.numel() * self.kv.element_size() + self.hidden.numel() * self.hidden.element_size()

    def kv_span(self, start: int, end: int) -> torch.Tensor:
        """The keys and values of columns [start, end) of the row's states."""
        return self._span("kv", start, end, dim=2)

    def hidden_span(self, start: int, end: int) -> torch.Tensor:
        return self._span("hidden", start, end, dim=0)

    def _span(self, name: str, start: int, end: int, dim: int) -> torch.Tensor:
        own = getattr(self, name)
        if start >= self.offset:
            return own.narrow(dim, start - self.offset, end - start)
        below = self.base._span(name, start, min(end, self.offset), dim)
        return below if end <= self.offset else torch.cat([below, own.narrow(dim, 0, end - self.offset)], dim)


@dataclass
class Past:
    """Kept beginnings that rows continue from (`tree`): the beginning all blocks share (a prompt's
    context, the start token) laid once, then each block's rest, end to end."""
    kv: torch.Tensor               # [2·layers, heads, B, head_dim]
    hidden: torch.Tensor           # [B, H] final hidden states
    starts: list[int]              # per row, the column where the rest of its block starts
    lengths: list[int]             # per row, how many of its tokens the past holds (0: none)
    token_lp: list[torch.Tensor]   # per row, log p of those tokens after the first
    shared: int = 0                # the first columns, which every held row's tokens begin with
    base: Kept | None = None       # those columns' states, for the rows scored after them to share

    def columns(self, row: int) -> torch.Tensor:
        """The columns of row `row`'s held tokens, in order."""
        length = self.lengths[row]
        if length <= self.shared:
            return torch.arange(length)
        start = self.starts[row]
        return torch.cat([torch.arange(self.shared), torch.arange(start, start + length - self.shared)])


def common_length(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common prefix of two token lists."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


class SentenceStore:
    """Recently scored rows (start token included), by prefix, up to `budget` bytes."""

    def __init__(self, model, budget: int = STORE_BYTES):
        self.model, self.budget, self.bytes = model, budget, 0
        self.rows: OrderedDict[tuple[int, ...], Kept] = OrderedDict()
        self.holders: dict[tuple[int, ...], tuple[int, ...]] = {}      # prefix → a kept row that starts with it
        self.last_after: dict[tuple[int, ...], torch.Tensor] = {}       # the last `after` call's distributions
        self.bases: dict[tuple[int, ...], Kept] = {}                    # shared beginnings the rows point to

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, rows: Sequence[Sequence[int]], kv: torch.Tensor, hidden: torch.Tensor,
            columns: Sequence[torch.Tensor], token_lp: Sequence[torch.Tensor], past: Past | None = None) -> None:
        """Keep rows of a tree forward: `kv` [2·layers, heads, W, d] and `hidden` [W, H] as it left them,
        the states of row i's first tokens at `columns[i]` (all of them, or all but the last). A row
        holds the prefixes its states cover. Rows that begin with the past's shared columns keep only
        their own and point to one copy of those (a prompt's context is not copied per row). The
        oldest rows go to stay within the budget."""
        shared = past.shared if past is not None and past.base is not None else 0
        for i, row in enumerate(rows):
            if not len(columns[i]):
                continue
            key = tuple(row)
            cols = columns[i].to(kv.device)
            if key in self.rows:
                self._drop(key)
            if shared and len(cols) > shared and int(cols[shared - 1]) == shared - 1:
                base = self._base(key[:shared], past.base)
                kept = Kept(kv[:, :, cols[shared:]], hidden[cols[shared:]], token_lp[i], base, shared)
                base.users += 1
            else:
                kept = Kept(kv[:, :, cols], hidden[cols], token_lp[i])
            self.rows[key] = kept
            self.bytes += kept.bytes
            for p in range(1, kept.states + 1):
                self.holders[key[:p]] = key
        for key in list(self.rows):                                          # oldest first
            if self.bytes <= self.budget:
                break
            self._drop(key)

    def _base(self, key: tuple[int, ...], kept: Kept) -> Kept:
        """The one kept copy of a shared beginning: `kept`'s states, unless one is kept already."""
        if key not in self.bases:
            self.bases[key] = kept
            self.bytes += kept.bytes
        return self.bases[key]

    def _drop(self, key: tuple[int, ...]) -> None:
        kept = self.rows.pop(key)
        self.bytes -= kept.bytes
        for p in range(1, kept.states + 1):
            if self.holders.get(key[:p]) == key:
                del self.holders[key[:p]]
        if kept.base is not None:
            kept.base.users -= 1
            if not kept.base.users:
                self.bytes -= self.bases.pop(key[:kept.offset]).bytes

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
        stayed may draw the same slot again)."""
        keys = [tuple(p) for p in prefixes]
        known = {k: self.last_after[k] for k in keys if k in self.last_after}
        distinct = list(dict.fromkeys(k for k in keys if k not in known))
        if distinct:
            hidden = torch.cat([self._holder(k).hidden_span(len(k) - 1, len(k)) for k in distinct])
            known.update(zip(distinct, log_softmax_after(self.model, hidden)))
        self.last_after = known
        return torch.stack([known[k] for k in keys])

    def past(self, rows: Sequence[Sequence[int]]) -> Past | None:
        """What rows continue from (None: nothing held): each row's longest held prefix, whose last
        state gives the log p of the row's next token. Rows held by one kept row share its block."""
        holders: list[tuple[tuple[int, ...] | None, int]] = []
        for row in rows:
            length = self.past_length(row)
            holders.append((self.holders[tuple(row[:length])], length) if length else (None, 0))
        blocks: dict[tuple[int, ...], int] = {}
        for key, length in holders:
            if key is not None:
                blocks[key] = max(blocks.get(key, 0), length)
                self.rows.move_to_end(key)
        if not blocks:
            return None
        keys = list(blocks)
        shared = min(min(blocks.values()), min(common_length(keys[0], key) for key in keys))
        starts, offset = {}, shared
        for key, length in blocks.items():
            starts[key], offset = offset, offset + length - shared
        first = self.rows[keys[0]]
        kv = torch.cat([first.kv_span(0, shared)] + [self.rows[key].kv_span(shared, length)
                                                      for key, length in blocks.items()], dim=2)
        hidden = torch.cat([first.hidden_span(0, shared)] + [self.rows[key].hidden_span(shared, length)
                                                              for key, length in blocks.items()])
        base = self.bases.get(keys[0][:shared])
        if base is None and shared:
            base = Kept(kv[:, :, :shared].clone(), hidden[:shared].clone(), first.token_lp[:shared - 1].clone())
        return Past(kv, hidden, [starts.get(key, 0) for key, _ in holders], [length for _, length in holders],
                    [self.rows[key].token_lp[:length - 1] if key is not None else torch.zeros(0, dtype=torch.float64)
                     for key, length in holders], shared, base)
