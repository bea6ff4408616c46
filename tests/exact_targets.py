"""Enumerable targets and the exactness check that the sampler tests share.

A target is a fixed random energy table over every sequence of a few lengths (the
vocabulary and lengths are small enough to enumerate), so the exact distribution
softmax(−E/T) is known and a sampler's empirical distribution can be compared with it.

The check, for n kept draws and K states with exact probabilities p_i:

- TV distance ½ Σ |n_i/n − p_i|. For n independent draws E[TV] ≤ ½ Σ √(p_i(1−p_i)/n)
  (Jensen on each |n_i/n − p_i|), and TV changes by at most 1/n when one draw
  changes, so by McDiarmid P(TV > E[TV] + t) ≤ exp(−2nt²); with t = √(ln(1/δ)/(2n)),
  δ = 1e-3, the tolerance is ½ Σ √(p_i(1−p_i)/n) + √(ln(1/δ)/(2n)).
- Markov draws are correlated: the chains are thinned, and n in the tolerance is
  n_eff = min(n, ESS), the multi-chain effective sample size of the kept draws'
  energies (ts.diagnostics; its own tests check it on iid and sticky chains).
- A chi-square test of the counts (cells with expected count < 5 pooled), p > 1e-3.
  Correlated draws inflate the statistic by about n/n_eff (the design effect), so the
  counts are scaled to n_eff draws first. A draw of a state with probability 0
  (forbidden, or unreachable) fails outright.
"""
from __future__ import annotations

import itertools
import math
from collections import Counter
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
import torch
from scipy.stats import chisquare

import textsearch as ts

DELTA = 1e-3          # TV bound fails for independent draws with probability <= DELTA
ALPHA = 1e-3          # chi-square significance level


@pytest.fixture(autouse=True, scope="module")
def single_thread():
    """Every tensor here is tiny: extra intra-op threads only add overhead (and stall on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def random_table(vocab_size: int, lengths: range, seed: int, scale: float = 1.0,
                 forbidden: tuple = ()) -> dict[tuple[int, ...], float]:
    """Energy N(0, scale²) for every sequence with a length in `lengths`; `forbidden` ones get inf."""
    rng = np.random.default_rng(seed)
    table = {seq: float(scale * rng.normal()) for n in lengths for seq in itertools.product(range(vocab_size), repeat=n)}
    table.update({seq: math.inf for seq in forbidden})
    return table


def table_objective(table: dict) -> ts.objectives.FromFunction:
    """E(x) = table[x]; a sequence outside the table is a sampler bug and raises KeyError."""
    def energy(sequences):
        energy.sequences += len(sequences)
        return [table[tuple(s)] for s in sequences]
    energy.sequences = 0
    return ts.objectives.FromFunction(energy)


def exact_distribution(table: dict, temperature: float = 1.0,
                       multiplicity: Callable[[tuple], int] = lambda seq: 1) -> dict[tuple, float]:
    """p(x) ∝ multiplicity(x) · exp(−E(x)/T); multiplicity counts the States (lock placements) behind x."""
    weights = {seq: multiplicity(seq) * math.exp(-e / temperature) for seq, e in table.items()
               if multiplicity(seq) > 0 and math.isfinite(e)}
    total = sum(weights.values())
    return {seq: w / total for seq, w in weights.items()}


def chain_energies(samples: list) -> torch.Tensor:
    """Energies of Markov samples as [kept steps, chains] (the ESS input)."""
    by_chain: dict[int, list] = {}
    for sample in samples:
        by_chain.setdefault(sample.chain, []).append((sample.step, sample.energy))
    columns = [[e for _, e in sorted(values)] for values in by_chain.values()]
    length = min(len(c) for c in columns)
    return torch.tensor([c[:length] for c in columns], dtype=torch.float64).T


@dataclass
class Check:
    label: str
    tv: float
    tolerance: float
    p_value: float
    n: int
    n_eff: float

    @property
    def passed(self) -> bool:
        return self.tv <= self.tolerance and self.p_value > ALPHA

    def __str__(self) -> str:
        return (f"{self.label}: TV={self.tv:.4f} (tolerance {self.tolerance:.4f}), chi2 p={self.p_value:.3g}, "
                f"n={self.n}, n_eff={self.n_eff:.0f}")


def compare(tokens: list[tuple], exact: dict[tuple, float], n_eff: float, label: str) -> Check:
    """TV distance and chi-square of the draws `tokens` against `exact`."""
    n = len(tokens)
    n_eff = min(float(n), n_eff)
    counts = Counter(tokens)
    impossible = sum(c for seq, c in counts.items() if exact.get(seq, 0.0) == 0.0)
    tv = 0.5 * (sum(abs(counts.get(seq, 0) / n - p) for seq, p in exact.items()) + impossible / n)
    tolerance = 0.5 * sum(math.sqrt(p * (1 - p) / n_eff) for p in exact.values()) \
        + math.sqrt(math.log(1 / DELTA) / (2 * n_eff))
    p_value = 0.0 if impossible else _chi_square(counts, exact, n, n_eff)
    check = Check(label, tv, tolerance, p_value, n, n_eff)
    print(check)
    return check


def check_markov(result, exact: dict[tuple, float], label: str) -> Check:
    """`compare` for the kept (thinned) samples of a Markov sampler, n_eff from their energies' ESS."""
    ess = ts.diagnostics.effective_sample_size(chain_energies(result.samples))
    return compare([tuple(s.tokens) for s in result.samples], exact, ess, label)


def _chi_square(counts: Counter, exact: dict[tuple, float], n: int, n_eff: float) -> float:
    cells = sorted(exact, key=exact.get)
    observed, expected, pooled_o, pooled_e = [], [], 0.0, 0.0
    for seq in cells:
        o, e = counts.get(seq, 0) * n_eff / n, exact[seq] * n_eff
        if e < 5:
            pooled_o, pooled_e = pooled_o + o, pooled_e + e
        else:
            observed.append(o)
            expected.append(e)
    if pooled_e > 0:
        observed.append(pooled_o)
        expected.append(pooled_e)
    return float(chisquare(observed, expected).pvalue)
