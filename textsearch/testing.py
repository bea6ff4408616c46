"""Exactness checks you can run on your own proposals, objectives and samplers.

On a state space small enough to enumerate, the target p(x) ∝ exp(−E(x)/T) is known
exactly, so a sampler's draws can be compared with it:

    import textsearch as ts
    space = ts.testing.all_sequences(vocab_size=3, lengths=range(1, 4))
    check = ts.testing.check_invariance(MyProposal(), my_objective, space)
    assert check.passed, check

`check_invariance` starts `chains` independent chains from exact draws of the target and
runs a few MH steps with the proposal: a move that leaves the target invariant keeps the
chains' states distributed exactly as the target at every step, so the final states are
independent exact draws, and any bias in the move's reported probabilities shows.

The check, for n draws and K states with exact probabilities p_i:

- TV distance ½ Σ |n_i/n − p_i|. For n independent draws E[TV] ≤ ½ Σ √(p_i(1−p_i)/n)
  (Jensen on each |n_i/n − p_i|), and TV changes by at most 1/n when one draw changes,
  so by McDiarmid P(TV > E[TV] + t) ≤ exp(−2nt²); with t = √(ln(1/δ)/(2n)), δ = 1e-3,
  the tolerance is ½ Σ √(p_i(1−p_i)/n) + √(ln(1/δ)/(2n)).
- A chi-square test of the counts (cells with expected count < 5 pooled), p > 1e-3.
- Correlated draws (the states of one long chain) count as n_eff = min(n, ESS) draws,
  the multi-chain effective sample size of their energies (`check_markov`), and their
  counts are scaled to n_eff draws before the chi-square test (the design effect).
- Weighted draws (importance sampling) count as Kish's n_eff = 1 / Σ w² (`check_weighted`).
- A draw of a state with probability 0 (forbidden, or outside the space) fails outright.

So a correct sampler fails a check with probability about 2·10⁻³; a fixed seed makes it
fail never or always.
"""
from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from scipy.stats import chisquare

from .diagnostics import effective_sample_size
from .objectives.base import FromFunction, Objective
from .state import State, as_state

DELTA = 1e-3          # the TV bound fails for independent draws with probability <= DELTA
ALPHA = 1e-3          # chi-square significance level


@dataclass
class Check:
    """The outcome of comparing draws with an exact distribution."""
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


def all_sequences(vocab_size: int, lengths: Iterable[int]) -> list[tuple[int, ...]]:
    """Every token sequence over `vocab_size` tokens with a length in `lengths`."""
    return [seq for n in lengths for seq in itertools.product(range(vocab_size), repeat=n)]


def random_table(vocab_size: int, lengths: Iterable[int], seed: int, scale: float = 1.0,
                 forbidden: Sequence[tuple[int, ...]] = ()) -> dict[tuple[int, ...], float]:
    """Energy N(0, scale²) for every sequence with a length in `lengths`; `forbidden` ones get inf."""
    rng = np.random.default_rng(seed)
    table = {seq: float(scale * rng.normal()) for seq in all_sequences(vocab_size, lengths)}
    table.update({tuple(seq): math.inf for seq in forbidden})
    return table


class TableEnergy:
    """E(x) = table[x] as a function of token lists that counts the sequences it scored (`sequences`);
    a sequence outside the table is a sampler bug and raises KeyError."""

    def __init__(self, table: dict[tuple[int, ...], float]):
        self.table, self.sequences = table, 0

    def __call__(self, sequences: list[list[int]]) -> list[float]:
        self.sequences += len(sequences)
        return [self.table[tuple(s)] for s in sequences]


def table_objective(table: dict[tuple[int, ...], float]) -> FromFunction:
    """The objective E(x) = table[x] (`TableEnergy`, as its `fn`)."""
    return FromFunction(TableEnergy(table))


def exact_distribution(table: dict[tuple, float], temperature: float = 1.0,
                       multiplicity: Callable[[tuple], int] = lambda seq: 1) -> dict[tuple, float]:
    """p(x) ∝ multiplicity(x) · exp(−E(x)/T) over a table of energies; `multiplicity` counts the States
    (placements of locked tokens) behind a token sequence."""
    weights = {seq: multiplicity(seq) * math.exp(-e / temperature) for seq, e in table.items()
               if multiplicity(seq) > 0 and math.isfinite(e)}
    total = sum(weights.values())
    if total == 0:
        raise ValueError("every state is forbidden: the target has no mass")
    return {seq: w / total for seq, w in weights.items()}


