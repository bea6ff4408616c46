"""The keyword task's few-shot prompts, one per language.

A small LM answers in the language of the examples it is shown, whatever the
keywords' language: after English examples, Chinese keywords get an English sentence
with the keywords tacked on. So the keywords choose the prompt.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from ..objectives.text import HAN, HANGUL, KANA, SPACED_LETTER, normalize

_HAN = re.compile(f"[{HAN}]")
_KANA_OR_HANGUL = re.compile(f"[{KANA}{HANGUL}]")
_LATIN = rf"{SPACED_LETTER}[\u0300-\u036f]*"          # a letter or digit outside CJK, its accents with it
# a Latin word whole ("iPhone", "Wi-Fi", "3.5G", "don't"), else one character
_PIECE = re.compile(rf"{_LATIN}(?:{_LATIN}|[-'’.]{_LATIN})*|.", re.DOTALL)
_LATIN_END, _LATIN_START = re.compile(rf"{_LATIN}\Z"), re.compile(_LATIN)


@dataclass(frozen=True)
class FewShot:
    """Examples of keywords and a sentence that uses them, then the line that asks for the keywords'.

    `examples` open every prompt in the language, so their key/value cache is run once and kept;
    a sentence follows the prompt after `lead` (English puts a space after "Sentence:"), and a
    sentence's words are joined by `space` (none in Chinese)."""

    examples: str
    ask: str                 # the last line, with {keywords}
    separator: str           # between keywords in a prompt
    lead: str
    space: str

    @classmethod
    def of(cls, pairs: Sequence[tuple[Sequence[str], str]], ask: str, separator: str, lead: str,
           space: str) -> FewShot:
        examples = "".join(f"{ask.format(keywords=separator.join(words))}{lead}{sentence}\n"
                           for words, sentence in pairs)
        return cls(examples, ask, separator, lead, space)

    def prompt(self, words: Sequence[str]) -> str:
        return self.examples + self.ask.format(keywords=self.separator.join(words))

    def pieces(self, text: str) -> list[str]:
        """The places a keyword may go between: words where words are spaced; else characters, a Latin
        word ("iPhone", "Wi-Fi", "5G") kept whole."""
        return text.split() if self.space else _PIECE.findall(text)

    def join(self, pieces: Sequence[str]) -> str:
        """The pieces as text. Without spaces, two Latin or digit runs that meet still get one between them:
        "dog" and "frisbee" in a Chinese set must not glue into "dogfrisbee"."""
        if self.space:
            return self.space.join(pieces)
        text = ""
        for piece in pieces:
            text += (" " if _LATIN_END.search(text) and _LATIN_START.match(piece) else "") + piece
        return text

    @property
    def capitalised(self) -> bool:
        """Whether a sentence opens with a capital that must stay first: in the spaced (Latin) languages."""
        return bool(self.space)


ENGLISH = FewShot.of([
    (["kitchen", "cook", "meal"], "A man is cooking a meal in the kitchen."),
    (["river", "boat", "row", "friend"], "Two friends row a boat down the river."),
    (["guitar", "sing", "stage"], "A woman sings and plays the guitar on stage."),
    (["bench", "book", "old", "read", "sit"], "An old man sits on a bench reading a book."),
    (["paint", "wall", "brush"], "He paints the wall with a brush."),
], ask="Keywords: {keywords}\nSentence:", separator=", ", lead=" ", space=" ")

CHINESE = FewShot.of([
    (["厨房", "做饭", "家人"], "爸爸在厨房里给家人做饭。"),
    (["河", "船", "划", "朋友"], "两个朋友在河上划船。"),
    (["吉他", "唱歌", "舞台"], "一个女孩在舞台上一边弹吉他一边唱歌。"),
    (["长椅", "书", "老人", "看", "坐"], "一位老人坐在公园的长椅上看书。"),
    (["刷子", "墙", "刷"], "他用刷子把墙刷成了白色。"),
], ask="关键词：{keywords}\n句子：", separator="、", lead="", space="")


def few_shot(words: Sequence[str]) -> FewShot:
    """The prompt for these keywords: Chinese when they are written in Han characters (no kana or
    Hangul, which would make them Japanese or Korean), else English."""
    text = normalize("".join(words))
    return CHINESE if _HAN.search(text) and not _KANA_OR_HANGUL.search(text) else ENGLISH
