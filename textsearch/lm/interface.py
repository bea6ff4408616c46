"""What the rest of textsearch asks of a language model: the small typed interface of `lm`.

Objectives and proposals rely on these methods and nothing else, so any object that has
them (a wrapper of another library's model, a character view of a subword model, a
table in a test) works with every sampler. `CausalLM`, `CharacterLM` and `MaskedLM`
are the implementations that ship.
"""
from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, runtime_checkable

import torch


@runtime_checkable
class LanguageModel(Protocol):
    """A left-to-right language model over token ids."""

    tokenizer: Any               # a Hugging Face tokenizer (or one with encode/decode and special ids)
    vocab_size: int
    eos_id: int | None

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`, no special tokens."""

    def decode(self, ids: Sequence[int]) -> str:
        """The text of token ids."""

    def log_prob(self, items, context: str | Sequence[int] | None = None) -> torch.Tensor:
        """Total log p of each item (texts, token-id lists or States) [n], float64, after `context`
        (text or token ids; None: nothing but the model's start)."""

    def next_token_log_probs(self, prefixes, context: str | Sequence[int] | None = None) -> torch.Tensor:
        """log p(next token | context, prefix) for each prefix [n, vocab_size], float32."""

    def session(self, searches: int = 1) -> AbstractContextManager:
        """A block (a sampler run) within which the model may keep the states of what it scored."""

    def taking_turns(self) -> AbstractContextManager:
        """A block yielding `turns`, whose `turns.run(functions)` runs several searches and may batch
        their calls to the model (one after the other is a correct implementation)."""


@runtime_checkable
class MaskedLanguageModel(Protocol):
    """A masked language model: the distribution at a [MASK], given both sides."""

    tokenizer: Any
    vocab_size: int
    mask_id: int

    def masked_logits(self, items, positions: Sequence[int]) -> torch.Tensor:
        """Raw logits [n, vocab_size] at positions[j] of item j with that token masked."""

    def session(self, searches: int = 1) -> AbstractContextManager:
        """A block (a sampler run) within which the model may keep what it computed."""
