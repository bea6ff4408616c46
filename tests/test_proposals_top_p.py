"""Top-p candidate sets: cut where the LM's mass is reached, and MH with them stays exact.

Four ordinary tokens of a tiny causal LM (ids 5–8); with top_k=3, top_p=0.8 its slots
get sets of one, two or three tokens, so the uniform mix carries the moves the sets leave out.
"""
import itertools

import pytest
import torch
from conftest import make_tiny_lm
from exact_targets import check_markov, exact_distribution, random_table, single_thread, table_objective  # noqa: F401

import textsearch as ts
from textsearch.proposals.candidates import Candidates, Slot
from textsearch.proposals.weighted_choice import WeightedChoice
from textsearch.state import State

WORDS = [5, 6, 7, 8]


@pytest.fixture(scope="module")
def lm():
    return make_tiny_lm(vocab_size=9, seed=3)


def every_slot(max_prefix: int) -> list[Slot]:
    return [Slot(State(p + (5,)), len(p), insert=False)
            for n in range(max_prefix + 1) for p in itertools.product(WORDS, repeat=n)]


def test_a_set_ends_once_it_holds_top_p_of_the_mass(lm):
    slots = every_slot(2)
    top = Candidates(lm, top_k=3, top_p=0.8).top(slots)
    probs = Candidates(lm, top_k=None).log_probs(slots).exp()
    for row, slot_probs in zip(top.tolist(), probs):
        listed = [t for t in row if t >= 0]
        assert row == listed + [-1] * (3 - len(listed))
        ranked = slot_probs.argsort(descending=True).tolist()
        mass = slot_probs[ranked].cumsum(0)
        expected = min(3, int((mass < 0.8).sum()) + 1)          # the fewest top tokens holding 0.8
        assert listed == ranked[:expected]
    assert {int((row >= 0).sum()) for row in top} == {1, 2, 3}


def test_top_p_one_is_top_k(lm):
    slots = every_slot(1)
    assert torch.equal(Candidates(lm, top_k=3, top_p=1.0).top(slots), Candidates(lm, top_k=3).top(slots))


def test_only_the_listed_candidates_are_scored(lm):
    scored = []
    objective = ts.objectives.FromFunction(lambda seqs: scored.extend(seqs) or [0.0] * len(seqs))
    slots = every_slot(1)
    target = ts.target.Target(objective, torch.ones(len(slots), dtype=torch.float64), None,
                              torch.Generator().manual_seed(0))
    choice = WeightedChoice(lm, top_k=3, uniform_mix=0.0, top_p=0.8)
    chosen = choice(slots, [True] * len(slots), target.temperature, target)
    listed = choice.candidates.top(slots) >= 0
    assert len(scored) == int(listed.sum()) < 3 * len(slots)
    assert torch.isinf(chosen.weights.energies[~listed]).all() and (chosen.weights.log_probs[~listed] == -torch.inf).all()
    assert all(t in row for t, row in zip(chosen.tokens.tolist(), choice.candidates.top(slots).tolist()))


def test_mh_with_top_p_candidate_sets_samples_the_target(lm):
    table = {tuple(WORDS[t] for t in seq): e for seq, e in random_table(4, range(1, 4), seed=5).items()}
    proposal = ts.proposals.EditProposal(lm, top_k=3, top_p=0.8, uniform_mix=0.1, max_len=3)
    sampler = ts.samplers.MetropolisHastings(proposal, steps=1200, chains=64, burn_in=200, thin=2, seed=0)
    result = sampler.run(table_objective(table), init=[5], progress=False)
    check = check_markov(result, exact_distribution(table), "EditProposal top_p=0.8")
    assert check.passed, check
