"""The run's energy cache: a state is scored once however often chains come back to it."""
import torch

import textsearch as ts
from exact_targets import random_table, single_thread, table_objective  # noqa: F401


def test_revisited_states_and_repeated_proposals_are_not_rescored():
    table = random_table(3, range(3, 4), seed=0)                 # 27 states: chains revisit them constantly
    objective = table_objective(table)
    sampler = ts.samplers.MetropolisHastings(ts.proposals.UniformReplace(3), steps=200, chains=8, seed=0)
    result = sampler.run(objective, init=[0, 1, 2], progress=False)
    assert objective.fn.sequences == result.evaluations <= len(table)
    assert result.requested == 8 + 200 * 8                      # the starts, then one proposal per chain and step
    assert 1 - result.evaluations / result.requested > 0.9


def test_a_target_counts_what_it_served_from_the_cache():
    objective = table_objective(random_table(2, range(2, 3), seed=1))
    target = ts.target.Target(objective, torch.ones(1, dtype=torch.float64))
    target.energy([ts.State((0, 1)), ts.State((0, 1)), ts.State((1, 1))])
    target.energy([ts.State((1, 1)), ts.State((0, 0))])
    assert (target.requested, target.evaluations, target.calls) == (5, 3, 2)
