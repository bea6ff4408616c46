"""The key/value cache of a prompt's fixed opening, kept for the next prompt that opens alike.

Prompts built from one template share their opening: the keyword task's few-shot
prompt is about 115 tokens of examples and ends with ten or so tokens that name the
keywords. Keeping the cache of the opening turns a forward over the whole prompt
into one over its tail. The opening is always run alone and the tail always on its
cache, whichever prompt came before, so a prompt's logits never depend on the
prompts run earlier (a batch gives the same results in any order).
"""
from __future__ import annotations

import copy
import weakref
from dataclasses import dataclass

import torch


@dataclass
class Opening:
    tokens: tuple[int, ...]
    cache: object              # the model's key/value cache after `tokens` (one row), never handed out


_kept: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@torch.inference_mode()
def run_prompt(model, tokens: list[int], opening: int, device: torch.device) -> tuple[object, torch.Tensor]:
    """(a key/value cache of `tokens` the caller may extend, the logits after them [1, V]).

    The first `opening` tokens (0 < opening < len(tokens)) run once per model and opening;
    each call runs only the rest. With `opening` 0 the whole prompt runs and nothing is kept."""
    if not 0 <= opening < len(tokens):
        raise ValueError(f"the opening must leave a token of the prompt to run, got {opening} of {len(tokens)}")
    cache = None
    if opening:
        kept = _kept.get(model)
        if kept is None or kept.tokens != tuple(tokens[:opening]):
            out = model(input_ids=torch.tensor([tokens[:opening]], device=device), use_cache=True)
            kept = _kept[model] = Opening(tuple(tokens[:opening]), out.past_key_values)
        cache = copy.deepcopy(kept.cache)
    positions = torch.arange(opening, len(tokens), device=device)[None]
    out = model(input_ids=torch.tensor([tokens[opening:]], device=device), past_key_values=cache,
                position_ids=positions, use_cache=True)
    return out.past_key_values, out.logits[:, -1]
