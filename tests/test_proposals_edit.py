"""EditProposal on a tiny causal LM: what it reports is what it does, and MH with it is exact.

Six ordinary tokens (the a cat dog sat ran), "cat" locked; top_k below the vocabulary
so that the uniform mix carries the moves the shortlist cannot.
"""
import itertools
import math

import pytest
import torch
from conftest import make_tiny_lm, make_tiny_mlm
from exact_targets import check_markov, exact_distribution, single_thread  # noqa: F401
from scipy import stats

import textsearch as ts
from textsearch.samplers import mh_step
from textsearch.state import State
from textsearch.target import Target

WORDS, KEY = list(range(5, 11)), 7          # ids of the ordinary tokens; "cat"
T = 1.3


@pytest.fixture(scope="module")
def lm():
    return make_tiny_lm(vocab_size=11, seed=3)


@pytest.fixture(scope="module")
def objective(lm):
    """E = −log p_LM(x) + 0.3·len(x), through the objective like any user energy."""
    def energy(tokens):
        return (-lm.log_prob(tokens) + 0.3 * torch.tensor([len(t) for t in tokens])).tolist()
    return ts.objectives.FromFunction(energy, tokenizer=lm.tokenizer)


def propose_from(proposal, objective, state: State, copies: int, seed: int):
    """One proposal from `copies` chains that all sit in `state`."""
    target = Target(objective, torch.full((copies,), T, dtype=torch.float64), None,
                    torch.Generator().manual_seed(seed))
    states = [state] * copies
    return proposal.propose(states, target.energy(states), target)


def distinct_moves(move):
    """(y, kind, log q forward, log q reverse) of each distinct move, most probable reverse first."""
    seen = {}
    for y, kind, f, r in zip(move.states, move.kinds, move.log_q_forward.tolist(), move.log_q_reverse.tolist()):
        seen.setdefault((y, kind, round(f, 9)), (y, kind, f, r))
    return sorted(seen.values(), key=lambda m: -m[3])


CASES = [  # (state, min_len, max_len): interior, locked only, at max_len, at min_len, down to empty
    (State((5, 7, 8), (False, True, False)), 1, 4),
    (State((7,), (True,)), 1, 3),
    (State((5, 7, 8, 9), (False, True, True, False)), 1, 4),
    (State((6,), (False,)), 1, 3),
    (State((6, 9), (False, False)), 0, 2),
]


def check_reverse_probabilities(proposal, objective, state: State, min_len: int, max_len: int,
                                kinds: set[str] | None = None):
    """For moves x → y drawn from x: proposing from y reaches x with the reported q(x←y), and reports q(y←x);
    every kind of move (or those in `kinds`) is checked."""
    forward = propose_from(proposal, objective, state, copies=600, seed=0)
    copies, checked = 3000, {}           # float32 model scores: batches round apart by ~1e-7
    for y, kind, f, r in distinct_moves(forward):
        if checked.get(kind, 0) >= 3 or copies * math.exp(r) < 8:      # a miss would then be plausible
            continue
        back = propose_from(proposal, objective, y, copies, seed=1)
        pairs = [(bf, br) for x, bf, br in zip(back.states, back.log_q_forward.tolist(), back.log_q_reverse.tolist())
                 if x == state]
        assert any(bf == pytest.approx(r, abs=1e-5) and br == pytest.approx(f, abs=1e-5) for bf, br in pairs), \
            f"{kind} {state.tokens} -> {y.tokens}: reported reverse {r:.6f}, proposals back: {pairs[:4]}"
        checked[kind] = checked.get(kind, 0) + 1
    can = {"replace": bool(state.editable), "insert": len(state) < max_len,
           "delete": bool(state.editable) and len(state) > min_len}
    assert set(checked) == (kinds if kinds is not None else {kind for kind, ok in can.items() if ok})


@pytest.mark.parametrize("state,min_len,max_len", CASES)
def test_reported_reverse_is_the_probability_of_proposing_it(lm, objective, state, min_len, max_len):
    proposal = ts.proposals.EditProposal(lm, top_k=3, uniform_mix=0.2, min_len=min_len, max_len=max_len)
    check_reverse_probabilities(proposal, objective, state, min_len, max_len)


def test_reported_reverse_with_masked_lm_candidates(objective):
    mlm = make_tiny_mlm(vocab_size=11, seed=4)
    state, min_len, max_len = CASES[0]
    proposal = ts.proposals.EditProposal(mlm, top_k=3, uniform_mix=0.2, min_len=min_len, max_len=max_len)
    check_reverse_probabilities(proposal, objective, state, min_len, max_len)


def ways(x: State, y: State) -> int:
    """How many (place, token) moves turn x into y ("a b" → "a a b" by inserting "a" in gap 0 or 1)."""
    if len(y) == len(x) + 1:
        return sum(x.insert(g, y.tokens[g]) == y for g in range(x.num_gaps))
    if len(y) == len(x) - 1:
        return sum(x.delete(i) == y for i in x.editable)
    return len(x.editable) if y == x else 1