def compare(draws: Sequence, exact: dict, n_eff: float, label: str) -> Check:
    """TV distance and chi-square of `draws` (hashable states) against `exact`, as n_eff independent draws."""
    n = len(draws)
    if n == 0:
        raise ValueError("no draws to compare")
    n_eff = min(float(n), n_eff)
    counts = Counter(draws)
    impossible = sum(c for seq, c in counts.items() if exact.get(seq, 0.0) == 0.0)
    tv = 0.5 * (sum(abs(counts.get(seq, 0) / n - p) for seq, p in exact.items()) + impossible / n)
    tolerance = 0.5 * sum(math.sqrt(p * (1 - p) / n_eff) for p in exact.values()) \
        + math.sqrt(math.log(1 / DELTA) / (2 * n_eff))
    p_value = 0.0 if impossible else _chi_square(counts, exact, n, n_eff)
    return Check(label, tv, tolerance, p_value, n, n_eff)


def chain_energies(samples: list) -> torch.Tensor:
    """Energies of Markov samples as [kept steps, chains] (the ESS input)."""
    by_chain: dict[int, list] = {}
    for sample in samples:
        by_chain.setdefault(sample.chain, []).append((sample.step, sample.energy))
    columns = [[e for _, e in sorted(values)] for values in by_chain.values()]
    length = min(len(c) for c in columns)
    return torch.tensor([c[:length] for c in columns], dtype=torch.float64).T


def check_markov(result, exact: dict[tuple, float], label: str = "Markov chains") -> Check:
    """`compare` for the kept (thinned) samples of a Markov sampler, n_eff from their energies' ESS."""
    ess = effective_sample_size(chain_energies(result.samples))
    return compare([tuple(s.tokens) for s in result.samples], exact, ess, label)


def check_weighted(draws: Sequence, weights: torch.Tensor, exact: dict, label: str = "weighted draws") -> Check:
    """`compare` for weighted draws: each state's share is its summed normalised weight, and the draws
    count as Kish's 1 / Σ w² independent ones. The TV bound assumes the draws independent, and a
    self-normalised estimate is biased by O(1/n): use a few thousand draws."""
    weights = torch.as_tensor(weights, dtype=torch.float64)
    weights = weights / weights.sum()
    n_eff = float(1.0 / (weights ** 2).sum())
    mass: dict = {}
    for seq, w in zip(draws, weights.tolist()):
        mass[seq] = mass.get(seq, 0.0) + w
    n = max(1, round(n_eff))
    impossible = sum(w for seq, w in mass.items() if exact.get(seq, 0.0) == 0.0 and w > 0)
    tv = 0.5 * (sum(abs(mass.get(seq, 0.0) - p) for seq, p in exact.items()) + impossible)
    tolerance = 0.5 * sum(math.sqrt(p * (1 - p) / n_eff) for p in exact.values()) \
        + math.sqrt(math.log(1 / DELTA) / (2 * n_eff))
    counts = Counter({seq: w * n for seq, w in mass.items()})
    p_value = 0.0 if impossible else _chi_square(counts, exact, n, n)
    return Check(label, tv, tolerance, p_value, len(draws), n_eff)


def check_invariance(proposal, objective: Objective, states: Iterable, temperature: float = 1.0,
                     chains: int = 4000, steps: int = 3, seed: int = 0) -> Check:
    """Whether MH with `proposal` leaves p(x) ∝ exp(−E(x)/T) invariant on the enumerated `states`
    (token tuples or `State`s: every state the chains can reach, locked masks included).

    `chains` independent chains start from exact draws of the target and take `steps` MH steps; their
    final states are compared with the target as independent draws. Give `objective` the tokenizer
    (or use token-level energies) and keep `states` to a few hundred."""
    from .samplers import MetropolisHastings
    space = [as_state(s) for s in states]
    if not space:
        raise ValueError("states is empty: enumerate the state space the proposal moves in")
    energies = objective(space)
    exact_probs = torch.softmax(-energies / temperature, dim=0)
    exact = {s: p for s, p in zip(space, exact_probs.tolist()) if p > 0}
    generator = torch.Generator().manual_seed(seed)
    starts = [space[i] for i in torch.multinomial(exact_probs, chains, replacement=True, generator=generator).tolist()]
    final: list[State] = []

    def keep_last(step, chain_states, energies, info):
        if step == steps - 1:
            final[:] = chain_states

    sampler = MetropolisHastings(proposal, steps=steps, chains=chains, temperature=temperature, seed=seed + 1)
    sampler.run(objective, init=starts, callback=keep_last, progress=False)
    return compare(final, exact, chains, f"{type(proposal).__name__} invariance")


def _chi_square(counts: Counter, exact: dict, n: int, n_eff: float) -> float:
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
    if len(observed) < 2:
        return 1.0
    return float(chisquare(observed, expected).pvalue)
