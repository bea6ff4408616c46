"""Key/value caches as the engine hands them to a Hugging Face model and reads them back.

- The name of the cache argument: transformers 5.24 renamed `past_key_values` to `cache`
  (the old name warns on every run there and goes in 5.40; earlier 5.x releases know only
  the old name and would silently ignore the new one), so it is read off the model's forward.
- One tensor per cache (`stacked`), so a prompt's states can be sliced and laid end to
  end, and a cache built back from such a tensor (`dynamic_cache`).
- A cache that grows in place (`growing`) for decoding that appends step after step,
  and one over buffers the caller keeps (`in_place`), which a forward writes into.
"""
from __future__ import annotations

import inspect
from functools import lru_cache

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

NEW, OLD = "cache", "past_key_values"
ROOM = 2          # a full growing buffer is replaced by one this many times the columns it must hold


@lru_cache(maxsize=None)
def _name(forward) -> str:
    return NEW if NEW in inspect.signature(forward).parameters else OLD


def with_cache(model, cache) -> dict:
    """The keyword argument that hands `cache` to `model`'s forward (a model or its decoder)."""
    return {_name(type(model).forward): cache}


def returned_cache(out):
    """The key/value cache a forward returned."""
    cache = out.get(NEW)
    return out.get(OLD) if cache is None else cache


def stacked(cache) -> torch.Tensor:
    """A model's key/value cache as one tensor [2·layers, n, heads, W, head_dim]: keys, then values."""
    return torch.stack([layer.keys for layer in cache.layers] + [layer.values for layer in cache.layers])


def dynamic_cache(kv: torch.Tensor | None = None) -> DynamicCache:
    """A cache the model continues from, holding `kv` as `stacked` lays it out (None: empty). Every
    layer keeps all its columns, a sliding-window layer too: the columns are a tree's, not one sequence's,
    so which keys a token sees is the attention mask's to say (sentences and prompts are far shorter than
    the windows)."""
    if kv is None:
        return DynamicCache()
    layers = kv.shape[0] // 2
    return DynamicCache(ddp_cache_data=[(kv[i], kv[layers + i]) for i in range(layers)])


class GrowingLayer(DynamicLayer):
    """A DynamicLayer whose `update` writes into buffers [B, H, capacity, D] instead of concatenating.

    Hugging Face's dynamic layer appends a step's keys by concatenation, which copies the whole
    cache every step; a draft's cache holds its prompts and every node drawn so far, a few
    thousand columns, while its steps run one or two tokens, so the copy would cost more than
    the forward. The keys handed to the attention are a view of the filled part: the same numbers.
    """

    buffers: tuple[torch.Tensor, torch.Tensor] | None = None

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        held, new = (self.keys.shape[-2] if self.keys.numel() else 0), key_states.shape[-2]
        if not self._filled_from_buffers() or self.buffers[0].shape[-2] < held + new:
            capacity = ROOM * (held + new)
            buffers = tuple(states.new_empty((*states.shape[:-2], capacity, states.shape[-1]))
                            for states in (key_states, value_states))
            if held:
                buffers[0][..., :held, :].copy_(self.keys)
                buffers[1][..., :held, :].copy_(self.values)
            self.buffers = buffers
        keys, values = self.buffers
        keys[..., held:held + new, :].copy_(key_states)
        values[..., held:held + new, :].copy_(value_states)
        self.keys, self.values = keys[..., :held + new, :], values[..., :held + new, :]
        return self.keys, self.values

    def _filled_from_buffers(self) -> bool:
        """Whether keys and values are still the views of the buffers (nothing replaced them)."""
        return self.buffers is not None and same_start(self.keys, self.buffers[0]) and same_start(self.values, self.buffers[1])


def same_start(view: torch.Tensor, buffer: torch.Tensor) -> bool:
    """Whether `view` begins where `buffer` does, in its memory (an empty view too, whose data_ptr is 0)."""
    return (view.untyped_storage().data_ptr() == buffer.untyped_storage().data_ptr()
            and view.storage_offset() == buffer.storage_offset())


def growing(cache: DynamicCache) -> DynamicCache:
    """`cache`, a cache the engine built itself, with its plain dynamic layers growing in place."""
    for layer in cache.layers:
        if type(layer) is DynamicLayer:
            layer.__class__ = GrowingLayer
    return cache


def in_place(kv: torch.Tensor, width: int) -> DynamicCache:
    """A cache over `kv` [2·layers, heads, capacity, head_dim], as `stacked` lays out one row, its first
    `width` columns filled: a forward writes its new columns into `kv` itself, after them (the caller
    leaves room for them), and attends to the filled ones."""
    layers = kv.shape[0] // 2
    cache = growing(dynamic_cache(kv[:, None, :, :0]))
    for i, layer in enumerate(cache.layers):
        layer.buffers = (kv[i][None], kv[layers + i][None])
        layer.keys, layer.values = (buffer[..., :width, :] for buffer in layer.buffers)
    return cache
