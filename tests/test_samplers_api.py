"""The sampler contract: seeds, one objective call per step, forbidden states, NaN, bad arguments."""
import math

import pytest
import torch

import textsearch as ts
from exact_targets import single_thread  # noqa: F401
from textsearch.state import State
from textsearch.target import Target


def hashed(sequences):
    """A cheap deterministic energy over a large space (so the cache rarely hides a call)."""
    return [float(hash(tuple(s)) % 1000) / 100 for s in sequences]


def counting(fn):
    def energy(sequences):
        energy.calls += 1
        return fn(sequences)
    energy.calls = 0
    return ts.objectives.FromFunction(energy)


V = 50
MARKOV = {
    "mh-replace": lambda seed: ts.samplers.MetropolisHastings(ts.proposals.UniformReplace(V), steps=60, chains=6, seed=seed),
    "mh-edit": lambda seed: ts.samplers.MetropolisHastings(ts.proposals.UniformEdit(V, 1, 6), steps=60, chains=6, seed=seed),
    "gibbs-random": lambda seed: ts.samplers.Gibbs(ts.proposals.ExactConditional(V), steps=60, chains=6, seed=seed),
    "gibbs-systematic": lambda seed: ts.samplers.Gibbs(ts.proposals.ExactConditional(V), steps=60, chains=6, seed=seed,
                                                       scan="systematic"),
    "annealing": lambda seed: ts.samplers.SimulatedAnnealing(ts.proposals.UniformEdit(V, 1, 6),
                                                             ts.schedules.Exponential(2.0, 0.1), steps=60, chains=6,
                                                             seed=seed),
    "tempering": lambda seed: ts.samplers.ParallelTempering(ts.proposals.UniformReplace(V), [1.0, 2.0, 4.0], steps=60,
                                                            chains=2, seed=seed),
    "mixture": lambda seed: ts.samplers.MetropolisHastings(
        ts.proposals.Mixture([(ts.proposals.UniformEdit(V, 1, 6), 1.0), (ts.proposals.ExactConditional(V), 1.0)]),
        steps=60, chains=6, seed=seed),
}
START = [1, 2, 3, 4]


@pytest.mark.parametrize("name", MARKOV)
def test_markov_samplers_make_one_objective_call_per_step_and_repeat_with_the_same_seed(name):
    objective = counting(hashed)
    first = MARKOV[name](0).run(objective, init=START, progress=False)
    assert 30 <= objective.fn.calls <= 60 + 1                      # the start, then at most one call per step
    again = MARKOV[name](0).run(counting(hashed), init=START, progress=False)
    other = MARKOV[name](1).run(counting(hashed), init=START, progress=False)
    assert [s.tokens for s in first.samples] == [s.tokens for s in again.samples]
    assert first.trace.equal(again.trace)
    assert [s.tokens for s in first.samples] != [s.tokens for s in other.samples]


def test_independent_samplers_repeat_with_the_same_seed():
    q = ts.proposals.UniformSequences(V, 1)                        # log p̃/q <= log 50 < 4
    for make in (lambda seed: ts.samplers.RejectionSampler(q, 4.0, num_samples=20, seed=seed),
                 lambda seed: ts.samplers.ImportanceSampler(q, num_samples=50, seed=seed)):
        runs = [make(seed).run(ts.objectives.FromFunction(hashed), progress=False) for seed in (0, 0, 1)]
        tokens = [[s.tokens for s in r.samples] for r in runs]
        assert tokens[0] == tokens[1] != tokens[2]


@pytest.mark.parametrize("name", ["mh-replace", "gibbs-random", "tempering"])
def test_a_nan_energy_raises(name):
    nan = ts.objectives.FromFunction(lambda seqs: [math.nan if s[0] != 1 else 0.0 for s in seqs])
    with pytest.raises(ValueError, match="NaN"):
        MARKOV[name](0).run(nan, init=START, progress=False)


def test_chains_leave_a_forbidden_start():
    energy = ts.objectives.FromFunction(lambda seqs: [math.inf if tuple(s) == (0, 0) else float(sum(s)) for s in seqs])
    for sampler in (ts.samplers.MetropolisHastings(ts.proposals.UniformReplace(3), steps=30, chains=4, seed=0),
                    ts.samplers.Gibbs(ts.proposals.ExactConditional(3), steps=30, chains=4, seed=0)):
        result = sampler.run(energy, init=[0, 0], progress=False)
        assert math.isfinite(result.trace[-1].max().item())


