"""The uniform proposals report the probabilities of the moves they actually make.

A reference enumerates every path of a move (op, place, token) and sums their
probabilities; each proposal's reported log q(y←x) and log q(x←y) must equal it, and
the frequencies of its draws must follow it.
"""
import math
from collections import Counter, defaultdict

import pytest
import torch
from scipy.stats import chisquare

import textsearch as ts
from exact_targets import single_thread, table_objective  # noqa: F401
from textsearch.state import State
from textsearch.target import Target


def make_target(objective=None, chains: int = 1, seed: int = 0, temperature: float = 1.0) -> Target:
    objective = objective or ts.objectives.FromFunction(lambda seqs: [0.0] * len(seqs))
    return Target(objective, torch.full((chains,), temperature, dtype=torch.float64),
                  generator=torch.Generator().manual_seed(seed))


def reference_edit(x: State, V: int, min_len: int, max_len: int, p=(1 / 3, 1 / 3, 1 / 3)) -> dict[State, float]:
    """q(·←x) of UniformEdit by enumerating every (op, place, token) path."""
    editable = [i for i, lock in enumerate(x.locked) if not lock]
    weights = {"replace": p[0] if editable else 0.0,
               "insert": p[1] if len(x) < max_len else 0.0,
               "delete": p[2] if editable and len(x) > min_len else 0.0}
    total = sum(weights.values())
    q = defaultdict(float)
    for i in editable:
        q[x.delete(i)] += weights["delete"] / total / len(editable)
        for v in range(V):
            if v != x.tokens[i]:
                q[x.replace(i, v)] += weights["replace"] / total / len(editable) / (V - 1)
    for gap in range(len(x) + 1):
        for v in range(V):
            q[x.insert(gap, v)] += weights["insert"] / total / (len(x) + 1) / V
    return {y: value for y, value in q.items() if value > 0}


def locked_tokens(state: State) -> list[int]:
    return [t for t, lock in zip(state.tokens, state.locked) if lock]


EDIT_STARTS = [
    State((0, 0, 1), (False, False, True)),        # a run of equal unlocked tokens next to a locked one
    State((2, 2, 2, 2), (False, True, False, False)),    # at max_len: no insert
    State((1,), (False,)),                          # at min_len: no delete
    State((1, 2), (True, True)),                    # nothing editable: insert only
]


@pytest.mark.parametrize("x", EDIT_STARTS, ids=lambda s: str(s.tokens))
def test_uniform_edit_reports_the_probability_of_every_move_and_its_reverse(x):
    V, min_len, max_len, draws = 3, 1, 4, 6000
    proposal = ts.proposals.UniformEdit(V, min_len=min_len, max_len=max_len)
    move = proposal.propose([x] * draws, torch.zeros(draws), make_target(chains=draws))
    reference = reference_edit(x, V, min_len, max_len)
    counts = Counter(move.states)
    assert set(counts) <= set(reference)
    for y, forward, reverse in zip(move.states, move.log_q_forward.tolist(), move.log_q_reverse.tolist()):
        assert forward == pytest.approx(math.log(reference[y]), abs=1e-12)
        assert reverse == pytest.approx(math.log(reference_edit(y, V, min_len, max_len)[x]), abs=1e-12)
        assert locked_tokens(y) == locked_tokens(x)
        assert min_len <= len(y) <= max_len
    observed = [counts.get(y, 0) for y in reference]
    assert chisquare(observed, [draws * q for q in reference.values()]).pvalue > 1e-3


def test_uniform_edit_stays_when_no_op_is_allowed_and_rejects_states_out_of_range():
    proposal = ts.proposals.UniformEdit(3, min_len=2, max_len=2)
    locked = State((0, 1), (True, True))
    move = proposal.propose([locked], torch.zeros(1), make_target())
    assert move.states == [locked] and move.kinds == ["stay"] and move.log_q_forward.item() == 0.0
    with pytest.raises(ValueError, match=r"outside \[min_len, max_len\]"):
        proposal.propose([State((0, 1, 2))], torch.zeros(1), make_target())


