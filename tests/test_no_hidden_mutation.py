"""What the engine changes it changes on its own copies or when asked: a model you pass in stays as it is."""
from __future__ import annotations

import torch

import textsearch as ts
from conftest import make_tiny_lm


def plain_linears(model) -> int:
    return sum(type(module) is torch.nn.Linear for module in model.modules())


def test_a_model_passed_in_keeps_its_layers_and_attention():
    tiny = make_tiny_lm()
    model, tokenizer = tiny.model, tiny.tokenizer
    linears, attention = plain_linears(model), model.config._attn_implementation
    lm = ts.lm.CausalLM(model, tokenizer, device="cpu")
    assert plain_linears(lm.model) == linears and lm.model.config._attn_implementation == attention
    lm.log_prob(["the cat sat"])
    assert plain_linears(model) == linears and model.config._attn_implementation == attention


def test_the_cpu_kernels_switch_is_explicit():
    tiny = make_tiny_lm()
    lm = ts.lm.CausalLM(tiny.model, tiny.tokenizer, device="cpu", cpu_kernels=True)
    assert plain_linears(lm.model) == 0
    assert lm.model.config._attn_implementation == "textsearch_blocks"


def test_searches_taking_turns_leave_the_callers_thread_setting():
    lm = make_tiny_lm()
    threads = torch.get_num_threads()
    try:
        with lm.taking_turns() as turns:
            torch.set_num_threads(1)
            turns.run([lambda: lm.log_prob(["the cat"]), lambda: lm.log_prob(["a dog ran"])])
            assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)


def test_plain_scoring_is_a_constructor_argument():
    lm = make_tiny_lm(token_trees=False)
    rows = [[5, 6, 7, 8], [9, 10]]
    start = lm.stats.tokens
    lm.token_log_probs(rows)
    assert lm.stats.tokens - start == 2 * 5                 # padded rows: start token + the longest row, twice
    torch.testing.assert_close(torch.stack([t.sum() for t in lm.token_log_probs(rows)]),
                               make_tiny_lm().log_prob(rows), atol=1e-5, rtol=0)


def test_a_token_budget_given_is_the_trees_budget_too():
    lm = make_tiny_lm(token_budget=2048)
    rows = [[5 + (i * 7 + j) % 25 for j in range(10)] for i in range(80)]        # about 700 tree nodes
    start = lm.stats.forwards
    lm.token_log_probs(rows)
    assert lm.tree_tokens == 2048 and lm.stats.forwards - start == 1


def test_a_mixture_of_language_model_moves_keeps_the_models_states():
    lm = make_tiny_lm()
    proposal = ts.proposals.Mixture([(ts.proposals.EditProposal(lm, top_k=4, max_len=8), 1.0),
                                     (ts.proposals.TopKConditional(lm, top_k=4), 1.0)])
    kept = []
    sampler = ts.samplers.MetropolisHastings(proposal, steps=4, chains=2, seed=0)
    sampler.run(ts.objectives.Fluency(lm), init=[5, 6, 7], callback=lambda *args: kept.append(lm.store is not None),
                progress=False)
    assert kept == [True] * 4 and lm.store is None


def test_an_objective_that_reads_text_takes_text_without_a_tokenizer():
    energies = ts.objectives.Keywords(["dog"])(["The dog ran.", "A cat sat."])
    assert energies.tolist() == [0.0, float("inf")]
    assert ts.objectives.SentenceForm()(["The dog ran.", "the dog ran"]).tolist() == [0.0, 8.0]
