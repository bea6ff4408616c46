"""The LM-driven conditionals and the LM sequence sampler, on tiny random models (and the real one, slow)."""
import itertools
import math

import pytest
import torch
from conftest import _seeded, make_tiny_lm, make_tiny_mlm, make_tiny_tokenizer
from exact_targets import check_markov, compare, exact_distribution, single_thread  # noqa: F401

import textsearch as ts
from textsearch.lm.vocabulary import ordinary_tokens
from textsearch.lm.drafting import BLOCK, draw_tokens
from textsearch.proposals.lm_sampler import sample_together
from textsearch.state import State
from textsearch.target import Target

WORDS, KEY = list(range(5, 11)), 7          # the a cat dog sat ran; "cat" is locked
SAT, EOS = 9, 3
START = State((5, KEY, 6), (False, True, False))


@pytest.fixture(scope="module")
def lm():
    return make_tiny_lm(vocab_size=11, seed=3)


@pytest.fixture(scope="module")
def mlm():
    return make_tiny_mlm(vocab_size=11, seed=4)


@pytest.fixture(scope="module")
def objective(lm):
    return ts.objectives.FromFunction(lambda tokens: (-lm.log_prob(tokens)).tolist(), tokenizer=lm.tokenizer)


T = 2.5       # flattens the target, so that more states carry weight


def middle_locked_target(objective) -> dict[tuple, float]:
    """Every "w cat w" with the middle token locked (36 states), at temperature T."""
    sequences = [(a, KEY, b) for a in WORDS for b in WORDS]
    return exact_distribution(dict(zip(sequences, objective([list(s) for s in sequences]).tolist())), temperature=T)


def test_topk_conditional_in_gibbs_samples_the_target(lm, objective):
    conditional = ts.proposals.TopKConditional(lm, top_k=2, uniform_mix=0.1)
    sampler = ts.samplers.Gibbs(conditional, steps=500, chains=24, burn_in=100, thin=2, seed=0, temperature=T)
    result = sampler.run(objective, init=START, progress=False)
    assert check_markov(result, middle_locked_target(objective), "Gibbs TopKConditional").passed
    assert result.acceptance_rate < 1                   # a shortlist of 2 out of 6 needs the MH correction


def test_mlm_conditional_always_accepts_and_moves(mlm, objective):
    sampler = ts.samplers.Gibbs(ts.proposals.MLMConditional(mlm, top_k=3), steps=60, chains=4, seed=0)
    result = sampler.run(objective, init=START, progress=False)
    assert result.acceptance_rate == 1.0
    assert len({tuple(s.tokens) for s in result.samples}) > 5
    assert all(s.tokens[1] == KEY for s in result.samples)


def test_mlm_conditional_with_mh_correction_samples_the_target(mlm, objective):
    conditional = ts.proposals.MLMConditional(mlm, temperature=2.0, mh_correction=True)
    sampler = ts.samplers.Gibbs(conditional, steps=500, chains=24, burn_in=100, thin=2, seed=0, temperature=T)
    result = sampler.run(objective, init=START, progress=False)
    assert check_markov(result, middle_locked_target(objective), "Gibbs MLMConditional, MH-corrected").passed
    assert result.acceptance_rate < 1


def test_mlm_conditional_reports_the_tempered_top_k_masked_distribution(mlm, objective):
    conditional = ts.proposals.MLMConditional(mlm, top_k=4, temperature=0.7)
    states = [State((5, 6, 7, 8), (False, False, True, False))] * 40
    positions = [0, 1, 3, None] * 10
    target = Target(objective, torch.ones(40, dtype=torch.float64), None, torch.Generator().manual_seed(0))
    move = conditional.propose_at(states, positions, target.energy(states), target)
    rows = [c for c, i in enumerate(positions) if i is not None]
    logits = mlm.masked_logits([list(states[c].tokens) for c in rows], [positions[c] for c in rows]).double()
    log_p = (logits.masked_fill(~ordinary_tokens(mlm), -math.inf) / 0.7).log_softmax(-1)
    kept = log_p.topk(4, dim=-1)
    log_q = torch.full_like(log_p, -math.inf).scatter(-1, kept.indices, kept.values.log_softmax(-1))
    for row, c in enumerate(rows):
        i = positions[c]
        assert move.log_q_forward[c].item() == pytest.approx(log_q[row, move.states[c].tokens[i]].item(), abs=1e-5)
        assert move.log_q_reverse[c].item() == pytest.approx(log_q[row, states[c].tokens[i]].item(), abs=1e-5)
        assert move.states[c].tokens[:i] + move.states[c].tokens[i + 1:] == states[c].tokens[:i] + states[c].tokens[i + 1:]
    assert all(move.states[c] == states[c] and move.kinds[c] == "stay" for c in range(3, 40, 4))


