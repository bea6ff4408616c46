"""LengthPrior: keep sentences within bounds and near a target length."""
from __future__ import annotations

import math

import torch

from .arguments import check_unit, check_weight
from .base import Batch, Objective
from .text import units_of


class LengthPrior(Objective):
    """E(x) = weight · |n(x) − target| inside [min_len, max_len], `inf` outside.

    n(x) counts words of the decoded text (`unit="words"`; each CJK character is a
    word) or tokens (`unit="tokens"`: ids of `tokenizer` when given, through text if
    the batch's differ, else the batch's own ids). As a density this is a Laplace
    prior on the length, cut to the bounds. Without `target` the term only enforces
    the bounds.

    Parameters
    ----------
    min_len, max_len
        Lengths outside these bounds (inclusive) get energy inf; None: no bound on that side.
    target
        The preferred length; None: the term only enforces the bounds.
    weight
        Energy per unit of distance from `target`.
    unit
        "words" (of the decoded text, each CJK character one) or "tokens".
    tokenizer
        With unit="tokens", count ids of this tokenizer; it also gives token ids their text when
        this term is used alone (None: the batch's own ids and tokenizer).
    """

    def __init__(self, min_len: int | None = None, max_len: int | None = None, target: int | None = None,
                 weight: float = 1.0, unit: str = "words", tokenizer=None):
        if min_len is None and max_len is None and target is None:
            raise ValueError("give min_len, max_len or target: a length prior without any of them is constant")
        for name, value in (("min_len", min_len), ("max_len", max_len), ("target", target)):
            if value is not None and not (isinstance(value, int) and value >= 0):
                raise ValueError(f"{name} must be a non-negative integer or None, got {value!r}")
        low, high = (0 if min_len is None else min_len), (math.inf if max_len is None else max_len)
        if low > high:
            raise ValueError(f"min_len ({min_len}) is larger than max_len ({max_len})")
        if target is not None and not low <= target <= high:
            raise ValueError(f"target ({target}) lies outside [min_len, max_len] = [{low}, {high}]")
        self.min_len, self.max_len, self.target, self.weight = min_len, max_len, target, check_weight(weight)
        self.low, self.high = low, high
        self.unit, self.tokenizer = check_unit(unit), tokenizer

    def energy(self, batch: Batch) -> torch.Tensor:
        lengths = torch.tensor([len(u) for u in units_of(batch, self.unit, self.tokenizer)], dtype=torch.float64)
        energies = self.weight * (lengths - self.target).abs() if self.target is not None else torch.zeros_like(lengths)
        return torch.where((lengths < self.low) | (lengths > self.high), math.inf, energies)

    def __repr__(self) -> str:
        return (f"LengthPrior(min_len={self.min_len}, max_len={self.max_len}, target={self.target}, "
                f"weight={self.weight:g}, unit={self.unit!r})")
