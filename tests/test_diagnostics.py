"""Effective sample size and split R-hat on chains whose answer is known."""
import math

import pytest
import torch

import textsearch as ts
from exact_targets import single_thread  # noqa: F401


def ar1(steps: int, chains: int, phi: float, seed: int) -> torch.Tensor:
    """AR(1) chains x_t = φ x_{t−1} + ε_t started in stationarity; φ = 0 is iid."""
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(steps, chains, generator=generator, dtype=torch.float64)
    x = torch.empty_like(noise)
    x[0] = noise[0] / math.sqrt(1 - phi ** 2)
    for t in range(1, steps):
        x[t] = phi * x[t - 1] + noise[t]
    return x


def test_ess_of_independent_draws_is_about_their_number():
    ess = ts.diagnostics.effective_sample_size(ar1(1000, 4, 0.0, seed=0))
    assert 0.85 * 4000 < ess < 1.15 * 4000


def test_ess_of_a_sticky_chain_is_far_below_its_length_and_near_the_ar1_value():
    phi, n = 0.95, 4000 * 4
    ess = ts.diagnostics.effective_sample_size(ar1(4000, 4, phi, seed=1))
    theory = n * (1 - phi) / (1 + phi)                         # n / τ for AR(1)
    assert ess < 0.05 * n
    assert 0.6 * theory < ess < 1.5 * theory


def test_rhat_is_one_for_mixed_chains_and_large_for_chains_stuck_in_different_modes():
    mixed = ar1(1000, 4, 0.5, seed=2)
    assert ts.diagnostics.split_rhat(mixed) == pytest.approx(1.0, abs=0.01)
    stuck = mixed + torch.tensor([0.0, 0.0, 3.0, 3.0], dtype=torch.float64)
    assert ts.diagnostics.split_rhat(stuck) > 1.1


def test_rhat_splits_chains_so_a_single_drifting_chain_is_flagged():
    drift = ar1(1000, 1, 0.5, seed=3) + torch.linspace(0, 5, 1000, dtype=torch.float64)[:, None]
    assert ts.diagnostics.split_rhat(drift) > 1.1


def test_non_finite_or_constant_traces_give_nan_and_short_or_badly_shaped_traces_raise():
    values = ar1(100, 2, 0.0, seed=4)
    values[3, 0] = math.inf
    assert math.isnan(ts.diagnostics.effective_sample_size(values))
    assert math.isnan(ts.diagnostics.split_rhat(torch.ones(50, 2)))
    with pytest.raises(ValueError, match="at least 4 steps"):
        ts.diagnostics.split_rhat(torch.zeros(3, 2))
    with pytest.raises(ValueError, match=r"\[steps, chains\]"):
        ts.diagnostics.effective_sample_size(torch.zeros(5, 2, 2))


def test_result_ess_and_rhat_use_the_kept_trace():
    objective = ts.objectives.FromFunction(lambda seqs: [float(sum(s)) for s in seqs])
    sampler = ts.samplers.MetropolisHastings(ts.proposals.UniformReplace(3), steps=400, chains=4, burn_in=100, seed=0)
    result = sampler.run(objective, init=[0, 0, 0], progress=False)
    assert result.ess() == pytest.approx(ts.diagnostics.effective_sample_size(result.trace[100:]))
    assert result.rhat() == pytest.approx(ts.diagnostics.split_rhat(result.trace[100:]))
    assert result.rhat() < 1.1
