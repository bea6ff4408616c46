"""textsearch.testing: the invariance check passes exact moves and catches a wrong one."""
from __future__ import annotations

import math

import torch

import textsearch as ts
from exact_targets import single_thread  # noqa: F401  (autouse: one thread)

SPACE = ts.testing.all_sequences(3, range(1, 4))
TABLE = ts.testing.random_table(3, range(1, 4), seed=5, forbidden=[(2, 2)])


class NextToken(ts.proposals.Proposal):
    """A user's own move: the last token becomes the next one, cyclically (or the previous one, at random).
    Symmetric: x → y by +1 has the probability of y → x by −1."""

    def propose(self, states, energies, target):
        steps = torch.randint(0, 2, (len(states),), generator=target.generator).mul(2).sub(1).tolist()
        proposed = [ts.State(s.tokens[:-1] + ((s.tokens[-1] + step) % 3,)) for s, step in zip(states, steps)]
        log_q = torch.full((len(states),), math.log(0.5), dtype=torch.float64)
        return ts.proposals.Move(proposed, log_q, log_q.clone(), ["next"] * len(states))


class Lopsided(NextToken):
    """The same move reporting the wrong reverse probability."""

    def propose(self, states, energies, target):
        move = super().propose(states, energies, target)
        move.log_q_reverse = move.log_q_reverse + torch.tensor([s.tokens[-1] for s in move.states]) * 0.7
        return move


def test_exact_moves_pass():
    objective = ts.testing.table_objective(TABLE)
    for proposal in (ts.proposals.UniformEdit(3, min_len=1, max_len=3), NextToken()):
        check = ts.testing.check_invariance(proposal, objective, SPACE, chains=3000, steps=3, seed=1)
        print(check)
        assert check.passed


def test_a_wrong_reverse_probability_fails():
    check = ts.testing.check_invariance(Lopsided(), ts.testing.table_objective(TABLE), SPACE, chains=3000, seed=1)
    print(check)
    assert not check.passed and check.tv > check.tolerance


def test_weighted_draws_are_checked_as_kish_many():
    exact = ts.testing.exact_distribution(TABLE)
    q = ts.proposals.UniformSequences(3, length=(1, 3))
    result = ts.samplers.ImportanceSampler(q, num_samples=20000, seed=0).run(
        ts.testing.table_objective(TABLE), progress=False)
    check = ts.testing.check_weighted([tuple(s.tokens) for s in result.samples], result.weights(), exact)
    print(check)
    assert check.passed and check.n_eff == result.ess()
    wrong = ts.testing.check_weighted([tuple(s.tokens) for s in result.samples],
                                      result.weights() * torch.tensor([len(s.tokens) for s in result.samples]), exact)
    assert not wrong.passed
