"""Seeds for tasks: one per job from the user's seed, then one per phase of the job.

A job's seed depends on the user's seed and the job itself, so a result does not depend on
where in a batch, or on which process, it ran. Each phase (drafting, searching) draws from
its own stream split from the job's seed: phases that shared one would draw identical
random numbers.
"""
from __future__ import annotations

import hashlib
from typing import Sequence


def _hashed(*parts: object) -> int:
    key = "\x1f".join(map(str, parts)).encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "little") & (2**63 - 1)


def seed_for(seed: int, keywords: Sequence[str], index: int = 0) -> int:
    """The seed of job `index` on `keywords` under the user's `seed`."""
    return _hashed(seed, index, *keywords)


def phase_seed(seed: int, phase: str) -> int:
    """The seed of one phase (e.g. "draft", "search") of the job seeded by `seed`."""
    return _hashed(seed, "phase", phase)
