"""Simulated annealing, hill climbing and the temperature schedules."""
import itertools
import math

import numpy as np
import pytest

import textsearch as ts
from exact_targets import single_thread  # noqa: F401

V, L = 5, 6
_rng = np.random.default_rng(0)
FIELDS, COUPLINGS = _rng.normal(size=(L, V)), _rng.normal(size=(L - 1, V, V))


def rugged(sequences):
    """A random Potts chain: E(x) = Σ h_i(x_i) + Σ J_i(x_i, x_i+1); 9 local minima under single-site moves."""
    x = np.asarray(sequences)
    return (FIELDS[np.arange(L), x].sum(1) + COUPLINGS[np.arange(L - 1), x[:, :-1], x[:, 1:]].sum(1)).tolist()


GLOBAL_MINIMUM = min(rugged(list(itertools.product(range(V), repeat=L))))     # 15625 states, enumerated


def test_annealing_finds_the_global_minimum_of_a_rugged_energy_for_nearly_every_seed():
    objective, found, climbed = ts.objectives.FromFunction(rugged), 0, 0
    for seed in range(10):
        annealing = ts.samplers.SimulatedAnnealing(ts.proposals.UniformReplace(V), ts.schedules.Exponential(2.0, 0.05),
                                                   steps=800, seed=seed)
        found += annealing.run(objective, init=[0] * L, progress=False).best.energy == pytest.approx(GLOBAL_MINIMUM)
        climbing = ts.samplers.SimulatedAnnealing.hill_climbing(ts.proposals.UniformReplace(V), steps=800, seed=seed)
        climbed += climbing.run(objective, init=[0] * L, progress=False).best.energy == pytest.approx(GLOBAL_MINIMUM)
    print(f"annealing found the global minimum for {found}/10 seeds, hill climbing for {climbed}/10")
    assert found >= 9
    assert climbed <= 3                      # the landscape is rugged: greedy descent gets stuck


def test_hill_climbing_never_accepts_a_worse_move_and_takes_ties():
    sampler = ts.samplers.SimulatedAnnealing.hill_climbing(ts.proposals.UniformReplace(V), steps=300, chains=4, seed=0)
    result = sampler.run(ts.objectives.FromFunction(rugged), init=[0] * L, progress=False)
    assert (result.trace[1:] <= result.trace[:-1]).all()
    assert result.best.energy == result.trace.min().item()
    flat = ts.objectives.FromFunction(lambda seqs: [0.0] * len(seqs))
    assert sampler.run(flat, init=[0] * L, progress=False).acceptance_rate == 1.0


def test_annealing_follows_its_schedule_down_to_zero():
    sampler = ts.samplers.SimulatedAnnealing(ts.proposals.UniformReplace(V), ts.schedules.Linear(2.0, 0.0), steps=5)
    result = sampler.run(ts.objectives.FromFunction(rugged), init=[0] * L, progress=False)
    assert [float(i.temperature[0]) for i in result.info] == pytest.approx([2.0, 1.5, 1.0, 0.5, 0.0])


def test_schedules_start_and_end_where_they_say_and_cool_monotonically():
    steps = 100
    for schedule, first, last in [(ts.schedules.Constant(0.7), 0.7, 0.7), (ts.schedules.Linear(2.0, 0.1), 2.0, 0.1),
                                  (ts.schedules.Exponential(2.0, 0.01), 2.0, 0.01),
                                  (ts.schedules.Logarithmic(1.5), 1.5, 1.5 * math.log(2) / math.log(101))]:
        values = [schedule(t, steps) for t in range(steps)]
        assert values[0] == pytest.approx(first) and values[-1] == pytest.approx(last)
        assert all(a >= b for a, b in zip(values, values[1:]))
    assert ts.schedules.Exponential(1.0, 0.25)(1, 3) == pytest.approx(0.5)     # geometric midpoint


@pytest.mark.parametrize("build, error", [
    (lambda: ts.schedules.Constant(-1.0), ">= 0"),
    (lambda: ts.schedules.Linear(0.0, 0.0), "> 0"),
    (lambda: ts.schedules.Linear(1.0, 2.0), "end <= start"),
    (lambda: ts.schedules.Exponential(1.0, 0.0), "> 0"),
    (lambda: ts.schedules.Exponential(1.0, 2.0), "end <= start"),
    (lambda: ts.schedules.Logarithmic(math.inf), "finite"),
    (lambda: ts.samplers.SimulatedAnnealing(ts.proposals.UniformReplace(V), 1.0, steps=10), "schedule"),
])
def test_bad_schedules_raise_clear_errors(build, error):
    with pytest.raises((ValueError, TypeError), match=error):
        build()


def test_a_schedule_that_returns_a_negative_temperature_is_refused():
    sampler = ts.samplers.SimulatedAnnealing(ts.proposals.UniformReplace(V), lambda step, total: -1.0, steps=3)
    with pytest.raises(ValueError, match="temperature -1.0"):
        sampler.run(ts.objectives.FromFunction(rugged), init=[0] * L, progress=False)
