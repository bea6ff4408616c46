"""UniformSequences: a length uniform in [min, max], then every token uniform.

The simplest q for rejection and importance sampling, and the default start of
the edit proposals: q(x) = 1 / (#lengths · V^len(x)).
"""
from __future__ import annotations

import math

import torch

from .base import SequenceDistribution


def check_lengths(low, high) -> tuple[int, int]:
    if not all(isinstance(n, int) for n in (low, high)) or not 0 <= low <= high:
        raise ValueError(f"lengths must be integers with 0 <= min <= max, got min={low!r}, max={high!r}")
    return low, high


class UniformSequences(SequenceDistribution):
    """q over sequences of `length` tokens (an int, or a (min, max) pair, both inclusive)."""

    def __init__(self, vocab_size: int, length: int | tuple[int, int], tokenizer=None):
        if not isinstance(vocab_size, int) or vocab_size < 1:
            raise ValueError(f"vocab_size must be an integer >= 1, got {vocab_size!r}")
        self.vocab_size = vocab_size
        self.min_len, self.max_len = check_lengths(*((length, length) if isinstance(length, int) else length))
        self.tokenizer = tokenizer

    def sample(self, n: int, generator: torch.Generator) -> tuple[list[list[int]], torch.Tensor]:
        lengths = torch.randint(self.min_len, self.max_len + 1, (n,), generator=generator)
        tokens = torch.randint(0, self.vocab_size, (n, self.max_len), generator=generator)
        sequences = [row[:length] for row, length in zip(tokens.tolist(), lengths.tolist())]
        return sequences, self.log_prob(sequences)

    def log_prob(self, sequences: list[list[int]]) -> torch.Tensor:
        """log q of each sequence [n] (−inf outside the support)."""
        log_lengths = math.log(self.max_len - self.min_len + 1)
        return torch.tensor([-log_lengths - len(s) * math.log(self.vocab_size)
                             if self.min_len <= len(s) <= self.max_len and all(0 <= t < self.vocab_size for t in s)
                             else -math.inf for s in sequences], dtype=torch.float64)
