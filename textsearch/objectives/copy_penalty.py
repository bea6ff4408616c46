"""CopyPenalty: a paraphrase must say it in other words, not repeat the source."""
from __future__ import annotations

import re

import torch

from .arguments import check_weight
from .base import Batch, Objective
from .edit_distance import edit_costs


def word_change(source: str, text: str) -> float:
    """The share of the source's words that a text changes: word-level edit distance (insert, delete,
    replace, swap of neighbours) between the two, lower-cased and without punctuation, over the
    source's length."""
    plain = lambda t: " ".join(re.findall(r"[\w']+", t.lower()))
    a, b = plain(source), plain(text)
    return edit_costs(a, b, word_cost=1.0, char_cost=1.0, typo_chars=0) / max(1, len(a.split()))


class CopyPenalty(Objective):
    """E(x) = weight · max(0, 1 − change(x) / min_change), change = `word_change(source, x)`.

    Free once a sentence changes `min_change` of the source's words, and `weight` for the source
    itself: under an LM prompted with the source, copying it is by far the likeliest answer, so
    a paraphrase energy without this term finds the source again.

    Parameters
    ----------
    source
        The sentence paraphrased.
    min_change
        The share of its words a sentence must change to pay nothing, in (0, 1].
    weight
        The charge for an unchanged copy.
    tokenizer
        Gives token ids their text when this term is used alone.
    """

    def __init__(self, source: str, min_change: float = 0.3, weight: float = 20.0, tokenizer=None):
        if not isinstance(source, str) or not source.strip():
            raise ValueError(f"the source must be a non-empty text, got {source!r}")
        if not 0 < min_change <= 1:
            raise ValueError(f"min_change must be in (0, 1], got {min_change!r}")
        self.source, self.min_change, self.weight, self.tokenizer = source, min_change, check_weight(weight), tokenizer

    def energy(self, batch: Batch) -> torch.Tensor:
        changes = torch.tensor([word_change(self.source, text) for text in batch.texts], dtype=torch.float64)
        return self.weight * (1 - changes / self.min_change).clamp(min=0)

    def __repr__(self) -> str:
        return f"CopyPenalty({self.source!r}, min_change={self.min_change:g}, weight={self.weight:g})"
