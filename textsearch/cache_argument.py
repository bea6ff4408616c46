"""The name a Hugging Face model gives its key/value cache, in its forward and in its output.

transformers 5.24 renamed `past_key_values` to `cache`: the old name still works there but
warns on every run (and goes in 5.40), while earlier 5.x releases know only the old name
and would silently ignore the new one. So the name is read off the model's own forward.
"""
from __future__ import annotations

import inspect
from functools import lru_cache

NEW, OLD = "cache", "past_key_values"


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
