"""Which tokens a language model suggests for one slot of a sentence.

A slot is a place for one token: position i of a state (replace) or the gap before
position i (insert; the gap after the last token is i = len). A causal LM suggests
from p(y | x_<i), the prefix alone; a masked LM from its distribution at a [MASK] put
in that place, so it sees both sides. Either way the suggestion for position i does
not depend on the token now at i, which is what makes the reverse of a replace (or of
a delete, the insert back into the same place) see the same candidates.

Special tokens (BOS, EOS, padding, mask, unknown, chat markers) are never suggested.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..lm import LanguageModel, MaskedLanguageModel
from ..lm.vocabulary import ordinary_tokens
from ..state import State

TOP_K = 32      # candidate tokens per slot: the default of every proposal that shortlists with a model


@dataclass(frozen=True)
class Slot:
    state: State
    index: int
    insert: bool                       # True: a new token goes into gap `index`; False: replace position `index`

    def fill(self, token: int) -> State:
        """The state with `token` in this slot (an inserted token is never locked)."""
        return self.state.insert(self.index, token) if self.insert else self.state.replace(self.index, token)


def replacement_slots(states: list[State], positions: list[int | None]) -> tuple[list[int], list[Slot]]:
    """The chains that have a position (None: this chain stays) and a replacement slot for each;
    a ValueError for a locked position, which a conditional must never rewrite."""
    rows = [c for c, i in enumerate(positions) if i is not None]
    for c in rows:
        if states[c].locked[positions[c]]:
            raise ValueError(f"position {positions[c]} is locked: pick positions among State.editable")
    return rows, [Slot(states[c], int(positions[c]), insert=False) for c in rows]


class Candidates:
    """Token log-probabilities and top-K candidate sets at slots, one batched model call.

    `model` is a `LanguageModel` (next_token_log_probs of the prefix) or a
    `MaskedLanguageModel` (masked_logits with the slot masked). Special tokens get
    log-probability −inf. `top_k=None` takes every ordinary token. With top_p < 1 a slot's
    set stops once it holds top_p of the model's probability (nucleus), at most top_k
    tokens: a peaked distribution then costs few candidates.

    Parameters
    ----------
    model
        A `LanguageModel` (scores from the slot's prefix) or a `MaskedLanguageModel` (from the slot masked).
    top_k
        Tokens in a slot's candidate set, at most the number of ordinary tokens (None: all of them).
    top_p
        A slot's set ends once it holds this much of the model's probability (1: always top_k tokens).
    """

    def __init__(self, model, top_k: int | None, top_p: float = 1.0):
        self.masked = isinstance(model, MaskedLanguageModel)
        if not self.masked and not isinstance(model, LanguageModel):
            raise TypeError(f"expected a language model (textsearch.load_lm / load_mlm, or an object with the "
                            f"textsearch.lm.LanguageModel interface), got {type(model).__name__}")
        if top_k is not None and (not isinstance(top_k, int) or top_k < 1):
            raise ValueError(f"top_k must be a positive integer (or None for the whole vocabulary), got {top_k!r}")
        if not (isinstance(top_p, (int, float)) and 0 < top_p <= 1):
            raise ValueError(f"top_p must be a probability mass in (0, 1], got {top_p!r}")
        self.model = model
        self.allowed = ordinary_tokens(model)
        self.allowed_ids = self.allowed.nonzero()[:, 0]
        self.top_k = len(self.allowed_ids) if top_k is None else min(top_k, len(self.allowed_ids))
        self.top_p = float(top_p)

    @property
    def num_allowed(self) -> int:
        return len(self.allowed_ids)

    def log_probs(self, slots: list[Slot], temperature: float = 1.0) -> torch.Tensor:
        """log q(token | slot) over the ordinary tokens [n, V] (float32, CPU), logits scaled by 1/temperature."""
        if self.masked:
            items = [list(s.state.tokens[: s.index]) + [self.model.mask_id] + list(s.state.tokens[s.index:])
                     if s.insert else list(s.state.tokens) for s in slots]
            logits = self.model.masked_logits(items, [s.index for s in slots])
        else:
            logits = self.model.next_token_log_probs([list(s.state.tokens[: s.index]) for s in slots])
        logits = logits.float().cpu() / temperature
        return logits.masked_fill(~self.allowed, -torch.inf).log_softmax(-1)

    def top(self, slots: list[Slot]) -> torch.Tensor:
        """The top-K ordinary tokens at each slot [n, K], most likely first; with top_p < 1 a row ends
        (−1 after it) once the tokens before hold top_p of the probability. The set is a function of
        what the slot sees (the prefix, for a causal LM), so a move and its reverse share it."""
        log_probs, tokens = self.log_probs(slots).topk(self.top_k, dim=-1)
        if self.top_p < 1:
            probs = log_probs.exp()
            tokens = tokens.masked_fill(probs.cumsum(-1) - probs >= self.top_p, -1)
        return tokens


def cut_to_top_k(log_probs: torch.Tensor, top_k: int | None) -> torch.Tensor:
    """Keep the top_k entries of each row of log-probabilities and renormalise them."""
    if top_k is None or top_k >= log_probs.shape[-1]:
        return log_probs
    keep = log_probs.topk(top_k, dim=-1).indices
    return torch.full_like(log_probs, -math.inf).scatter(-1, keep, log_probs.gather(-1, keep)).log_softmax(-1)
