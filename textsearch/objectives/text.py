"""How energy terms read a batch: as token ids in their own tokenizer, or as words.

Terms from different models meet in text: a batch holds ids of one tokenizer (the
proposal's), and a term whose model tokenizes differently decodes and re-encodes.
"""
from __future__ import annotations

import re
import unicodedata

from .base import Batch

HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"
KANA = "\u3040-\u30ff"
HANGUL = "\uac00-\ud7af"
CJK = KANA + HAN + HANGUL
"""Kana, CJK ideographs and Hangul, read character by character: Chinese and Japanese put
no spaces between words, Korean attaches particles to them."""

SPACED_LETTER = rf"(?:(?![{CJK}])[^\W_])"
"""A letter or digit outside CJK: of a script whose words are runs of them between spaces."""

_WORD = re.compile(rf"[{CJK}]|{SPACED_LETTER}+")
_HAS_CJK = re.compile(rf"[{CJK}]")


def tokens_for(batch: Batch, tokenizer) -> list[list[int]]:
    """The batch's sequences as ids of `tokenizer` (a Hugging Face tokenizer).

    Same tokenizer object, or token ids with no tokenizer: the ids as they are, free.
    Another tokenizer: through text. The decode is paid once per batch (`Batch.texts`
    is shared by every term of a sum, about 6 µs per short sentence); each term whose
    tokenizer differs then encodes the whole batch again in one tokenizer call, about
    25 µs per short sentence with a fast tokenizer (scripts/bench_retokenize.py),
    small beside the model's forward pass. The round trip goes through text, so the
    ids are this tokenizer's own segmentation of the text, not a mapping of the
    original ids.
    """
    if batch.tokenizer is tokenizer or (batch.tokenizer is None and batch.has_tokens):
        return batch.tokens
    if not batch.texts:
        return []
    return [list(ids) for ids in tokenizer(batch.texts, add_special_tokens=False)["input_ids"]]


def normalize(text: str) -> str:
    """Compatibility-normalised, case-folded text: 'Ｄｏｇ' and 'DOG' read as 'dog'."""
    return unicodedata.normalize("NFKC", text).casefold()


def words(text: str) -> list[str]:
    """Normalised words: runs of letters and digits; each CJK character is a word of its own.

    Punctuation and apostrophes split words ("dog's" → "dog", "s"), the same way for
    texts and keywords, so the two always line up.
    """
    return _WORD.findall(normalize(text))


def units_of(batch: Batch, unit: str, tokenizer=None) -> list[list]:
    """Each sequence as words of its text, or as token ids (of `tokenizer` when given)."""
    if unit == "words":
        return [words(text) for text in batch.texts]
    return tokens_for(batch, tokenizer) if tokenizer is not None else batch.tokens


def has_cjk(text: str) -> bool:
    return _HAS_CJK.search(text) is not None