def test_tempering_swaps_with_probability_min_one_exp_of_beta_difference_times_energy_difference():
    sampler = ts.samplers.ParallelTempering(ts.proposals.UniformReplace(3), [1.0, 2.0], steps=1)
    target = Target(ts.objectives.FromFunction(hashed), sampler.replica_temperatures,
                    generator=torch.Generator().manual_seed(0))
    cold, hot = State((0,)), State((1,))
    swaps, trials = 0, 4000
    for _ in range(trials):
        states, energies, tried, accepted = sampler.swap([cold, hot], torch.tensor([0.0, 2.0], dtype=torch.float64),
                                                         target)
        swaps += accepted
        assert tried == 1 and (states == [hot, cold]) == bool(accepted)
        assert energies.tolist() == ([2.0, 0.0] if accepted else [0.0, 2.0])
    rate = math.exp((1 / 1.0 - 1 / 2.0) * (0.0 - 2.0))
    assert abs(swaps / trials - rate) < 4 * math.sqrt(rate * (1 - rate) / trials)
    always = sampler.swap([cold, hot], torch.tensor([2.0, 0.0], dtype=torch.float64), target)
    assert always[3] == 1                                            # a lower energy always moves to the colder replica


class UniformGuess(ts.proposals.ExactConditional):
    """An approximate conditional: a uniform token, taken without MH correction."""

    def propose_at(self, states, positions, energies, target):
        move = ts.proposals.UniformReplace(self.vocab_size).propose(states, energies, target)
        move.always_accept = True
        return move


def test_gibbs_takes_approximate_conditionals_as_drawn():
    energy = ts.objectives.FromFunction(lambda seqs: [10.0 * sum(s) for s in seqs])
    result = ts.samplers.Gibbs(UniformGuess(3), steps=50, chains=3, seed=0).run(energy, init=[0, 0], progress=False)
    assert result.acceptance_rate == 1.0


def test_unweighted_results_estimate_expectations_and_resample_uniformly():
    result = MARKOV["mh-replace"](0).run(ts.objectives.FromFunction(hashed), init=START, progress=False)
    mean_first = sum(s.tokens[0] for s in result.samples) / len(result.samples)
    assert result.expectation(lambda t: t[0]) == pytest.approx(mean_first)
    drawn = result.resample(10, seed=0)
    assert len(drawn) == 10 and all(d in result.samples for d in drawn)


@pytest.mark.parametrize("build, error", [
    (lambda: ts.samplers.Gibbs(ts.proposals.ExactConditional(3), steps=10, scan="diagonal"), "scan"),
    (lambda: ts.samplers.Gibbs(ts.proposals.UniformReplace(3), steps=10), "conditional"),
    (lambda: ts.samplers.Gibbs(ts.proposals.ExactConditional(3), steps=10, temperature=0.0), "temperature"),
    (lambda: ts.samplers.ParallelTempering(ts.proposals.UniformReplace(3), [2.0, 4.0], steps=10), "include 1.0"),
    (lambda: ts.samplers.ParallelTempering(ts.proposals.UniformReplace(3), [1.0, 4.0, 2.0], steps=10), "increasing"),
    (lambda: ts.samplers.ParallelTempering(ts.proposals.UniformReplace(3), [0.0, 1.0], steps=10), "> 0"),
    (lambda: ts.samplers.ParallelTempering(ts.proposals.UniformReplace(3), [1.0, 2.0], steps=10, swap_every=0),
     "swap_every"),
    (lambda: ts.samplers.MetropolisHastings(ts.proposals.UniformReplace(3), steps=10, temperature=0.0), "temperature"),
    (lambda: ts.samplers.MetropolisHastings(ts.proposals.UniformReplace(3), steps=10, burn_in=10), "burn_in"),
])
def test_bad_sampler_arguments_raise_clear_errors(build, error):
    with pytest.raises((ValueError, TypeError), match=error):
        build()


def test_bad_starts_raise_clear_errors():
    energy = ts.objectives.FromFunction(hashed)
    with pytest.raises(ValueError, match="at least one unlocked token"):
        ts.samplers.Gibbs(ts.proposals.ExactConditional(3), steps=5).run(
            energy, init=State((1, 2), (True, True)), progress=False)
    with pytest.raises(ValueError, match="pass init"):
        ts.samplers.MetropolisHastings(ts.proposals.UniformReplace(3), steps=5).run(energy, progress=False)
    with pytest.raises(ValueError, match="one per chain"):
        ts.samplers.ParallelTempering(ts.proposals.UniformReplace(3), [1.0, 2.0], steps=5, chains=2).run(
            energy, init=[[0], [1], [2]], progress=False)
