"""Argument checks the energy terms share, so that their errors read alike."""
from __future__ import annotations

import math

UNITS = ("words", "tokens")


def check_weight(weight: float, name: str = "weight") -> float:
    """A finite weight >= 0 (a negative one would reward what the term penalises)."""
    if isinstance(weight, bool) or not (isinstance(weight, (int, float)) and math.isfinite(weight) and weight >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {weight!r}")
    return float(weight)


def check_unit(unit: str) -> str:
    if unit not in UNITS:
        raise ValueError(f"unit must be one of {UNITS}, got {unit!r}")
    return unit
