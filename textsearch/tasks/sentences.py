"""What the sentence-in, sentence-out tasks (paraphrase, correct, infill) share: the input check,
the result record, and the loop that gives every job its own seed."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Sequence

from ..objectives import Keywords
from ..objectives.sentence_form import OPENERS
from ..state import State
from .seeds import seed_for
from .trace import TraceStep

MAX_CHARS = 400           # a sentence, not a document: the search time grows with every token
PLAIN_CONTEXT = "Here is a short, plain English sentence:\n"
"""What a sentence is scored after: from the start token alone the LM expects a web page's first line
(a dash, a title, a quotation), not a plain sentence."""


def line_ends(lm) -> list[int | str]:
    """What ends a one-line sentence for `lm` (`Fluency(end=...)`): a newline, or its EOS where it has one."""
    return ["\n"] + ([] if lm.eos_id is None else [lm.eos_id])


def validate_sentence(text: str) -> str:
    """The sentence with its whitespace collapsed; a ValueError that says what to fix for unusable input."""
    if not isinstance(text, str):
        raise TypeError("pass the sentence as a string, e.g. 'The cat sat on the mat.'")
    text = " ".join(text.replace("\ufeff", "").split())
    if not any(ch.isalpha() for ch in text):
        raise ValueError("the sentence has no letters: give a sentence, e.g. 'The cat sat on the mat.'")
    if len(text) > MAX_CHARS:
        raise ValueError(f"the sentence has {len(text)} characters, more than {MAX_CHARS}: give one sentence at a time")
    return text


@dataclass
class SentenceResult:
    source: str                      # the input sentence (infill: with its blanks)
    text: str
    energy: float
    steps: int
    seconds: float
    trace: list[TraceStep] = field(default_factory=list)
    edits: list | None = None        # correct: the word edits that turn the source into the text

    def record(self) -> dict:
        """The JSON line of this result (energy null if no sentence met the constraints)."""
        record = {"source": self.source, "text": self.text,
                  "energy": self.energy if math.isfinite(self.energy) else None,
                  "steps": self.steps, "seconds": round(self.seconds, 3)}
        if self.edits is not None:
            record["edits"] = [list(edit) for edit in self.edits]
        return record


class SentenceTask:
    """A task that rewrites one sentence: subclasses give `check` and `search_many`."""

    def check(self, text: str) -> str:
        return validate_sentence(text)

    def __call__(self, text: str, num: int = 1, seed: int = 0, trace: bool = False,
                 progress: bool = False) -> list[SentenceResult]:
        """`num` results, each from its own search seeded by (seed, text, index)."""
        return self.generate([text], num, seed, trace, progress)[0]

    def generate(self, texts: Sequence[str], num: int = 1, seed: int = 0, trace: bool = False,
                 progress: bool = False) -> list[list[SentenceResult]]:
        """`num` results for each text; all jobs' searches share forwards."""
        checked = [self.check(text) for text in texts]
        jobs = [(text, seed_for(seed, [text], i)) for text in checked for i in range(num)]
        started = time.perf_counter()
        results = self.search_many([text for text, _ in jobs], [s for _, s in jobs], trace, progress)
        seconds = (time.perf_counter() - started) / max(1, len(jobs))
        for result in results:
            result.seconds = seconds
        return [results[k * num:(k + 1) * num] for k in range(len(checked))]

    def search_many(self, texts: list[str], seeds: list[int], trace: bool = False,
                    progress: bool = False) -> list[SentenceResult]:
        raise NotImplementedError


def trimmed(draft: str) -> str:
    """A draft with its whitespace collapsed and anything before its first word or opening quote
    (a comma, a dash) cut."""
    text = " ".join(draft.split())
    return text[next((i for i, ch in enumerate(text) if ch.isalnum() or ch in OPENERS), len(text)):]


def locked_state(tokens: Sequence[int], keywords: Keywords, decode) -> State:
    """Lock the tokens the keyword constraint rests on: those whose deletion would lose a keyword."""
    tokens = list(tokens)
    missing = set(keywords.missing(decode(tokens)))
    locked = [bool(set(keywords.missing(decode(tokens[:i] + tokens[i + 1:]))) - missing)
              for i in range(len(tokens))]
    return State(tuple(tokens), tuple(locked))
