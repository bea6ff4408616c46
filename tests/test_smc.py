"""SMC: the weighted particles are draws of the exact target, log Ẑ is unbiased, and a wrong
weight is caught, on a tiny real LM whose continuations can be enumerated."""
from __future__ import annotations

import math

import pytest
import torch

import textsearch as ts
from textsearch.samplers.resampling import resample
from textsearch.testing import all_sequences, check_weighted, random_table, table_objective

from conftest import make_tiny_lm

CONTEXT = [5, 6]            # "the a"
WORDS = (5, 6, 7)           # the vocabulary's ordinary tokens: the, a, cat
LIMIT = 3


@pytest.fixture(scope="module")
def lm():
    return make_tiny_lm(vocab_size=8, seed=3)


def space():
    return [tuple(WORDS[i] for i in seq) for seq in all_sequences(3, range(1, LIMIT + 1))]


def unnormalised(lm, table, allowed=lambda seq: True, beta: float = 1.0) -> dict[tuple, float]:
    """π̃(x) = p(x, EOS | context)^β · exp(−E(x)): the end is scored at the length limit too."""
    seqs = [s for s in space() if allowed(s)]
    log_p = lm.log_prob([list(s) + [lm.eos_id] for s in seqs], context=CONTEXT)
    return {s: math.exp(beta * lp - table[s]) for s, lp in zip(seqs, log_p.tolist()) if math.isfinite(table[s])}


def one_draw_per_run(lm, objective, runs: int, **settings):
    """One particle per run, drawn by its weight, and the run's Ẑ: independent draws weighted by Ẑ."""
    q = ts.proposals.LMSampler(lm, prompt=CONTEXT, max_new_tokens=LIMIT, stop_at=(),
                               temperature=settings.pop("temperature", 1.0))
    draws, z = [], []
    for seed in range(runs):
        result = ts.samplers.SMC(q, seed=seed, **settings).run(objective, progress=False)
        pick = resample(result.log_weights, "multinomial", torch.Generator().manual_seed(seed))[0]
        draws.append(tuple(result.samples[pick].tokens))
        z.append(math.exp(result.log_normalizer))
    return draws, torch.tensor(z, dtype=torch.float64)


def table():
    values = random_table(3, range(1, LIMIT + 1), seed=1, scale=1.0)
    return {tuple(WORDS[i] for i in seq): e for seq, e in values.items()}


@pytest.mark.parametrize("settings", [dict(particles=8, ess_threshold=1.0, resampling="systematic"),
                                      dict(particles=8, ess_threshold=0.5, resampling="multinomial",
                                           temperature=1.7)])
def test_smc_draws_match_the_exact_target_and_its_normaliser(lm, settings):
    energies = table()
    exact = unnormalised(lm, energies)
    total = sum(exact.values())
    draws, z = one_draw_per_run(lm, table_objective(energies), runs=600, **settings)
    check = check_weighted(draws, z, {s: p / total for s, p in exact.items()}, "SMC")
    assert check.passed, check
    assert abs(z.mean() - total) < 3 * z.std() / math.sqrt(len(z)), (z.mean(), total)


@pytest.mark.parametrize("temperature", [0.4, 1.0])
def test_a_sharpened_target_is_met_whatever_the_proposal_temperature(lm, temperature):
    energies = table()
    exact = unnormalised(lm, energies, beta=2.5)
    total = sum(exact.values())
    draws, z = one_draw_per_run(lm, table_objective(energies), runs=600, particles=8, beta=2.5,
                                temperature=temperature)
    check = check_weighted(draws, z, {s: p / total for s, p in exact.items()}, "SMC, beta 2.5")
    assert check.passed, check
    assert abs(z.mean() - total) < 3 * z.std() / math.sqrt(len(z)), (z.mean(), total)
    plain = unnormalised(lm, energies)
    assert not check_weighted(draws, z, {s: p / sum(plain.values()) for s, p in plain.items()}, "β ignored").passed


def test_keyword_twist_keeps_the_target(lm):
    energies = table()
    keywords = ts.objectives.Keywords(["cat"])
    objective = table_objective(energies) + keywords
    has_cat = lambda seq: 7 in seq
    exact = unnormalised(lm, energies, has_cat)
    total = sum(exact.values())
    twist = ts.samplers.KeywordTwist(lm, ["cat"], bonus=2.0)
    draws, z = one_draw_per_run(lm, objective, runs=600, particles=8, twist=twist)
    assert all(has_cat(d) for d in draws)
    check = check_weighted(draws, z, {s: p / total for s, p in exact.items()}, "SMC with a keyword twist")
    assert check.passed, check
    assert abs(z.mean() - total) < 3 * z.std() / math.sqrt(len(z)), (z.mean(), total)


