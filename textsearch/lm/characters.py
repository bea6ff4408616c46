"""A subword causal LM seen one character at a time, for character-level edits (Chinese, Japanese).

Subword tokenizers merge frequent Chinese words into one token ("广州", "美食"), so an
edit of one token is an edit of a word, and a word that was never a token of its own
cannot be built up from its characters. Editing characters, as the blog's part 4
does, needs a character vocabulary. This adapter gives one to any `CausalLM`:

- the vocabulary is every letter, digit or punctuation mark that is a token of the LM
  on its own (Gemma 3 has about 19,000 single-character tokens, 11,700 of them CJK;
  symbols, controls and spaces are left out), plus an end token;
  whitespace is dropped on encoding: Chinese is written without spaces;
- `log_prob` scores the *text* of a character sequence, tokenized the LM's own way,
  so the energy of a sentence does not depend on how the edits segmented it;
- `next_token_log_probs` is the LM's next-character distribution after the text of the
  prefix: p(c | prefix) = Σ p(t | prefix) over the LM tokens t whose text starts with
  c ("广州" counts for "广"). The mass of tokens that start with a space or with a
  character outside the vocabulary, and of special tokens other than the end, is
  dropped; a proposal renormalises over what it keeps.

It has the language-model interface that `Candidates`, `EditProposal`, `Fluency` and
`KeywordsToSentence` read (tokenizer, vocab_size, eos_id, encode, decode, log_prob,
next_token_log_probs, session), so those work on characters unchanged. Cost: every
scoring call decodes and re-encodes its sequences, and building the adapter decodes the
LM's vocabulary once.
"""
from __future__ import annotations

import unicodedata
from collections.abc import Sequence

import torch

from .vocabulary import ordinary_tokens


class CharacterTokenizer:
    """Characters ↔ ids; the id after the last character is the end token."""

    def __init__(self, chars: Sequence[str]):
        self.chars = list(chars)
        self.index = {c: i for i, c in enumerate(self.chars)}
        self.eos_token_id = len(self.chars)
        self.bos_token_id = self.pad_token_id = None
        self.all_special_ids = [self.eos_token_id]

    def __len__(self) -> int:
        return len(self.chars) + 1

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        unknown = sorted({c for c in text if not c.isspace() and c not in self.index})
        if unknown:
            raise ValueError(f"the characters {''.join(unknown)!r} are not in this vocabulary (the single-character "
                             f"tokens of the language model): use other characters")
        return [self.index[c] for c in text if not c.isspace()]

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = True) -> str:
        return "".join(self.chars[i] if i < len(self.chars) else ("" if skip_special_tokens else "</s>")
                       for i in map(int, ids))


class CharacterLM:
    """`lm` with a vocabulary of single characters (see the module docstring).

    Parameters
    ----------
    lm
        A `CausalLM` whose vocabulary has single-character tokens (Gemma 3 for Chinese).
    """

    bos_id = None

    def __init__(self, lm):
        if lm.eos_id is None:
            raise ValueError("the language model has no end-of-sequence token to end character sentences with")
        self.lm = lm
        texts = lm.tokenizer.batch_decode([[i] for i in range(lm.vocab_size)])
        writable = ordinary_tokens(lm).tolist()         # no special token or placeholder counts for a character
        chars = sorted({t for i, t in enumerate(texts) if len(t) == 1 and writable[i]
                        and unicodedata.category(t)[0] in "LNP"})
        self.tokenizer = CharacterTokenizer(chars)
        self.vocab_size = len(self.tokenizer)
        self.eos_id = self.tokenizer.eos_token_id
        first = [self.tokenizer.index.get(t[:1], -1) if writable[i] else -1 for i, t in enumerate(texts)]
        first[lm.eos_id] = self.eos_id
        first = torch.tensor(first)
        self._sources = (first >= 0).nonzero()[:, 0]           # LM tokens that count for a character
        self._targets = first[self._sources]                    # ... and the character each counts for

    def session(self, searches: int = 1):
        """The LM's session: its scored texts keep their states for the block."""
        return self.lm.session(searches)

    def taking_turns(self):
        """The LM's: several searches' calls run as one."""
        return self.lm.taking_turns()

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text)

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(ids)

    def _lm_ids(self, item) -> list[int]:
        """The LM's own tokens for an item's text; a trailing end token stays an end token."""
        if isinstance(item, str):
            return self.lm.encode(item)
        ids = [int(t) for t in getattr(item, "tokens", item)]
        ended = bool(ids) and ids[-1] == self.eos_id
        ids = self.lm.encode(self.decode(ids[:-1] if ended else ids))
        return ids + [self.lm.eos_id] if ended else ids

    def log_prob(self, items, context: str | None = None) -> torch.Tensor:
        """log p_LM of each item's text [n] (float64) after the text `context`, the end included when
        the item ends with it."""
        return self.lm.log_prob([self._lm_ids(item) for item in items], context)

    def next_token_log_probs(self, prefixes, context: str | None = None) -> torch.Tensor:
        """log p(next character | context, text of the prefix) [n, vocab_size] (float32)."""
        token_probs = self.lm.next_token_log_probs([self._lm_ids(p) for p in prefixes], context).exp()
        char_probs = torch.zeros((len(token_probs), self.vocab_size), dtype=torch.float32)
        char_probs.index_add_(1, self._targets, token_probs[:, self._sources])
        return char_probs.log()