def reference_log_q(lm, context: list[int], continuation: list[int], max_new_tokens: int, temperature: float,
                    top_k: int | None, stops: list[int]) -> float:
    """log q of a returned continuation, one full (uncached) forward per token."""
    allowed = ordinary_tokens(lm)
    allowed[stops] = True

    def step(prefix):
        log_p = lm.next_token_log_probs([context + prefix])[0].double().masked_fill(~allowed, -math.inf)
        log_p = (log_p / temperature).log_softmax(-1)
        if top_k is not None:
            kept = log_p.topk(top_k)
            log_p = torch.full_like(log_p, -math.inf).scatter(0, kept.indices, kept.values.log_softmax(-1))
        return log_p

    total = sum(step(continuation[:j])[t].item() for j, t in enumerate(continuation))
    if len(continuation) < max_new_tokens:
        total += step(continuation)[stops].logsumexp(0).item()
    return total


def test_lm_sampler_log_q_is_the_probability_of_the_returned_tokens(lm):
    sampler = ts.proposals.LMSampler(lm, prompt="the a", max_new_tokens=4, temperature=0.8, top_k=4, stop_at=["sat"])
    assert sampler.tokenizer is lm.tokenizer
    tokens, log_q = sampler.sample(40, torch.Generator().manual_seed(0))
    assert len(tokens) == 40 and log_q.dtype == torch.float64
    assert any(len(t) < 4 for t in tokens) and any(len(t) == 4 for t in tokens)
    for continuation, value in zip(tokens, log_q.tolist()):
        assert all(t in WORDS and t != SAT for t in continuation)
        expected = reference_log_q(lm, [5, 6], continuation, 4, 0.8, 4, [EOS, SAT])
        assert value == pytest.approx(expected, abs=1e-4)


def test_lm_sampler_draws_follow_its_log_q(lm):
    sampler = ts.proposals.LMSampler(lm, max_new_tokens=2, temperature=1.3, stop_at=[SAT], batch_size=3000)
    go_on = [t for t in WORDS if t != SAT]
    outcomes = [tuple(seq) for n in range(3) for seq in itertools.product(go_on, repeat=n)]
    exact = {seq: math.exp(reference_log_q(lm, [], list(seq), 2, 1.3, None, [EOS, SAT])) for seq in outcomes}
    assert sum(exact.values()) == pytest.approx(1.0, abs=1e-5)     # the outcomes and their q are complete
    tokens, log_q = sampler.sample(6000, torch.Generator().manual_seed(1))
    for seq, value in zip(tokens[:50], log_q[:50].tolist()):
        assert value == pytest.approx(math.log(exact[tuple(seq)]), abs=1e-4)
    assert compare([tuple(t) for t in tokens], exact, len(tokens), "LMSampler draws").passed


def test_two_stage_draws_follow_each_nodes_distribution():
    """Blocks that do not divide the vocabulary, zero-mass tokens and blocks, rows on several nodes."""
    generator = torch.Generator().manual_seed(0)
    size = 2 * BLOCK + 40
    probs = torch.rand(2, size, generator=generator, dtype=torch.float64) ** 8     # a few tokens dominate
    probs[0, :BLOCK] = 0.0                                    # a block with no mass
    probs[1, 1::2] = 0.0                                      # tokens with no mass
    node = torch.tensor([0, 1, 1] * 4000)
    drawn = draw_tokens(probs, node, generator)
    for k in range(2):
        exact = dict(enumerate((probs[k] / probs[k].sum()).tolist()))
        draws = [(t,) for t in drawn[node == k].tolist()]
        assert compare(draws, {(t,): p for t, p in exact.items()}, len(draws), f"node {k}").passed


def test_gathered_attention_draws_what_dense_attention_draws():
    """Prompts with a shared opening drawn together on a model whose query heads share key/value heads:
    the draft steps' gathered attention draws the tokens, with the log q, that dense SDPA draws."""
    from transformers import LlamaConfig, LlamaForCausalLM
    tokenizer = make_tiny_tokenizer(11)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, initializer_range=0.5,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    grouped = ts.lm.CausalLM(_seeded(1, lambda: LlamaForCausalLM(config)), tokenizer, device="cpu", cpu_kernels=True)
    samplers = [ts.proposals.LMSampler(grouped, prompt=p, max_new_tokens=6, stop_at=[SAT], opening="the a")
                for p in ("the a cat", "the a dog ran")]
    layouts = []
    grouped.model.get_decoder().register_forward_pre_hook(
        lambda module, args, kwargs: layouts.append(kwargs.get("attention_gathered")), with_kwargs=True)
    generators = lambda: [torch.Generator().manual_seed(k) for k in range(2)]
    drawn = sample_together(samplers, 40, generators())
    steps = [layout for layout in layouts if layout is not None]
    assert steps and all(layout.shared >= 3 for layout in steps)        # the start and the opening, once for all
    grouped.model.config._attn_implementation = "sdpa"
    dense = sample_together(samplers, 40, generators())
    for (tokens, log_q), (dense_tokens, dense_log_q) in zip(drawn, dense):
        assert tokens == dense_tokens and max(map(len, tokens)) > 1
        torch.testing.assert_close(log_q, dense_log_q, atol=1e-5, rtol=0)


