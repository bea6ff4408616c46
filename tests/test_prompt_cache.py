"""run_prompts: a prompt's opening runs once; every prompt then runs its rest on that cache."""
import weakref

import pytest
import torch
from conftest import make_tiny_lm

import textsearch as ts
from textsearch.lm.kv import returned_cache, with_cache
from textsearch.lm.base import Stats
from textsearch.lm.prompts import Openings, laid_end_to_end, run_prompts as run_with
from textsearch.lm.tree import additive_mask

CPU = torch.device("cpu")
OPENINGS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def run_prompts(model, prompts, opening, device):
    """`run_with`, each model keeping its opening as its wrapper would."""
    return run_with(model, prompts, opening, device, OPENINGS.setdefault(model, Openings()), Stats())


def widths(model):
    """Record the input width of every forward of `model`."""
    seen = []
    model.register_forward_pre_hook(lambda module, args, kwargs: seen.append(kwargs["input_ids"].shape[1]),
                                    with_kwargs=True)
    return seen


def full(model, tokens):
    out = model(input_ids=torch.tensor([tokens]), use_cache=True)
    return returned_cache(out), out.logits[:, -1]


def test_the_opening_runs_once_and_every_prompt_matches_a_full_forward():
    model = make_tiny_lm(seed=3).model
    seen = widths(model)
    prompts = [[1, 5, 6, 7, 8, 11], [1, 5, 6, 7, 9], [1, 5, 6, 7, 8, 11]]
    with torch.inference_mode():
        for tokens in prompts:
            cache, last = run_prompts(model, [tokens], 4, CPU)
            ref_cache, ref_last = full(model, tokens)
            assert torch.allclose(last, ref_last, atol=1e-5)
            step = torch.tensor([[4]])        # the returned cache carries on like the full one, and is the caller's
            after = model(input_ids=step, **with_cache(model, cache), use_cache=True).logits[:, -1]
            ref_after = model(input_ids=step, **with_cache(model, ref_cache), use_cache=True).logits[:, -1]
            assert torch.allclose(after, ref_after, atol=1e-5)
    # per prompt: [the opening, first time only], its rest, the full reference, the two steps
    assert seen == [4, 2, 6, 1, 1] + [1, 5, 1, 1] + [2, 6, 1, 1]


def test_results_do_not_depend_on_the_prompts_run_before():
    model = make_tiny_lm(seed=3).model
    with torch.inference_mode():
        alone = run_prompts(model, [[1, 5, 6, 7, 9]], 3, CPU)[1]
        run_prompts(model, [[1, 5, 6, 2, 2, 2]], 3, CPU)
        run_prompts(model, [[1, 5, 8, 7, 9]], 3, CPU)                   # another opening replaces the kept one
        assert torch.equal(run_prompts(model, [[1, 5, 6, 7, 9]], 3, CPU)[1], alone)


def test_prompts_run_together_match_each_run_alone():
    model = make_tiny_lm(seed=3).model
    prompts = [[1, 5, 6, 7, 8, 11, 4], [1, 5, 6, 9], [1, 5, 6, 7, 8]]
    with torch.inference_mode():
        cache, last = run_prompts(model, prompts, 3, CPU)
        assert cache.get_seq_length() == 7                        # right-padded to the longest
        for i, tokens in enumerate(prompts):
            ref_cache, ref_last = full(model, tokens)
            assert torch.allclose(last[i], ref_last[0], atol=1e-5)
            keys = cache.layers[0].keys[i, :, :len(tokens)]         # its own columns hold its prompt's keys
            assert torch.allclose(keys, ref_cache.layers[0].keys[0], atol=1e-5)


def test_prompts_that_open_differently_are_refused():
    with pytest.raises(ValueError, match="share"):
        run_prompts(make_tiny_lm().model, [[1, 5, 6], [1, 7, 6]], 2, CPU)


def test_an_opening_that_leaves_nothing_to_run_is_refused():
    with pytest.raises(ValueError, match="opening"):
        run_prompts(make_tiny_lm().model, [[1, 5]], 2, CPU)


def test_lm_sampler_with_an_opening_draws_what_it_draws_without():
    lm = make_tiny_lm(seed=2)
    plain = ts.proposals.LMSampler(lm, prompt="the cat sat on", max_new_tokens=4)
    opened = ts.proposals.LMSampler(lm, prompt="the cat sat on", max_new_tokens=4, opening="the cat")
    assert plain.opening == 0 and opened.opening == 3              # start token, "the", "cat"
    a, log_a = plain.sample(20, torch.Generator().manual_seed(0))
    b, log_b = opened.sample(20, torch.Generator().manual_seed(0))
    assert a == b and torch.allclose(log_a, log_b, atol=1e-5)
    assert ts.proposals.LMSampler(lm, prompt="the cat sat", opening="a dog").opening == 0


def test_prompts_laid_end_to_end_continue_as_each_alone():
    """One row holding the opening once and each prompt's rest: a token after each prompt, attending to
    the columns its prompt sees, gets the logits of that prompt run whole."""
    model = make_tiny_lm(seed=3).model
    prompts = [[1, 5, 6, 7, 8, 11], [1, 5, 6, 7, 9], [1, 5, 6, 12]]
    with torch.inference_mode():
        cache, _ = run_prompts(model, prompts, 3, CPU)
        row, seen = laid_end_to_end(cache, [len(p) for p in prompts], 3)
        width = row.get_seq_length()
        assert width == 3 + 3 + 2 + 1 and seen[1] == [(0, 3), (6, 8)]
        allowed = torch.zeros((3, width + 3), dtype=torch.bool)
        for i, spans in enumerate(seen):
            for left, right in spans:
                allowed[i, left:right] = True
            allowed[i, width + i] = True
        got = model(input_ids=torch.tensor([[4, 4, 4]]), **with_cache(model, row), use_cache=True,
                    attention_mask=additive_mask(allowed, torch.float32, CPU),
                    position_ids=torch.tensor([[len(p) for p in prompts]])).logits[0]
        for logits, prompt in zip(got, prompts):
            torch.testing.assert_close(logits, model(input_ids=torch.tensor([prompt + [4]])).logits[0, -1],
                                       atol=1e-5, rtol=0)
