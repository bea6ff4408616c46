"""A tiny word language whose distribution the blog scripts can compute exactly.

Sentences are `LENGTH` words from `WORDS`; the energy is a seeded bigram table, so
p(x) ∝ exp(−E(x)) has a normaliser we can get by enumerating all V^L sentences.
Parts 1 and 2 estimate or sample this distribution and compare with the truth.
"""
from __future__ import annotations

import itertools

import torch

import textsearch as ts

WORDS = ["the", "cat", "dog", "sees", "runs"]
LENGTH = 3


class WordTokenizer:
    """Token ids ↔ words, enough for `Batch.texts` and `Sample.text`."""

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return [WORDS.index(word) for word in text.split()]

    def decode(self, ids, skip_special_tokens: bool = True) -> str:
        return " ".join(WORDS[i] for i in ids)


def toy_objective(seed: int = 0, scale: float = 1.0) -> ts.objectives.Objective:
    """E(x) = scale · Σ bigram(x_t, x_t+1) + scale · start(x_0), tables drawn from `seed`."""
    generator = torch.Generator().manual_seed(seed)
    start = scale * torch.randn(len(WORDS), generator=generator, dtype=torch.float64)
    bigram = scale * torch.randn(len(WORDS), len(WORDS), generator=generator, dtype=torch.float64)

    def energy(sequences: list[list[int]]) -> list[float]:
        return [float(start[s[0]] + sum(bigram[a, b] for a, b in zip(s, s[1:]))) for s in sequences]

    return ts.objectives.FromFunction(energy, tokenizer=WordTokenizer())


def all_sentences() -> list[tuple[int, ...]]:
    return list(itertools.product(range(len(WORDS)), repeat=LENGTH))


def exact_distribution(objective) -> tuple[list[tuple[int, ...]], torch.Tensor]:
    """Every sentence and its exact probability softmax(−E)."""
    sentences = all_sentences()
    energies = objective([list(s) for s in sentences])
    return sentences, torch.softmax(-energies, 0)


def total_variation(counts: torch.Tensor, probs: torch.Tensor) -> float:
    """½ Σ |counts/N − p|."""
    return 0.5 * (counts / counts.sum() - probs).abs().sum().item()


def sampling_floor(probs: torch.Tensor, n: int, repeats: int, generator: torch.Generator) -> float:
    """Mean TV of n exact draws: the value a perfect sampler of that size shows."""
    values = []
    for _ in range(repeats):
        draws = torch.multinomial(probs, n, replacement=True, generator=generator)
        values.append(total_variation(torch.bincount(draws, minlength=len(probs)).double(), probs))
    return sum(values) / repeats
