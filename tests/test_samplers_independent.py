"""Rejection and importance sampling against exact answers on an enumerable target.

Target: 3 tokens, lengths 1–3, one forbidden sequence; q draws a uniform length, then
uniform tokens. Rejection's accepted draws are independent, so the TV/chi-square check
of `exact_targets` applies with n_eff = n.
"""
import math
from collections import defaultdict

import pytest
import torch

import textsearch as ts
from exact_targets import compare, exact_distribution, random_table, single_thread, table_objective  # noqa: F401

TABLE = random_table(3, range(1, 4), seed=3, forbidden=[(0, 2)])
EXACT = exact_distribution(TABLE)
Q = ts.proposals.UniformSequences(3, length=(1, 3))
LOG_Q = {seq: Q.log_prob([list(seq)]).item() for seq in TABLE}
LOG_Z = math.log(sum(math.exp(-e) for e in TABLE.values()))
LOG_BOUND = max(-e - LOG_Q[seq] for seq, e in TABLE.items())          # the tightest M: max p̃/q


def test_rejection_accepts_at_rate_z_over_m_and_its_samples_follow_the_target():
    result = ts.samplers.RejectionSampler(Q, LOG_BOUND, num_samples=4000, seed=0, batch_size=512).run(
        table_objective(TABLE), progress=False)
    assert len(result.samples) == 4000
    draws = sum(i.draws for i in result.info)
    rate = math.exp(LOG_Z - LOG_BOUND)
    # draws until the n-th acceptance: n/draws has sd ≈ √(p(1−p)/draws) (delta method on the negative binomial)
    assert abs(result.acceptance_rate - rate) < 4 * math.sqrt(rate * (1 - rate) / draws)
    assert result.log_normalizer == pytest.approx(LOG_Z, abs=4 * math.sqrt((1 - rate) / 4000))
    check = compare([tuple(s.tokens) for s in result.samples], EXACT, len(result.samples), "RejectionSampler")
    assert check.passed
    assert result.ess() == pytest.approx(4000, rel=0.15)                # independent draws


def test_rejection_with_a_bound_below_the_true_one_raises():
    with pytest.raises(ValueError, match="bound is wrong"):
        ts.samplers.RejectionSampler(Q, LOG_BOUND - 1.0, num_samples=100, seed=0).run(
            table_objective(TABLE), progress=False)


def test_rejection_warns_and_returns_what_it_has_when_the_draw_budget_is_spent():
    sampler = ts.samplers.RejectionSampler(Q, LOG_BOUND + 6.0, num_samples=1000, seed=0, max_draws=300)
    with pytest.warns(RuntimeWarning, match="max_draws=300"):
        result = sampler.run(table_objective(TABLE), progress=False)
    assert len(result.samples) < 1000 and sum(i.draws for i in result.info) == 300


def importance_run(num_samples: int = 20000):
    return ts.samplers.ImportanceSampler(Q, num_samples=num_samples, seed=0, batch_size=4096).run(
        table_objective(TABLE), progress=False)


def test_importance_estimates_lie_within_three_standard_errors_of_the_truth():
    result = importance_run()
    weights = result.weights()
    for name, fn in [("length", len), ("zeros", lambda t: t.count(0)), ("ends in 2", lambda t: float(t[-1] == 2))]:
        truth = sum(p * fn(list(seq)) for seq, p in EXACT.items())
        estimate = result.expectation(fn)
        values = torch.tensor([float(fn(s.tokens)) for s in result.samples], dtype=torch.float64)
        se = math.sqrt(float((weights ** 2 * (values - estimate) ** 2).sum()))   # delta method, self-normalised
        print(f"importance E[{name}]: {estimate:.4f} vs {truth:.4f} (se {se:.4f})")
        assert abs(estimate - truth) < 3 * se
    chi = sum(math.exp(2 * (-e - LOG_Z) - LOG_Q[seq]) for seq, e in TABLE.items() if math.isfinite(e))  # E_q[(p/q)²]
    assert result.log_normalizer == pytest.approx(LOG_Z, abs=3 * math.sqrt((chi - 1) / 20000))
    assert result.ess() == pytest.approx(20000 / chi, rel=0.1)           # Kish ESS ≈ N / E_q[(p/q)²]


def test_importance_weights_are_normalised_zero_for_forbidden_draws_and_resampling_follows_them():
    result = importance_run(8000)
    weights = torch.tensor([s.weight for s in result.samples], dtype=torch.float64)
    assert weights.sum().item() == pytest.approx(1.0)
    assert torch.allclose(weights, result.log_weights.exp())
    assert all(s.weight == 0.0 for s in result.samples if tuple(s.tokens) == (0, 2))
    assert any(tuple(s.tokens) == (0, 2) for s in result.samples)        # the forbidden draw did happen
    pmf = defaultdict(float)
    for sample in result.samples:
        pmf[tuple(sample.tokens)] += sample.weight
    drawn = result.resample(6000, seed=1)
    assert all(d.weight is None for d in drawn)
    check = compare([tuple(s.tokens) for s in drawn], {k: v for k, v in pmf.items() if v > 0}, 6000,
                    "importance resample vs its weights")
    assert check.passed


def test_independent_samplers_score_each_batch_in_one_objective_call():
    calls = []
    objective = ts.objectives.FromFunction(lambda seqs: calls.append(len(seqs)) or [TABLE[tuple(s)] for s in seqs])
    ts.samplers.ImportanceSampler(Q, num_samples=1000, seed=0, batch_size=300).run(objective, progress=False)
    assert 1 <= len(calls) <= 4 and max(calls) <= 300       # one call per batch of 300 (repeats come from the cache)


def test_independent_samplers_reject_bad_arguments_nan_energies_and_init():
    with pytest.raises(ValueError, match="num_samples"):
        ts.samplers.ImportanceSampler(Q, num_samples=0)
    with pytest.raises(ValueError, match="log_bound"):
        ts.samplers.RejectionSampler(Q, math.inf, num_samples=10)
    with pytest.raises(TypeError, match="sequence distribution"):
        ts.samplers.ImportanceSampler("not q", num_samples=10)
    nan = ts.objectives.FromFunction(lambda seqs: [math.nan] * len(seqs))
    with pytest.raises(ValueError, match="NaN"):
        ts.samplers.RejectionSampler(Q, 5.0, num_samples=10).run(nan, progress=False)
    with pytest.raises(ValueError, match="NaN"):
        ts.samplers.ImportanceSampler(Q, num_samples=10).run(nan, progress=False)
    with pytest.raises(ValueError, match="init is not used"):
        ts.samplers.ImportanceSampler(Q, num_samples=10).run(table_objective(TABLE), init=[0, 1], progress=False)
    forbidden = ts.objectives.FromFunction(lambda seqs: [math.inf] * len(seqs))
    with pytest.raises(ValueError, match="forbidden"):
        ts.samplers.ImportanceSampler(Q, num_samples=10).run(forbidden, progress=False)