def test_samplers_drawn_together_draw_what_each_draws_alone(lm):
    prompts = ["the a", "cat", "the dog ran sat"]                  # different lengths, laid end to end in one row
    samplers = [ts.proposals.LMSampler(lm, prompt=p, max_new_tokens=5, temperature=0.9, stop_at=[SAT]) for p in prompts]
    together = sample_together(samplers, 30, [torch.Generator().manual_seed(k) for k in range(3)])
    for k, sampler in enumerate(samplers):
        tokens, log_q = sampler.sample(30, torch.Generator().manual_seed(k))
        assert together[k][0] == tokens and torch.allclose(together[k][1], log_q, atol=1e-5)
        assert any(len(t) < 5 for t in tokens) and any(len(t) == 5 for t in tokens)


def test_prompts_drawn_together_forward_their_real_nodes_alone(lm):
    """Prompts drawn together lay their nodes end to end in one row: each step forwards exactly the nodes
    the prompts drawn alone forward at that step, with no padding, and draws what they draw."""
    prompts = ["the a", "cat", "the dog ran sat"]
    samplers = [ts.proposals.LMSampler(lm, prompt=p, max_new_tokens=5, temperature=2.0, stop_at=[SAT]) for p in prompts]
    generators = [torch.Generator().manual_seed(k) for k in range(3)]

    def forwarded(draw):
        shapes = []
        hook = lm.model.get_decoder().register_forward_pre_hook(
            lambda m, args, kwargs: shapes.append(tuple(kwargs["input_ids"].shape)), with_kwargs=True)
        try:
            return draw(), shapes[1:]                                  # the first forward runs the prompts
        finally:
            hook.remove()

    together, steps = forwarded(lambda: sample_together(samplers, 20, [g.clone_state() for g in generators]))
    alone = [forwarded(lambda s=s, g=g: s.sample(20, g.clone_state())) for s, g in zip(samplers, generators)]
    widths = [[width for _, width in shapes] for _, shapes in alone]
    assert steps == [(1, sum(w[i] for w in widths if i < len(w))) for i in range(max(map(len, widths)))]
    assert len(steps) >= 3 and len({w[0] for w in widths}) > 1       # prompts with different node counts
    for (tokens, log_q), ((alone_tokens, alone_log_q), _) in zip(together, alone):
        assert tokens == alone_tokens
        torch.testing.assert_close(log_q, alone_log_q, atol=1e-5, rtol=0)


def test_rows_that_drew_alike_run_as_one_node(lm):
    """At a low temperature every row draws the same tokens: each step forwards one token, not 12, and
    none after the last draw."""
    sampler = ts.proposals.LMSampler(lm, prompt="the a", max_new_tokens=4, temperature=0.01, stop_at=[])
    widths = []
    handle = lm.model.get_decoder().register_forward_pre_hook(
        lambda m, args, kwargs: widths.append(kwargs["input_ids"].shape), with_kwargs=True)
    try:
        tokens, log_q = sampler.sample(12, torch.Generator().manual_seed(0))
        assert widths == [(1, 3)] + [(1, 1)] * 3                   # the prompt, then steps 1–3 (step 4 draws only)
        widths.clear()
        plain_lm = ts.lm.CausalLM(lm.model, lm.tokenizer, token_trees=False)    # the plain reference: a node per row
        plain_sampler = ts.proposals.LMSampler(plain_lm, prompt="the a", max_new_tokens=4, temperature=0.01, stop_at=[])
        plain = plain_sampler.sample(12, torch.Generator().manual_seed(0))
        assert widths[-3:] == [(1, 12)] * 3 and widths[-4] == (1, 3)      # after the wrapper's own check forward
    finally:
        handle.remove()
    assert len({tuple(t) for t in tokens}) == 1 and len(tokens[0]) == 4
    assert plain[0] == tokens and torch.allclose(plain[1], log_q, atol=1e-5)


def test_samplers_that_differ_in_more_than_the_prompt_are_refused(lm):
    a = ts.proposals.LMSampler(lm, prompt="the", temperature=1.0)
    b = ts.proposals.LMSampler(lm, prompt="cat", temperature=0.5)
    with pytest.raises(ValueError, match="every setting but the prompt"):
        sample_together([a, b], 2, [None, None])


