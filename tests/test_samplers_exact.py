"""Markov samplers against the exact softmax(−E/T) on state spaces small enough to enumerate.

Fixed length: 4 tokens, length 3, position 1 locked (16 states, one forbidden).
Variable length: 3 tokens, lengths 1–3 (39 states, one forbidden), with and without a
locked token. Tolerances and the chi-square test are derived in `exact_targets`; run
with `-s` to see each sampler's TV distance and sample size.
"""
import pytest

import textsearch as ts
from exact_targets import check_markov, exact_distribution, random_table, single_thread, table_objective  # noqa: F401
from textsearch.state import State

FIXED = random_table(4, range(3, 4), seed=1, forbidden=[(0, 2, 0)])
FIXED_START = State((1, 2, 3), (False, True, False))


def fixed_exact(temperature: float = 1.0) -> dict:
    return exact_distribution(FIXED, temperature, multiplicity=lambda seq: int(seq[1] == 2))


VARIABLE = random_table(3, range(1, 4), seed=2, forbidden=[(1, 1)])
VARIABLE_EXACT = exact_distribution(VARIABLE)
LOCKED_START = State((2,), (True,))                          # the locked 2 moves with inserts and deletes
LOCKED_EXACT = exact_distribution(VARIABLE, multiplicity=lambda seq: seq.count(2))   # one State per lock placement


def edit() -> ts.proposals.UniformEdit:
    return ts.proposals.UniformEdit(3, min_len=1, max_len=3)


def run(sampler, table, init=None):
    return sampler.run(table_objective(table), init=init, progress=False)


def test_metropolis_hastings_with_uniform_replace_fixed_length_and_a_locked_position():
    sampler = ts.samplers.MetropolisHastings(ts.proposals.UniformReplace(4), steps=1300, chains=24, burn_in=100,
                                             thin=4, seed=0)
    result = run(sampler, FIXED, FIXED_START)
    assert all(s.tokens[1] == 2 for s in result.samples)
    assert check_markov(result, fixed_exact(), "MH UniformReplace").passed


def test_metropolis_hastings_with_uniform_edit_variable_length():
    sampler = ts.samplers.MetropolisHastings(edit(), steps=2100, chains=24, burn_in=100, thin=5, seed=0)
    result = run(sampler, VARIABLE)
    assert set(result.acceptance_by_move) == {"replace", "insert", "delete"}
    assert check_markov(result, VARIABLE_EXACT, "MH UniformEdit").passed


def test_metropolis_hastings_with_uniform_edit_and_a_locked_token_counts_each_lock_placement():
    sampler = ts.samplers.MetropolisHastings(edit(), steps=2100, chains=24, burn_in=100, thin=5, seed=1)
    result = run(sampler, VARIABLE, LOCKED_START)
    assert check_markov(result, LOCKED_EXACT, "MH UniformEdit, locked token").passed


class IgnoresReverse(ts.proposals.UniformEdit):
    """A deliberately wrong move: it reports q(x←y) = q(y←x), as if insert and delete were symmetric."""

    def propose(self, states, energies, target):
        move = super().propose(states, energies, target)
        move.log_q_reverse = move.log_q_forward.clone()
        return move


def test_the_check_detects_a_wrong_acceptance_ratio():
    sampler = ts.samplers.MetropolisHastings(IgnoresReverse(3, min_len=1, max_len=3), steps=2100, chains=24,
                                             burn_in=100, thin=5, seed=0)
    check = check_markov(run(sampler, VARIABLE), VARIABLE_EXACT, "MH ignoring the reverse probability")
    assert check.tv > check.tolerance and check.p_value < 1e-6


@pytest.mark.parametrize("scan, temperature", [("random", 1.0), ("systematic", 2.0)])
def test_gibbs_with_the_exact_conditional(scan, temperature):
    sampler = ts.samplers.Gibbs(ts.proposals.ExactConditional(4), steps=900, chains=24, burn_in=100, thin=2,
                                seed=0, scan=scan, temperature=temperature)
    result = run(sampler, FIXED, FIXED_START)
    assert result.acceptance_rate == pytest.approx(1.0, abs=1e-3)       # the MH ratio of an exact conditional is 1
    assert check_markov(result, fixed_exact(temperature), f"Gibbs {scan} scan, T={temperature}").passed


def test_parallel_tempering_keeps_the_exact_distribution_in_its_T1_replicas():
    sampler = ts.samplers.ParallelTempering(ts.proposals.UniformReplace(4), temperatures=[0.5, 1.0, 3.0],
                                            steps=1300, chains=12, burn_in=100, thin=2, seed=0)
    result = run(sampler, FIXED, FIXED_START)
    assert {s.chain for s in result.samples} == set(range(12, 24)) == set(result.kept_chains)   # T = 1 only
    assert 0.0 < result.swap_rate < 1.0
    assert check_markov(result, fixed_exact(), "ParallelTempering (T=1 replicas)").passed


def test_simulated_annealing_at_constant_temperature_one_is_metropolis_hastings():
    kwargs = dict(steps=300, chains=4, seed=5)
    annealed = run(ts.samplers.SimulatedAnnealing(edit(), ts.schedules.Constant(1.0), **kwargs), VARIABLE)
    plain = run(ts.samplers.MetropolisHastings(edit(), **kwargs), VARIABLE)
    assert [s.tokens for s in annealed.samples] == [s.tokens for s in plain.samples]
    assert annealed.trace.equal(plain.trace)


def test_simulated_annealing_at_a_constant_temperature_samples_softmax_at_that_temperature():
    sampler = ts.samplers.SimulatedAnnealing(ts.proposals.UniformReplace(4), ts.schedules.Constant(2.0),
                                             steps=1300, chains=24, seed=0, burn_in=100, thin=4)
    result = run(sampler, FIXED, FIXED_START)
    assert check_markov(result, fixed_exact(2.0), "SimulatedAnnealing Constant(2)").passed


@pytest.mark.parametrize("name", ["mixture", "cycle"])
def test_mixture_and_cycle_of_moves_stay_exact(name):
    if name == "mixture":
        proposal = ts.proposals.Mixture([(edit(), 2.0), (ts.proposals.UniformReplace(3), 1.0)])
    else:
        proposal = ts.proposals.Cycle([edit(), ts.proposals.ExactConditional(3)])
    sampler = ts.samplers.MetropolisHastings(proposal, steps=2100, chains=24, burn_in=100, thin=5, seed=0)
    result = run(sampler, VARIABLE)
    assert check_markov(result, VARIABLE_EXACT, f"MH {name}").passed
