"""Twists: guidance for SMC's particles that leaves its target unchanged.

A twist looks at the prefixes the particles have written so far and may
- weigh them (`log_potential`, ψ): resampling then favours prefixes likelier to end well;
  SMC divides ψ back out when a particle ends, so only the final weight counts;
- bend the proposal (`logit_bonus`, added to the next token's logits): SMC's importance
  weight divides by the bent proposal, so the target stays the same;
- forbid stopping (`may_stop`) where the target gives every ending zero mass anyway.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from ..objectives.keywords import Keywords, keyword_forms
from ..objectives.sentence_form import sentence_breaks


class Twist:
    """No guidance: subclass and override what you need."""

    def log_potential(self, prefixes: Sequence[Sequence[int]], room: int) -> torch.Tensor:
        """log ψ of each prefix [n] (float64; −inf: no continuation in `room` more tokens can end well)."""
        return torch.zeros(len(prefixes), dtype=torch.float64)

    def logit_bonus(self, prefixes: Sequence[Sequence[int]]) -> torch.Tensor | None:
        """A bonus [n, V] added to the proposal's next-token logits, or None."""
        return None

    def may_stop(self, prefixes: Sequence[Sequence[int]]) -> torch.Tensor:
        """Whether each prefix may end here [n] bool. False only where the target forbids it."""
        return torch.ones(len(prefixes), dtype=torch.bool)


class KeywordTwist(Twist):
    """Steer particles toward using every keyword.

    A prefix that misses m keywords weighs exp(−weight · m), and −inf when the tokens left
    cannot hold them; the tokens that start a missing keyword (any inflection, with or
    without a leading space, capitalised or not) get `bonus` on their logits; a prefix
    may not end while a keyword is missing. The last assumes the target forbids sentences
    that miss a keyword (its objective includes `Keywords`): otherwise the twist would
    cut mass the target has. With `one_sentence`, a prefix that has begun a second
    sentence weighs 0, which assumes the objective includes `OneSentence`.

    Parameters
    ----------
    lm
        The model the particles are written in (its `encode`, `decode` and `vocab_size`).
    words
        The keywords.
    bonus
        Logit bonus for the first token of a missing keyword.
    weight
        Log-potential per missing keyword.
    one_sentence
        Weigh 0 the prefixes that run on into a second sentence.
    """

    def __init__(self, lm, words: Sequence[str], bonus: float = 3.0, weight: float = 1.0, one_sentence: bool = False):
        self.lm, self.keywords, self.bonus, self.weight = lm, Keywords(words), float(bonus), float(weight)
        self.one_sentence = one_sentence
        self.words = [k.text for k in self.keywords.keywords]
        self.starts, self.widths = [], []
        for word in self.words:
            spellings = [f for form in keyword_forms(word) for f in (form, form[:1].upper() + form[1:])]
            encoded = [lm.encode(s) for s in spellings] + [lm.encode(" " + s) for s in spellings]
            first = torch.zeros(lm.vocab_size, dtype=torch.bool)
            first[[ids[0] for ids in encoded if ids]] = True
            self.starts.append(first)
            self.widths.append(min(len(ids) for ids in encoded if ids))

    def _texts(self, prefixes) -> list[str]:
        return [self.lm.decode(list(p)) for p in prefixes]

    def _missing(self, texts: list[str]) -> list[list[int]]:
        return [[self.words.index(w) for w in self.keywords.missing(t)] for t in texts]

    def log_potential(self, prefixes, room: int) -> torch.Tensor:
        values = []
        texts = self._texts(prefixes)
        for text, missing in zip(texts, self._missing(texts)):
            needed = sum(self.widths[k] for k in missing)
            run_on = self.one_sentence and sentence_breaks(text)
            values.append(-math.inf if needed > room or run_on else -self.weight * len(missing))
        return torch.tensor(values, dtype=torch.float64)

    def logit_bonus(self, prefixes) -> torch.Tensor:
        bonus = torch.zeros((len(prefixes), self.lm.vocab_size), dtype=torch.float32)
        for row, missing in enumerate(self._missing(self._texts(prefixes))):
            for k in missing:
                bonus[row, self.starts[k]] = self.bonus
        return bonus

    def may_stop(self, prefixes) -> torch.Tensor:
        return torch.tensor([not missing for missing in self._missing(self._texts(prefixes))], dtype=torch.bool)