@pytest.mark.parametrize("make,match", [
    (lambda lm, mlm: ts.proposals.TopKConditional(lm, top_k=0), "top_k"),
    (lambda lm, mlm: ts.proposals.TopKConditional(lm, uniform_mix=-0.1), "uniform_mix"),
    (lambda lm, mlm: ts.proposals.MLMConditional(mlm, temperature=0), "temperature"),
    (lambda lm, mlm: ts.proposals.MLMConditional(mlm, top_k=0), "top_k"),
    (lambda lm, mlm: ts.proposals.LMSampler(lm, max_new_tokens=0), "max_new_tokens"),
    (lambda lm, mlm: ts.proposals.LMSampler(lm, temperature=-1.0), "temperature"),
    (lambda lm, mlm: ts.proposals.LMSampler(lm, top_k=0), "top_k"),
    (lambda lm, mlm: ts.proposals.LMSampler(lm, prompt="the", chat=True), "chat template"),
])
def test_bad_arguments_are_refused(lm, mlm, make, match):
    with pytest.raises(ValueError, match=match):
        make(lm, mlm)


def test_a_model_that_is_not_a_language_model_is_refused():
    with pytest.raises(TypeError, match="expected a language model"):
        ts.proposals.EditProposal(object())


@pytest.mark.parametrize("conditional", ["topk", "mlm"])
def test_a_locked_position_is_refused(lm, mlm, objective, conditional):
    target = Target(objective, torch.ones(1, dtype=torch.float64), None, torch.Generator().manual_seed(0))
    proposal = ts.proposals.TopKConditional(lm) if conditional == "topk" else ts.proposals.MLMConditional(mlm)
    with pytest.raises(ValueError, match="locked"):
        proposal.propose_at([START], [1], target.energy([START]), target)


@pytest.mark.slow
def test_lm_sampler_on_the_default_model_matches_uncached_scores(default_lm):
    sampler = ts.proposals.LMSampler(default_lm, prompt="The dog", max_new_tokens=8)
    tokens, log_q = sampler.sample(4, torch.Generator().manual_seed(0))
    stops = sampler.stop.nonzero()[:, 0].tolist()                 # EOS and every token with a newline
    for continuation, value in zip(tokens, log_q.tolist()):
        expected = reference_log_q(default_lm, default_lm.encode("The dog"), continuation, 8, 1.0, None, stops)
        assert value == pytest.approx(expected, abs=1e-3)
    chat = ts.proposals.LMSampler(default_lm, prompt="Write one sentence about a dog.", chat=True, max_new_tokens=24)
    drafts, chat_log_q = chat.sample(3, torch.Generator().manual_seed(0))
    print([default_lm.decode(d) for d in drafts])
    assert all(drafts) and torch.isfinite(chat_log_q).all()


def test_added_placeholder_and_special_tokens_are_never_written():
    """A chat or multimodal tokenizer adds turn markers (marked special) and placeholders (Gemma's
    <start_of_image> is not marked special) without naming them among its special tokens; a proposal
    writes none of them, even where the model favours one, but keeps added text such as newline runs."""
    from tokenizers import AddedToken
    tokenizer = make_tiny_tokenizer(16)
    tokenizer.add_tokens([AddedToken("<turn>", special=True), AddedToken("<start_of_image>", special=False),
                          AddedToken("[multimodal]", special=False), AddedToken("\n\n", special=False),
                          AddedToken("hello", special=False)])
    turn, image, multimodal, newlines, hello = tokenizer.convert_tokens_to_ids(
        ["<turn>", "<start_of_image>", "[multimodal]", "\n\n", "hello"])
    assert not {turn, image, multimodal} & set(tokenizer.all_special_ids)
    lm = make_tiny_lm(tokenizer=tokenizer, seed=1)
    head = lm.model.get_output_embeddings()
    favoured = torch.nn.Linear(head.in_features, head.out_features, bias=True)
    with torch.no_grad():
        favoured.weight.copy_(head.weight)
        favoured.bias.zero_()
        favoured.bias[image] = 50.0                                    # the model all but always says <start_of_image>
    lm.model.set_output_embeddings(favoured)
    allowed = ordinary_tokens(lm)
    assert not allowed[[turn, image, multimodal]].any() and allowed[[newlines, hello]].all()
    sampler = ts.proposals.LMSampler(lm, prompt="the cat", max_new_tokens=6)
    tokens, _ = sampler.sample(64, torch.Generator().manual_seed(0))
    assert tokens and not any(image in row for row in tokens)
    assert lm.next_token_log_probs([[lm.start_id]])[0].argmax().item() == image
