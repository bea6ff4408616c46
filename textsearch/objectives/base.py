"""Energies over token sequences: lower is better, `math.inf` forbids a state.

An objective scores a `Batch`; the batch decodes its texts once, lazily, so that a
sum of terms that read text (keywords, similarity) pays for one decode. Terms compose
with `+` and scalar `*`.
"""
from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from functools import cached_property
from typing import Callable, Iterable, Sequence

import torch

from ..sessions import all_of
from ..state import State


class Batch:
    """Sequences to score: token ids with the tokenizer that gives them text, or texts.

    A batch made from texts (`Batch.of(["The dog ran."])`) has its token ids only when a
    tokenizer is known; terms that read text (keywords, similarity, form) never need one.
    """

    def __init__(self, tokens: Sequence[Sequence[int]] | None, tokenizer=None, texts: Sequence[str] | None = None):
        if tokens is None and texts is None:
            raise ValueError("a batch needs token ids or texts")
        if tokens is not None:
            self.__dict__["tokens"] = [list(t.tokens if isinstance(t, State) else t) for t in tokens]
        if texts is not None:
            self.__dict__["texts"] = list(texts)
        self.tokenizer = tokenizer

    def __len__(self) -> int:
        return len(self.__dict__["tokens"] if self.has_tokens else self.__dict__["texts"])

    @property
    def has_tokens(self) -> bool:
        """Whether the token ids are in hand (a batch of texts has them once a tokenizer encoded them)."""
        return "tokens" in self.__dict__

    @cached_property
    def tokens(self) -> list[list[int]]:
        if self.tokenizer is None:
            raise ValueError("this energy reads token ids but was given texts without a tokenizer: "
                             "pass tokenizer= to the objective or combine it with an LM objective")
        return [list(self.tokenizer.encode(t, add_special_tokens=False)) for t in self.texts]

    @cached_property
    def texts(self) -> list[str]:
        if self.tokenizer is None:
            raise ValueError("this energy reads text but the batch has no tokenizer: "
                             "pass tokenizer= to the objective or combine it with an LM objective")
        return [self.tokenizer.decode(t, skip_special_tokens=True) for t in self.tokens]

    @classmethod
    def of(cls, items, tokenizer=None) -> "Batch":
        """A batch from texts, token-id lists or States (all of one kind), or a Batch."""
        if isinstance(items, Batch):
            return items
        items = list(items)
        if items and isinstance(items[0], str):
            return cls(None, tokenizer, texts=items)
        return cls(items, tokenizer)


class Objective:
    """Base class: subclasses implement `energy(batch) -> float64 tensor [n]`."""

    tokenizer = None

    def energy(self, batch: Batch) -> torch.Tensor:
        raise NotImplementedError

    def session(self) -> AbstractContextManager:
        """A block that spans a sampler run: a term backed by a model may keep what it computed."""
        return nullcontext()

    def __call__(self, items) -> torch.Tensor:
        """Energies of texts, token-id lists or a Batch; NaN and −inf are errors."""
        energies = self.energy(Batch.of(items, self.tokenizer)).to(torch.float64)
        if torch.isnan(energies).any():
            raise ValueError(f"{self!r} returned NaN energies; return math.inf to forbid a state")
        if torch.isneginf(energies).any():
            raise ValueError(f"{self!r} returned -inf energies, which would make a state infinitely likely; "
                             "return a finite number, or math.inf to forbid a state")
        return energies

    def __add__(self, other: "Objective") -> "Objective":
        if not isinstance(other, Objective):
            return NotImplemented
        return Sum([self, other])

    def __mul__(self, scale: float) -> "Objective":
        if not isinstance(scale, (int, float)):
            return NotImplemented
        return Scaled(self, float(scale))

    __rmul__ = __mul__


class Sum(Objective):
    """E = Σ terms; the first term with a tokenizer lends it to the batch."""

    def __init__(self, terms: Iterable[Objective]):
        flat = []
        for term in terms:
            flat.extend(term.terms if isinstance(term, Sum) else [term])
        self.terms = flat
        self.tokenizer = next((t.tokenizer for t in flat if t.tokenizer is not None), None)

    def energy(self, batch: Batch) -> torch.Tensor:
        if batch.tokenizer is None:
            batch.tokenizer = self.tokenizer
        total = torch.zeros(len(batch), dtype=torch.float64)
        for term in self.terms:
            total = total + term.energy(batch).to(torch.float64).cpu()
        return total

    def session(self) -> AbstractContextManager:
        return all_of(self.terms)

    def __repr__(self) -> str:
        return " + ".join(map(repr, self.terms))


class Scaled(Objective):
    """E = scale · term (a scale of 0 keeps inf as inf, not NaN)."""

    def __init__(self, term: Objective, scale: float):
        if scale < 0:
            raise ValueError(f"scale must be >= 0 (a negative scale would reward forbidden states), got {scale}")
        self.term, self.scale = term, scale
        self.tokenizer = term.tokenizer

    def energy(self, batch: Batch) -> torch.Tensor:
        e = self.term.energy(batch).to(torch.float64)
        return torch.where(torch.isinf(e), e, e * self.scale)

    def session(self):
        return self.term.session()

    def __repr__(self) -> str:
        return f"{self.scale:g} * {self.term!r}"


class FromFunction(Objective):
    """Wrap `fn(list[list[int]]) -> list[float]` as an objective."""

    def __init__(self, fn: Callable[[list[list[int]]], Sequence[float]], tokenizer=None):
        self.fn, self.tokenizer = fn, tokenizer

    def energy(self, batch: Batch) -> torch.Tensor:
        values = self.fn(batch.tokens)
        try:
            if isinstance(values, (str, bytes)):
                raise TypeError
            energies = torch.as_tensor(values if torch.is_tensor(values) else list(values), dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError):
            raise TypeError(f"the energy function must return one number per sequence (a list of floats or a "
                            f"tensor), got {type(values).__name__}: {str(values)[:60]!r}") from None
        if energies.shape != (len(batch),):
            raise ValueError(f"the energy function returned shape {tuple(energies.shape)} for {len(batch)} sequences")
        return energies

    def __repr__(self) -> str:
        return f"FromFunction({getattr(self.fn, '__name__', 'fn')})"

