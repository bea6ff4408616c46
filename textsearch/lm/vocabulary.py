"""Token masks over a model's vocabulary: what a proposal may write, and what ends a sentence."""
from __future__ import annotations

import re
from collections.abc import Iterable

import torch


MARKUP = re.compile(r"<[^<>\s]+>|\[[^\[\]\s]+\]")
"""An added token that is a placeholder, not text: <start_of_image>, [multimodal], <b>."""


def ordinary_tokens(model) -> torch.Tensor:
    """Boolean mask [V] of the tokens a proposal may write: real vocabulary, no special tokens. Besides
    the tokenizer's named special tokens, no added token that it marks special (a chat model's turn
    markers, Gemma's <unused…>) or that is a placeholder (`MARKUP`: Gemma's <start_of_image> is an
    added token not marked special): a sample that writes one is no sentence. Added runs of newlines
    or tabs stay, since stops are made of them."""
    tokenizer = model.tokenizer
    allowed = torch.zeros(model.vocab_size, dtype=torch.bool)
    allowed[: min(model.vocab_size, len(tokenizer))] = True
    special = set(tokenizer.all_special_ids)
    special |= {i for i, token in getattr(tokenizer, "added_tokens_decoder", {}).items()
                if token.special or MARKUP.fullmatch(token.content)}
    special |= {getattr(model, name, None) for name in ("bos_id", "eos_id", "start_id", "pad_id", "mask_id")}
    special.discard(None)
    allowed[[t for t in special if 0 <= t < model.vocab_size]] = False
    if not allowed.any():
        raise ValueError("the model's vocabulary has no ordinary (non-special) tokens to propose")
    return allowed


def stop_mask(lm, stops: Iterable[int | str]) -> torch.Tensor:
    """Boolean mask [V] of the stop tokens: the ids given, and every token whose text contains a text given."""
    stops = list(stops)
    if not stops:
        raise ValueError("give at least one stop token or text")
    texts = [s for s in stops if isinstance(s, str)]
    mask = lm.tokens_containing(texts) if texts else torch.zeros(lm.vocab_size, dtype=torch.bool)
    for token in stops:
        if not isinstance(token, str):
            if not 0 <= int(token) < lm.vocab_size:
                raise ValueError(f"stop token {token!r} is not in the vocabulary [0, {lm.vocab_size})")
            mask[int(token)] = True
    if not mask.any():
        raise ValueError(f"no token of the vocabulary matches the stops {stops!r}")
    return mask
