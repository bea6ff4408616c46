"""A key/value cache that grows in place, for decoding that appends to it step after step.

Hugging Face's dynamic cache appends a step's keys by concatenation: every step copies
the whole cache, once per layer, keys and values. A pack's drafts hold their prompts
and every node drawn so far in one row, a few thousand columns by the last steps,
whose forwards run one or two tokens: copying it then costs more than the forward.
Here a layer keeps buffers with room to spare (doubled when full) and writes each
step's keys after the last; the keys it hands the attention are a view of the filled
part. The numbers are the same.
"""
from __future__ import annotations

import torch
from transformers.cache_utils import DynamicLayer

ROOM = 2          # a full buffer is replaced by one this many times the columns it must hold


class GrowingLayer(DynamicLayer):
    """A DynamicLayer whose `update` writes into buffers [B, H, capacity, D] instead of concatenating."""

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
        return (self.buffers is not None and self.keys.data_ptr() == self.buffers[0].data_ptr()
                and self.values.data_ptr() == self.buffers[1].data_ptr())


def growing(cache):
    """`cache` (a DynamicCache) with its plain dynamic layers growing in place; others left as they are."""
    for layer in cache.layers:
        if type(layer) is DynamicLayer:
            layer.__class__ = GrowingLayer
    return cache
