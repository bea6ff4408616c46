"""Sessions: blocks that span a sampler run, within which a model may keep what it computed.

Proposals and objectives each have `session()`; a sampler opens both for its run, and
what combines several parts (a sum of energies, a mixture of moves) opens every part's.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager


@contextmanager
def all_of(parts: Iterable, *args) -> Iterator[None]:
    """Every part's `session(*args)`, entered in order and left in reverse."""
    with ExitStack() as stack:
        for part in parts:
            stack.enter_context(part.session(*args))
        yield