class NoStopAtOne(ts.samplers.Twist):
    """A twist that breaks its contract: forbids one-token sentences, which the target allows."""

    def may_stop(self, prefixes):
        return torch.tensor([len(p) != 1 for p in prefixes])


def test_a_wrong_weight_is_caught(lm):
    energies = table()
    exact = unnormalised(lm, energies)
    total = sum(exact.values())
    draws, z = one_draw_per_run(lm, table_objective(energies), runs=600, particles=8, twist=NoStopAtOne())
    check = check_weighted(draws, z, {s: p / total for s, p in exact.items()}, "SMC, wrong twist")
    assert not check.passed, check


def test_rejuvenation_keeps_the_particles_on_target(lm):
    energies = table()
    exact = unnormalised(lm, energies)
    total = sum(exact.values())
    q = ts.proposals.LMSampler(lm, prompt=CONTEXT, max_new_tokens=LIMIT, stop_at=())
    moves = ts.proposals.UniformEdit(vocab_size=8, min_len=1, max_len=LIMIT)
    everywhere = {seq: energies.get(seq, math.inf) for seq in all_sequences(8, range(1, LIMIT + 1))}
    draws, z = [], []
    for seed in range(300):
        result = ts.samplers.SMC(q, particles=8, rejuvenate=moves, rejuvenate_steps=3, seed=seed).run(
            table_objective(everywhere), progress=False)
        assert torch.allclose(result.weights(), torch.full((8,), 1 / 8, dtype=torch.float64))
        draws.append(tuple(result.samples[0].tokens))
        z.append(math.exp(result.log_normalizer))
    check = check_weighted(draws, torch.tensor(z), {s: p / total for s, p in exact.items()},
                           "SMC with rejuvenation")
    assert check.passed, check


def test_smc_refuses_a_cut_proposal_and_init(lm):
    with pytest.raises(ValueError, match="top_k=None"):
        ts.samplers.SMC(ts.proposals.LMSampler(lm, top_k=4))
    with pytest.raises(ValueError, match="beta must be a positive number"):
        ts.samplers.SMC(ts.proposals.LMSampler(lm), beta=0)
    smc = ts.samplers.SMC(ts.proposals.LMSampler(lm, max_new_tokens=2))
    with pytest.raises(ValueError, match="init is not used"):
        smc.run(table_objective(table()), init=[5])


def test_fluency_with_a_context_scores_the_sentence_after_it(lm):
    fluency = ts.objectives.Fluency(lm, gamma=1.0, context=CONTEXT)
    joined = lm.log_prob([CONTEXT + [7, 5, lm.eos_id]]) - lm.log_prob([CONTEXT])
    assert fluency([[7, 5]]).item() == pytest.approx(-joined.item(), rel=1e-5)
    stops = ts.objectives.Fluency(lm, gamma=1.0, context=CONTEXT, end=[lm.eos_id, 6])
    after = lm.next_token_log_probs([CONTEXT + [7, 5]])[0]
    expected = lm.log_prob([CONTEXT + [7, 5]]) - lm.log_prob([CONTEXT]) + torch.logsumexp(after[[lm.eos_id, 6]].double(), 0)
    assert stops([[7, 5]]).item() == pytest.approx(-expected.item(), rel=1e-5)


def test_a_one_sentence_keyword_twist_drops_only_prefixes_that_ran_on(default_lm):
    """A prefix weighs 0 once a second sentence has begun (every continuation then runs on too), and
    not before: a full stop alone, or a lowercase word after it, is no second sentence yet."""
    twist = ts.samplers.KeywordTwist(default_lm, ["dog"], one_sentence=True)
    texts = [" A dog ran.", " A dog ran. ", " A dog ran. He", " A dog ran. he said", " The dog ran! Then it sat"]
    values = twist.log_potential([default_lm.encode(t) for t in texts], room=20).tolist()
    assert values[:2] == [0.0, 0.0] and values[3] == 0.0
    assert values[2] == values[4] == -math.inf
    assert ts.objectives.OneSentence()(texts).tolist() == [0.0, 0.0, math.inf, 0.0, math.inf]
    plain = ts.samplers.KeywordTwist(default_lm, ["dog"])
    assert plain.log_potential([default_lm.encode(texts[2])], room=20).tolist() == [0.0]
