"""Keywords: every given word must appear in the sentence, in any inflected form."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Sequence

import torch
from lemminflect import getAllInflections, getAllInflectionsOOV, getAllLemmas

from .arguments import check_weight
from .base import Batch, Objective
from .text import has_cjk, normalize, words as split_words


def word_forms(word: str) -> frozenset[str]:
    """The word and its inflections, from the lemminflect morphology dictionary.

    A word that is a lemma itself stands for that lemma ("catch" → catches, caught,
    catching; "better" does not reach "good"); any other word stands for every lemma
    it is a form of ("leaves" → leaf and leave, with all their forms). A word the
    dictionary does not know ("frisbee") gets the regular noun and verb forms.
    """
    lemmas = {lemma.casefold() for options in getAllLemmas(word).values() for lemma in options}
    forms = {word}
    if lemmas:
        for lemma in ({word} if word in lemmas else lemmas):
            forms |= {form for options in getAllInflections(lemma).values() for form in options}
    else:
        for upos in ("NOUN", "VERB"):
            forms |= {form for options in getAllInflectionsOOV(word, upos).values() for form in options}
    return frozenset(form.casefold() for form in forms)


def keyword_forms(keyword: str) -> frozenset[str]:
    """The spellings a keyword may be written in, for guiding a search toward it: a single word's
    inflections (`word_forms`) and the word; a phrase, or a word in a script without inflections
    (CJK), as it is."""
    if " " in keyword or has_cjk(keyword):
        return frozenset({keyword})
    return word_forms(keyword) | {keyword}


@dataclass(frozen=True)
class Keyword:
    """One keyword as it is matched: consecutive word-form sets, or a CJK substring."""

    text: str
    forms: tuple[frozenset[str], ...] = ()
    substring: str = ""

    @classmethod
    def parse(cls, keyword: str, inflections: bool) -> "Keyword":
        if not isinstance(keyword, str):
            raise TypeError(f"keywords must be strings, got {keyword!r}")
        parts = split_words(keyword)
        if not parts:
            raise ValueError(f"keyword {keyword!r} has no letters or characters to match; remove it")
        if has_cjk(keyword):
            return cls(keyword, substring=re.sub(r"\s+", "", normalize(keyword)))
        return cls(keyword, tuple(word_forms(w) if inflections else frozenset({w}) for w in parts))

    def found_in(self, text_words: list[str], flat_text: str) -> bool:
        if self.substring:
            return self.substring in flat_text
        width = len(self.forms)
        return any(all(text_words[start + j] in forms for j, forms in enumerate(self.forms))
                   for start in range(len(text_words) - width + 1))


class Keywords(Objective):
    """Word-level keyword presence in the decoded text.

    A keyword is found when the text contains it as a whole word, case-insensitively,
    in any inflected form when `inflections` is on (see `word_forms`). A multi-word
    keyword ("ice cream") must appear as consecutive words, each in any of its forms.
    A keyword with CJK characters (Chinese, Japanese, Korean) is matched as a
    substring of the text with whitespace removed, since those scripts do not put
    spaces between words; where it is part of another keyword, it must also appear
    outside that one ("书" and "图书馆" need a book besides the library).

    Energy: `inf` when any keyword is missing if `hard`, else `weight` × the number of
    missing keywords; 0 when all are present. `tokenizer` gives token ids their text
    when this term is used alone; in a sum, the language model's tokenizer serves.

    Parameters
    ----------
    words
        The keywords, a list of strings; a keyword given twice (in any case) counts once.
    hard
        True: energy inf when any keyword is missing; False: `weight` per missing keyword.
    inflections
        Match any inflected form of each word (see `word_forms`); False: the word as given.
    weight
        Energy per missing keyword when not `hard`.
    tokenizer
        Gives token ids their text when this term is used alone (in a sum, the language model's serves).
    """

    def __init__(self, words: Sequence[str], hard: bool = True, inflections: bool = True,
                 weight: float = 1.0, tokenizer=None):
        if isinstance(words, str) or not isinstance(words, Sequence):
            raise TypeError(f"pass the keywords as a list of strings, e.g. ['dog', 'frisbee'], got {words!r}")
        if not words:
            raise ValueError("the keyword list is empty: give at least one keyword")
        unique: dict[tuple[str, ...], Keyword] = {}
        for word in words:
            keyword = Keyword.parse(word, inflections)
            unique.setdefault(tuple(split_words(word)), keyword)
        self.keywords = list(unique.values())            # "Dog" and "dog" count once
        self._around = {k.text: sorted((o.substring for o in self.keywords if k.substring and o.substring != k.substring
                                       and k.substring in o.substring), key=len, reverse=True)
                       for k in self.keywords}
        self.hard, self.inflections, self.weight = hard, inflections, check_weight(weight)
        self.tokenizer = tokenizer

    def missing(self, text: str) -> list[str]:
        """The keywords (as given) that `text` lacks."""
        if not isinstance(text, str):
            raise TypeError(f"missing() takes one text, got {type(text).__name__}")
        text_words, flat = split_words(text), re.sub(r"\s+", "", normalize(text))
        return [k.text for k in self.keywords if not k.found_in(text_words, self._outside(k.text, flat))]

    def _outside(self, keyword: str, flat: str) -> str:
        """The text with the other keywords that contain this CJK keyword blanked out."""
        for other in self._around[keyword]:
            flat = flat.replace(other, "\0" * len(other))
        return flat

    def covered(self, texts: Sequence[str]) -> list[bool]:
        """For each text, whether it contains every keyword."""
        if isinstance(texts, str):
            raise TypeError("covered() takes a list of texts; wrap a single text in a list")
        return [not self.missing(t) for t in texts]

    def energy(self, batch: Batch) -> torch.Tensor:
        counts = torch.tensor([len(self.missing(t)) for t in batch.texts], dtype=torch.float64)
        if self.hard:
            return torch.where(counts > 0, math.inf, 0.0).to(torch.float64)
        return self.weight * counts

    def __repr__(self) -> str:
        return f"Keywords({[k.text for k in self.keywords]}, hard={self.hard})"