BLANK_CASES = [  # locked text around free tokens: the gaps between two locked tokens stay shut
    (State((5, 7, 6, 8, 9), (True, False, False, True, True)), 1, 6, {"replace", "insert", "delete"}),
    (State((7, 8), (True, False)), 1, 4, {"replace", "insert"}),   # deleting the free token: no way back
    (State((5, 7, 8), (True, False, True)), 1, 3, {"replace"}),      # at max_len, the only free token
]


@pytest.mark.parametrize("state,min_len,max_len,kinds", BLANK_CASES)
def test_reported_reverse_when_inserts_stay_beside_editable_tokens(lm, objective, state, min_len, max_len, kinds):
    proposal = ts.proposals.EditProposal(lm, top_k=3, uniform_mix=0.2, min_len=min_len, max_len=max_len,
                                         inserts="beside_editable")
    check_reverse_probabilities(proposal, objective, state, min_len, max_len, kinds)
    move = propose_from(proposal, objective, state, copies=400, seed=3)
    before = [i for i, lock in enumerate(state.locked) if lock]
    for y in move.states:                        # locked neighbours stay neighbours
        after = [i for i, lock in enumerate(y.locked) if lock]
        assert [y.tokens[i] for i in after] == [state.tokens[i] for i in before]
        assert all(b - a == 1 for (a, b), (c, d) in zip(zip(after, after[1:]), zip(before, before[1:])) if d - c == 1)


def test_mh_with_inserts_beside_editable_tokens_samples_the_target(lm, objective):
    """Locked "the … sat" around one or two free tokens: 42 states, none with text outside the blank."""
    first, last = 5, 9
    sequences = [(first, *middle, last) for n in (1, 2) for middle in itertools.product(WORDS, repeat=n)]
    table = dict(zip(sequences, objective([list(s) for s in sequences]).tolist()))
    exact = exact_distribution(table)
    init = State((first, 6, last), (True, False, True))
    proposal = ts.proposals.EditProposal(lm, top_k=3, uniform_mix=0.1, min_len=3, max_len=4, inserts="beside_editable")
    sampler = ts.samplers.MetropolisHastings(proposal, steps=1200, chains=64, burn_in=200, thin=2, seed=0)
    check = check_markov(sampler.run(objective, init=init, progress=False), exact, "EditProposal beside_editable")
    assert check.passed, check


@pytest.mark.parametrize("probs", [(1, 0, 0), (0, 1, 0), (0, 0, 1), (0.2, 0.5, 0.3)])
def test_proposal_frequencies_match_reported_forward_probabilities(lm, objective, probs):
    x = State((5, 7, 8), (False, True, False))
    proposal = ts.proposals.EditProposal(lm, top_k=3, uniform_mix=0.2, max_len=4, p_replace=probs[0],
                                         p_insert=probs[1], p_delete=probs[2])
    n = 4000
    move = propose_from(proposal, objective, x, copies=n, seed=2)
    observed, expected = {}, {}
    for y, f in zip(move.states, move.log_q_forward.tolist()):
        observed[y, round(f, 9)] = observed.get((y, round(f, 9)), 0) + 1
        expected[y, round(f, 9)] = n * math.exp(f)
    # moves reached in one way only are checked one by one; the rest, seen or not, share one bin
    single = [k for k in observed if ways(x, k[0]) == 1 and expected[k] >= 5]
    obs = [observed[k] for k in single] + [n - sum(observed[k] for k in single)]
    exp = [expected[k] for k in single] + [n - sum(expected[k] for k in single)]
    assert len(single) >= 2 and exp[-1] > -1e-6          # the reported probabilities sum to at most 1
    if exp[-1] < 1e-6:                                     # nothing left over
        assert obs.pop() == 0 and exp.pop() < 1e-6
    assert stats.chisquare(obs, exp).pvalue > 1e-3


def keyword_target(objective, max_len: int) -> dict[tuple, float]:
    """The exact target over every sequence of the six words up to max_len that holds the key.

    A State is tokens plus lock mask, so a sequence with the key twice is two States.
    """
    sequences = [seq for n in range(1, max_len + 1) for seq in itertools.product(WORDS, repeat=n) if KEY in seq]
    table = dict(zip(sequences, objective([list(s) for s in sequences]).tolist()))
    return exact_distribution(table, multiplicity=lambda seq: seq.count(KEY))


