"""The key/value cache of the last prompt a model ran, reused by the next prompt that begins alike.

Prompts built from one template share their opening: the keyword task's few-shot
prompt is about 115 tokens of examples and ends with ten or so tokens that name the
keywords. Keeping the cache of the last prompt and running only where the next one
departs from it turns a forward over the whole prompt into one over its tail.
"""
from __future__ import annotations

import copy
import weakref
from dataclasses import dataclass

import torch

from .prefix_cache import common_length


@dataclass
class PromptState:
    tokens: tuple[int, ...]
    cache: object              # the model's key/value cache after `tokens` (one row), never handed out
    last: torch.Tensor         # [1, V] logits after the last token


_kept: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@torch.inference_mode()
def run_prompt(model, tokens: list[int], device: torch.device) -> tuple[object, torch.Tensor]:
    """(a key/value cache of `tokens` the caller may extend, the logits after them [1, V]).

    Runs only the tokens after the longest prefix shared with the last prompt this model ran."""
    kept = _kept.get(model)
    if kept is not None and kept.tokens == tuple(tokens):
        return copy.deepcopy(kept.cache), kept.last
    shared = min(common_length(kept.tokens, tokens), len(tokens) - 1) if kept is not None else 0
    if shared and getattr(kept.cache, "is_croppable", False):
        cache = copy.deepcopy(kept.cache)
        cache.crop(shared - len(kept.tokens))          # a negative count: drop that many tokens from the end
    else:
        cache, shared = None, 0
    positions = torch.arange(shared, len(tokens), device=device)[None]
    out = model(input_ids=torch.tensor([tokens[shared:]], device=device), past_key_values=cache,
                position_ids=positions, use_cache=True)
    last = out.logits[:, -1]
    _kept[model] = PromptState(tuple(tokens), copy.deepcopy(out.past_key_values), last)
    return out.past_key_values, last
