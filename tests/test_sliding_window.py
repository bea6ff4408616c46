"""A model with sliding-window layers scores trees and draws drafts like any other: the caches built
here keep every column, and the attention mask says which keys a token sees."""
import torch
from conftest import make_tiny_tokenizer
from transformers import Gemma3ForCausalLM, Gemma3TextConfig

import textsearch as ts
from textsearch.proposals.lm_sampler import sample_together

WINDOW = 24       # longer than every row here, so a window changes no score; shorter than the caches


def sliding_lm() -> ts.lm.CausalLM:
    tokenizer = make_tiny_tokenizer(40)
    config = Gemma3TextConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                              num_attention_heads=2, num_key_value_heads=1, head_dim=8, initializer_range=0.5,
                              sliding_window=WINDOW, layer_types=["sliding_attention", "full_attention"],
                              bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                              pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    return ts.lm.CausalLM(Gemma3ForCausalLM(config).eval(), tokenizer, device="cpu")


def test_trees_longer_than_the_window_keep_their_states():
    lm = sliding_lm()
    assert lm.can_keep
    rows = [[5 + (i * 7 + j) % 30 for j in range(12)] for i in range(8)]          # 96 tokens, far over the window
    plain = lm.token_log_probs(rows)
    with lm.session():
        kept = lm.token_log_probs(rows)
        assert len(lm.store) == len(rows)
        again = lm.token_log_probs([row[:6] + [9] + row[7:] for row in rows])      # from the kept states
    padded = ts.lm.CausalLM(lm.model, lm.tokenizer, token_trees=False).token_log_probs([row[:6] + [9] + row[7:] for row in rows])
    for a, b in zip(plain + again, kept + padded):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def test_prompts_drawn_together_past_the_window_draw_what_each_draws_alone():
    lm = sliding_lm()
    samplers = [ts.proposals.LMSampler(lm, prompt=p, max_new_tokens=6, temperature=1.5, stop_at=[])
                for p in ["the a", "cat sat", "the dog ran"]]
    together = sample_together(samplers, 12, [torch.Generator().manual_seed(k) for k in range(3)])
    for k, sampler in enumerate(samplers):
        tokens, log_q = sampler.sample(12, torch.Generator().manual_seed(k))
        assert together[k][0] == tokens
        torch.testing.assert_close(together[k][1], log_q, atol=1e-5, rtol=0)