def test_mh_with_exact_edits_samples_the_target_and_cgmh_does_not(lm, objective):
    exact = keyword_target(objective, max_len=3)                     # 91 sequences, 121 States
    init = State((KEY,), (True,))
    checks = {}
    for mode, steps, chains in (("exact", 1200, 64), ("cgmh", 500, 32)):     # cgmh is far off: fewer steps do
        proposal = ts.proposals.EditProposal(lm, top_k=3, uniform_mix=0.1, max_len=3, mode=mode)
        sampler = ts.samplers.MetropolisHastings(proposal, steps=steps, chains=chains, burn_in=200, thin=2, seed=0)
        checks[mode] = check_markov(sampler.run(objective, init=init, progress=False), exact, f"EditProposal {mode}")
    assert checks["exact"].passed, checks["exact"]
    assert checks["cgmh"].tv > 2 * checks["cgmh"].tolerance and checks["cgmh"].p_value < 1e-6, checks["cgmh"]


def test_locked_tokens_are_never_replaced_or_deleted(lm, objective):
    state = State((5, 7, 8, 6), (True, False, True, False))
    proposal = ts.proposals.EditProposal(lm, top_k=4, max_len=6)
    move = propose_from(proposal, objective, state, copies=500, seed=3)
    for y in move.states:
        assert [t for t, lock in zip(y.tokens, y.locked) if lock] == [5, 8]


def test_energies_come_from_one_objective_call_and_match_the_target(lm, objective):
    proposal = ts.proposals.EditProposal(lm, top_k=3, max_len=5)
    states = [State((5, 7, 8), (False, True, False)), State((7,), (True,)), State((9, 7), (False, True))] * 4
    target = Target(objective, torch.full((len(states),), T, dtype=torch.float64), None, torch.Generator().manual_seed(4))
    energies = target.energy(states)
    calls = target.calls
    move = proposal.propose(states, energies, target)
    assert target.calls == calls + 1
    # the model may sum a sentence's log-probs in another order when it reuses kept states
    torch.testing.assert_close(move.energies, objective([list(y.tokens) for y in move.states]), atol=1e-4, rtol=0)


def test_temperature_zero_only_goes_downhill(lm, objective):
    proposal = ts.proposals.EditProposal(lm, top_k=3, max_len=5)
    states = [State((5, 7, 8), (False, True, False))] * 8
    target = Target(objective, torch.zeros(8, dtype=torch.float64), None, torch.Generator().manual_seed(5))
    energies = target.energy(states)
    for _ in range(10):
        states, new, info = mh_step(proposal, states, energies, target)
        assert (new <= energies).all()
        energies = new


@pytest.mark.parametrize("kwargs,match", [
    (dict(top_k=0), "top_k"),
    (dict(p_replace=0.5, p_insert=0.5, p_delete=0.5), "sum to 1"),
    (dict(p_replace=-0.2, p_insert=0.6, p_delete=0.6), ">= 0"),
    (dict(mode="gibbs"), "mode"),
    (dict(uniform_mix=1.0), "uniform_mix"),
    (dict(min_len=3, max_len=2), "min_len"),
])
def test_bad_arguments_are_refused(lm, kwargs, match):
    with pytest.raises(ValueError, match=match):
        ts.proposals.EditProposal(lm, **kwargs)


def test_a_state_with_no_possible_edit_stays(lm, objective):
    state = State((KEY,), (True,))                          # nothing editable, and already at max_len
    move = propose_from(ts.proposals.EditProposal(lm, max_len=1), objective, state, copies=3, seed=0)
    assert move.states == [state] * 3 and move.kinds == ["stay"] * 3
    assert move.log_q_forward.tolist() == move.log_q_reverse.tolist() == [0.0] * 3


def test_a_state_beyond_max_len_is_refused(lm, objective):
    proposal = ts.proposals.EditProposal(lm, max_len=2)
    with pytest.raises(ValueError, match="max_len"):
        propose_from(proposal, objective, State((5, 6, 7)), copies=1, seed=0)


@pytest.mark.slow
def test_edits_turn_keywords_into_a_sentence_with_the_default_lm(default_lm):
    keywords = ts.objectives.Keywords(["dog", "frisbee", "catch"], tokenizer=default_lm.tokenizer)
    energy = ts.objectives.Fluency(default_lm, gamma=0.8) + keywords
    ids = default_lm.encode("dog frisbee catch")
    start = State(tuple(ids), (True,) * len(ids))
    start_energy = energy([ids]).item()
    proposal = ts.proposals.EditProposal(default_lm, top_k=10, max_len=20)
    result = ts.samplers.MetropolisHastings(proposal, steps=150, chains=2, seed=0).run(energy, init=start,
                                                                                      progress=False)
    print(f"start {start_energy:.2f}; best {result.best.energy:.2f} {result.best.text!r}; "
          f"acceptance {result.acceptance_rate:.2f} {result.acceptance_by_move}")
    assert math.isfinite(keywords([result.best.tokens]).item())          # all three words are there
    assert result.best.energy < start_energy - 6                         # e^6 ≈ 400 times likelier at T=1
