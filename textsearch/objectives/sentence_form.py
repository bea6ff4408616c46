"""SentenceForm: one sentence that starts like one and ends like one."""
from __future__ import annotations

import re

import torch

from .arguments import check_weight
from .base import Batch, Objective

OPENERS = "\"'“‘(¿¡"
ENDINGS = ".!?。！？…"
CLOSERS = "\"'”’)」』"
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_BREAK = re.compile(r"[.!?…][\"'”’)]*\s+(?![a-z])(?=\S)|[。！？](?=[^\"'”’)」』])")


def starts_well(text: str) -> bool:
    """The first character (after an opening quote or bracket) is a capital, a digit or an uncased letter
    such as a CJK character: not a lowercase letter, not a dash or comma left over from an edit."""
    text = text.strip().lstrip(OPENERS)
    return bool(text) and text[0].isalnum() and not text[0].islower()


def sentence_breaks(text: str) -> int:
    """Sentence ends before the last one: a line break with text after it (the texts scored here are one
    line each), and a full stop, "!" or "?" followed by more text that does not go on in lowercase
    ("Stop!" he said)."""
    lines = [line.strip() for line in _LINE_BREAK.split(text) if line.strip()]
    return max(len(lines) - 1, 0) + sum(len(_BREAK.findall(line)) for line in lines)


def ends_well(text: str) -> bool:
    """The last character before any closing quote or bracket ends a sentence."""
    text = text.strip().rstrip(CLOSERS)
    return bool(text) and text[-1] in ENDINGS


class SentenceForm(Objective):
    """E(x) = weight · ([x does not start like a sentence] + [x does not end like one]
                        + number of sentences after the first).

    A language model scored from its start token often prefers fragments: after
    `<|endoftext|>` SmolLM2 gives "-", "," or "'s" more probability than "The", so an
    edit search on fluency alone drifts to "- walks his dog on a leash." or drops a
    sentence's last full stop, and a prompted draft may run on into a second sentence.
    This term charges `weight` for each broken end and each extra sentence.
    It reads the decoded text; scripts with no case count any letter as a capital.

    Parameters
    ----------
    weight
        Energy per broken start or end and per sentence after the first.
    """

    def __init__(self, weight: float = 4.0):
        self.weight = check_weight(weight)

    def energy(self, batch: Batch) -> torch.Tensor:
        broken = [(not starts_well(text)) + (not ends_well(text)) + sentence_breaks(text) for text in batch.texts]
        return self.weight * torch.tensor(broken, dtype=torch.float64)

    def __repr__(self) -> str:
        return f"SentenceForm(weight={self.weight:g})"


class OneSentence(Objective):
    """E(x) = inf if x runs on into a second sentence (`sentence_breaks`), else 0: a hard constraint
    for targets that must be one sentence, which a twist may then enforce on prefixes (a break, once
    written, stays in every continuation)."""

    def energy(self, batch: Batch) -> torch.Tensor:
        return torch.tensor([float("inf") if sentence_breaks(text) else 0.0 for text in batch.texts],
                            dtype=torch.float64)

    def __repr__(self) -> str:
        return "OneSentence()"
