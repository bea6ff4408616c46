"""Token sequences with a locked mask, and the edit operations on them.

A `State` is immutable and hashable, so chains can share it and caches can key on it.
Locked positions (keyword tokens) move with insertions and deletions and are never
replaced or deleted by a proposal.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class State:
    """A token sequence and which of its positions are locked (never replaced or deleted).

    Parameters
    ----------
    tokens
        Token ids.
    locked
        One flag per token; empty: none locked.
    """
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
