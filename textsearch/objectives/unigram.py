"""What a word costs before any context: its unigram log-probability (wordfreq).

SLOR (Lau et al. 2017) subtracts it from a language model's log-probability, so that a
sentence is charged for words that do not fit where they stand, not for words that are
rare: "a potter shapes clay" is no worse a sentence than "a man makes a pot".
"""
from __future__ import annotations

import math
from functools import lru_cache

FLOOR = 1e-8
"""Frequency of a word wordfreq does not list (about its rarest listed English words): an
unknown string earns no more credit than a rare real word."""


def check_language(lang: str) -> str:
    """`lang` if wordfreq has a word list for it; a ValueError that names the choices otherwise."""
    from wordfreq import available_languages
    languages = available_languages()
    if lang not in languages:
        raise ValueError(f"no unigram frequencies for language {lang!r}: use one of {', '.join(sorted(languages))}")
    return lang


def unigram_log_prob(text: str, lang: str = "en") -> float:
    """Σ log p_unigram(word) over the words of `text`, as wordfreq splits them."""
    from wordfreq import tokenize
    return sum(word_log_prob(word, lang) for word in tokenize(text, lang))


@lru_cache(maxsize=1 << 16)
def word_log_prob(word: str, lang: str) -> float:
    from wordfreq import word_frequency
    return math.log(max(word_frequency(word, lang), FLOOR))