def test_uniform_edit_from_empty_can_only_insert():
    proposal = ts.proposals.UniformEdit(3, min_len=0, max_len=2)
    move = proposal.propose([State(())] * 200, torch.zeros(200), make_target(chains=200))
    assert set(move.kinds) == {"insert"}
    assert torch.allclose(move.log_q_forward, torch.full((200,), math.log(1 / 3), dtype=torch.float64))    # 1 op, 1 gap, 1/3 token


def test_uniform_edit_initial_states_cover_the_length_range():
    states = ts.proposals.UniformEdit(3, min_len=1, max_len=3).initial(300, torch.Generator().manual_seed(0))
    assert Counter(len(s) for s in states).keys() == {1, 2, 3}


def test_uniform_replace_is_symmetric_changes_one_editable_position_and_draws_uniformly():
    x, V, draws = State((0, 1, 2), (False, True, False)), 4, 6000
    move = ts.proposals.UniformReplace(V).propose([x] * draws, torch.zeros(draws), make_target(chains=draws))
    assert torch.equal(move.log_q_forward, move.log_q_reverse)
    assert torch.allclose(move.log_q_forward, torch.full((draws,), -math.log(2 * 3), dtype=torch.float64))
    for y in move.states:
        assert y.tokens[1] == 1 and sum(a != b for a, b in zip(x.tokens, y.tokens)) == 1
    counts = Counter(move.states)
    assert len(counts) == 6 and chisquare(list(counts.values())).pvalue > 1e-3


def test_uniform_replace_stays_when_everything_is_locked_and_rejects_foreign_tokens():
    proposal = ts.proposals.UniformReplace(3)
    locked = State((0, 1), (True, True))
    assert proposal.propose([locked], torch.zeros(1), make_target()).states == [locked]
    with pytest.raises(ValueError, match="outside the vocabulary"):
        proposal.propose([State((7,))], torch.zeros(1), make_target())


def test_uniform_sequences_draws_uniform_lengths_and_tokens_with_their_log_q():
    q = ts.proposals.UniformSequences(3, length=(1, 2))
    sequences, log_q = q.sample(6000, torch.Generator().manual_seed(0))
    counts = Counter(tuple(s) for s in sequences)
    expected = {seq: (1 / 2) * 3 ** -len(seq) for seq in [(a,) for a in range(3)] +
                [(a, b) for a in range(3) for b in range(3)]}
    assert set(counts) == set(expected)
    assert chisquare([counts[s] for s in expected], [6000 * p for p in expected.values()]).pvalue > 1e-3
    assert torch.allclose(log_q, torch.tensor([math.log(expected[tuple(s)]) for s in sequences], dtype=torch.float64))
    assert q.log_prob([[0, 0, 0], [5]]).isneginf().all()


ENERGIES = {(0, 1, 0): 0.5, (0, 1, 1): -1.0, (0, 1, 2): math.inf, (0, 1, 3): 0.0}


def test_exact_conditional_draws_from_the_conditional_and_balances_the_mh_ratio():
    x, draws, T = State((0, 1, 0), (False, True, False)), 4000, 2.0
    objective = table_objective({**ENERGIES, **{(v, 1, 0): float(v) for v in range(1, 4)}})
    target = make_target(objective, chains=draws, temperature=T)
    energies = target.energy([x] * draws)
    move = ts.proposals.ExactConditional(4).propose_at([x] * draws, [2] * draws, energies, target)
    assert target.calls == 2 and objective.fn.sequences == 4     # the state, then all chains × V in one call
    logits = torch.tensor([-ENERGIES[(0, 1, v)] / T for v in range(4)], dtype=torch.float64)
    conditional = torch.softmax(logits, 0)
    counts = Counter(y.tokens[2] for y in move.states)
    assert counts[2] == 0                                           # the forbidden token is never drawn
    observed = [counts[v] for v in (0, 1, 3)]
    assert chisquare(observed, [draws * conditional[v].item() for v in (0, 1, 3)]).pvalue > 1e-3
    log_alpha = ts.samplers.mh_accept(move, [x] * draws, energies, target)[2].log_alpha
    assert torch.allclose(log_alpha, torch.zeros(draws, dtype=torch.float64), atol=1e-12)
    assert move.log_q_reverse[0].item() == pytest.approx(math.log(conditional[0].item()))


