"""Template: the sentence must be the given text with each blank filled by a few words."""
from __future__ import annotations

import math
import re

import torch

from .base import Batch, Objective

BLANK = "[BLANK]"


class Template(Objective):
    """E(x) = 0 if x reads as `text` with every `blank` filled by 1 to `max_words` words, else ∞.

    The hard constraint of infilling: the search may write only inside the blanks. Text is
    compared with its whitespace collapsed; a filled blank's words are separated by single
    spaces and glue to the fixed text where the template does ("un[BLANK]" takes "usual").

    Parameters
    ----------
    text
        The template, with one or more blanks.
    max_words
        The most words one blank may take.
    blank
        The marker of a blank in `text`.
    tokenizer
        Gives token ids their text when this term is used alone.
    """

    def __init__(self, text: str, max_words: int = 4, blank: str = BLANK, tokenizer=None):
        if not isinstance(max_words, int) or max_words < 1:
            raise ValueError(f"max_words must be a whole number >= 1, got {max_words!r}")
        self.parts = " ".join(text.split()).split(blank)
        if len(self.parts) < 2:
            raise ValueError(f"the text has no {blank}: mark each place to fill with {blank}, "
                             f"e.g. 'The {blank} sat on the {blank}.'")
        self.text, self.max_words, self.blank, self.tokenizer = text, max_words, blank, tokenizer
        fill = r"(\S+(?: \S+){0,%d})" % (max_words - 1)
        self.pattern = re.compile(fill.join(re.escape(part) for part in self.parts))

    @property
    def blanks(self) -> int:
        return len(self.parts) - 1

    def fills(self, text: str) -> list[str] | None:
        """What fills each blank in `text`, or None if `text` does not read as the template."""
        match = self.pattern.fullmatch(" ".join(text.split()))
        return list(match.groups()) if match else None

    def energy(self, batch: Batch) -> torch.Tensor:
        return torch.tensor([0.0 if self.fills(text) is not None else math.inf for text in batch.texts],
                            dtype=torch.float64)

    def __repr__(self) -> str:
        return f"Template({self.text!r}, max_words={self.max_words})"
