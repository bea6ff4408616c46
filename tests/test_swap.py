"""Swap is symmetric, respects locked tokens, and MH with it samples the exact target."""
import itertools
import math

import pytest
import torch
from scipy.stats import chisquare

import textsearch as ts
from textsearch.state import State
from textsearch.target import Target


def make_target(seed: int = 0) -> Target:
    objective = ts.objectives.FromFunction(lambda seqs: [0.0] * len(seqs))
    return Target(objective, torch.ones(1, dtype=torch.float64), generator=torch.Generator().manual_seed(seed))


def test_swap_draws_every_pair_of_editable_positions_uniformly_and_reports_it():
    start = State((0, 1, 2, 3), (False, True, False, False))      # pairs (0,2) (0,3) (2,3)
    draws = 3000
    move = ts.proposals.Swap().propose([start] * draws, torch.zeros(draws), make_target())
    counts = {}
    for y in move.states:
        assert y.tokens[1] == 1 and y.locked == start.locked
        counts[y.tokens] = counts.get(y.tokens, 0) + 1
    assert set(counts) == {(2, 1, 0, 3), (3, 1, 2, 0), (0, 1, 3, 2)}
    assert chisquare(list(counts.values())).pvalue > 1e-3
    assert torch.allclose(move.log_q_forward, torch.full((draws,), math.log(1 / 3), dtype=torch.float64))


def test_swap_reverse_probability_is_the_probability_of_proposing_the_reverse_move():
    x = State((4, 5, 6, 7, 8))
    forward = ts.proposals.Swap().propose([x], torch.zeros(1), make_target(1))
    y = forward.states[0]
    back = ts.proposals.Swap().propose([y] * 4000, torch.zeros(4000), make_target(2))
    returned = sum(s == x for s in back.states) / 4000
    assert forward.log_q_reverse[0] == pytest.approx(back.log_q_forward[0].item())
    assert returned == pytest.approx(math.exp(forward.log_q_reverse[0].item()), abs=4 * math.sqrt(0.1 * 0.9 / 4000))


def test_swap_needs_two_editable_positions():
    with pytest.raises(ValueError, match="two editable positions"):
        ts.proposals.Swap().propose([State((1, 2), (True, False))], torch.zeros(1), make_target())


def test_metropolis_hastings_with_swap_samples_the_exact_distribution_over_orders():
    table = torch.tensor([[0.0, 1.2, 0.3, 2.0], [0.4, 0.0, 1.5, 0.2], [1.1, 0.1, 0.0, 0.9], [0.3, 1.7, 0.6, 0.0]])

    def energy(seqs):
        return [float(sum(table[a, b] for a, b in zip(s, s[1:]))) for s in seqs]

    orders = list(itertools.permutations(range(4)))
    exact = torch.softmax(-torch.tensor(energy(orders), dtype=torch.float64), 0)
    chains = 2000
    sampler = ts.samplers.MetropolisHastings(ts.proposals.Swap(), steps=25, chains=chains, burn_in=24, seed=0)
    result = sampler.run(ts.objectives.FromFunction(energy), init=[0, 1, 2, 3], progress=False)
    counts = torch.zeros(len(orders))
    for sample in result.samples:                      # one independent draw per chain, at the last step
        counts[orders.index(tuple(sample.tokens))] += 1
    assert counts.sum() == chains
    assert chisquare(counts.numpy(), (exact * chains).numpy()).pvalue > 1e-3
    wrong = torch.softmax(-2 * torch.tensor(energy(orders), dtype=torch.float64), 0)   # the test can fail
    assert chisquare(counts.numpy(), (wrong * chains).numpy()).pvalue < 1e-3
