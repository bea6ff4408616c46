"""Token sequences with a locked mask, the edit operations on them, and padding.

A `State` is immutable and hashable, so chains can share it and caches can key on it.
Locked positions (keyword tokens) move with insertions and deletions and are never
replaced or deleted by a proposal.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass(frozen=True)
class State:
    tokens: tuple[int, ...]
    locked: tuple[bool, ...] = field(default=())

    def __post_init__(self):
        tokens = tuple(int(t) for t in self.tokens)
        locked = tuple(bool(b) for b in self.locked) or (False,) * len(tokens)
        if len(locked) != len(tokens):
            raise ValueError(f"locked mask has {len(locked)} entries for {len(tokens)} tokens")
        object.__setattr__(self, "tokens", tokens)
        object.__setattr__(self, "locked", locked)

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def editable(self) -> list[int]:
        """Positions a proposal may replace or delete."""
        return [i for i, lock in enumerate(self.locked) if not lock]

    @property
    def num_gaps(self) -> int:
        """Places a token can be inserted: before each token and at the end."""
        return len(self.tokens) + 1

    def replace(self, i: int, token: int) -> "State":
        if self.locked[i]:
            raise ValueError(f"position {i} is locked")
        return State(self.tokens[:i] + (int(token),) + self.tokens[i + 1:], self.locked)

    def insert(self, i: int, token: int, locked: bool = False) -> "State":
        return State(self.tokens[:i] + (int(token),) + self.tokens[i:],
                     self.locked[:i] + (locked,) + self.locked[i:])

    def delete(self, i: int) -> "State":
        if self.locked[i]:
            raise ValueError(f"position {i} is locked")
        return State(self.tokens[:i] + self.tokens[i + 1:], self.locked[:i] + self.locked[i + 1:])


def as_state(item) -> State:
    """A State from a State or a sequence of token ids."""
    return item if isinstance(item, State) else State(tuple(item))


def pad(sequences: list[list[int]], pad_id: int = 0, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad token lists into `ids` [n, L] and a 0/1 `mask` of the real tokens."""
    width = max((len(s) for s in sequences), default=0)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = torch.as_tensor(list(seq), dtype=torch.long)
        mask[row, : len(seq)] = 1
    return ids.to(device), mask.to(device)
