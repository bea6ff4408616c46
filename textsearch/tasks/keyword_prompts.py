"""The keyword task's few-shot prompts, one per language.

A small LM answers in the language of the examples it is shown, whatever the
keywords' language: after English examples, Chinese keywords get an English sentence
with the keywords tacked on. So the keywords choose the prompt.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

_HAN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f]")
_KANA_OR_HANGUL = re.compile("[\u3040-\u30ff\uac00-\ud7af]")


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
    text = "".join(words)
    return CHINESE if _HAN.search(text) and not _KANA_OR_HANGUL.search(text) else ENGLISH