def test_exact_conditional_at_temperature_zero_takes_the_lowest_token_and_walks_when_all_are_forbidden():
    x = State((0, 1, 0))
    objective = table_objective({(0, 1, v): e for v, e in enumerate([0.5, -1.0, math.inf, 0.0])})
    target = make_target(objective, chains=50, temperature=0.0)
    move = ts.proposals.ExactConditional(4).propose_at([x] * 50, [2] * 50, target.energy([x] * 50), target)
    assert {y.tokens for y in move.states} == {(0, 1, 1)}
    forbidden = table_objective({(0, 1, v): math.inf for v in range(4)})
    target = make_target(forbidden, chains=400)
    move = ts.proposals.ExactConditional(4).propose_at([x] * 400, [2] * 400, target.energy([x] * 400), target)
    assert len({y.tokens for y in move.states}) == 4
    assert torch.allclose(move.log_q_forward, torch.full((400,), -math.log(4), dtype=torch.float64))


def test_exact_conditional_random_scan_leaves_states_with_nothing_editable():
    locked = State((0, 1), (True, True))
    move = ts.proposals.ExactConditional(2).propose([locked], torch.zeros(1), make_target())
    assert move.states == [locked] and move.kinds == ["stay"]


class Tag(ts.proposals.Proposal):
    """A move that changes nothing and says which component made it."""

    def __init__(self, name):
        self.name = name

    def propose(self, states, energies, target):
        zeros = torch.zeros(len(states), dtype=torch.float64)
        return ts.proposals.Move(list(states), zeros, zeros.clone(), [self.name] * len(states))


def test_mixture_picks_components_by_weight_one_for_all_chains_and_cycle_takes_turns():
    mixture = ts.proposals.Mixture([(Tag("a"), 3.0), (Tag("b"), 1.0)])
    target, x = make_target(chains=2), State((0,))
    kinds = [mixture.propose([x, x], torch.zeros(2), target).kinds for _ in range(2000)]
    assert all(k[0] == k[1] for k in kinds)
    counts = Counter(k[0] for k in kinds)
    assert chisquare([counts["a"], counts["b"]], [1500, 500]).pvalue > 1e-3
    cycle = ts.proposals.Cycle([Tag("a"), Tag("b"), Tag("c")])
    turns = []
    for step in range(6):
        target.step = step
        turns.append(cycle.propose([x], torch.zeros(1), target).kinds[0])
    assert turns == ["a", "b", "c", "a", "b", "c"]


@pytest.mark.parametrize("build, error", [
    (lambda: ts.proposals.UniformReplace(1), "vocab_size"),
    (lambda: ts.proposals.UniformEdit(3, min_len=3, max_len=2), "min <= max"),
    (lambda: ts.proposals.UniformEdit(3, 1, 3, p_insert=0.5, p_delete=0.0), "undo each other"),
    (lambda: ts.proposals.UniformEdit(3, 1, 3, p_replace=-1.0), ">= 0"),
    (lambda: ts.proposals.UniformSequences(3, length=(2, 1)), "min <= max"),
    (lambda: ts.proposals.UniformSequences(0, length=2), "vocab_size"),
    (lambda: ts.proposals.Mixture([(Tag("a"), 0.0)]), "positive"),
    (lambda: ts.proposals.Mixture([]), "at least one"),
    (lambda: ts.proposals.Mixture([Tag("a")]), "pairs"),
    (lambda: ts.proposals.Cycle(["not a proposal"]), "not a proposal"),
])
def test_bad_proposal_arguments_raise_clear_errors(build, error):
    with pytest.raises((ValueError, TypeError), match=error):
        build()
