"""Block attention: each block of queries over the keys it sees gives the dense masked attention."""
from __future__ import annotations

import random

import torch
from transformers.integrations import sdpa_attention

from textsearch.lm import attention
from textsearch.lm.attention import NAME, enable, gathered_attention, gathered_keys, query_blocks
from textsearch.lm.tree import Tree, additive_mask

from exact_targets import single_thread  # noqa: F401  (autouse: one thread)
from conftest import make_tiny_lm, scored


def many_rows(rng: random.Random, vocab: range, sentences: int = 24) -> list[list[int]]:
    """Sentences with a few variants each: a tree of a few hundred tokens, each row seeing a sliver."""
    rows = []
    for _ in range(sentences):
        sentence = [rng.choice(vocab) for _ in range(rng.randrange(4, 12))]
        place = rng.randrange(len(sentence))
        rows += [sentence[:place] + [rng.choice(vocab)] + sentence[place + 1:] for _ in range(rng.randrange(1, 4))]
    return rows


def test_blocks_tile_the_queries_with_exactly_the_keys_they_see():
    rng = random.Random(0)
    rows = many_rows(rng, range(5, 40))
    tree = Tree.of(rows, [0] * len(rows))
    allowed = tree.allowed(None)
    mask = additive_mask(allowed, torch.float32, "cpu")
    blocks = query_blocks(allowed, mask, size=16)
    assert blocks is not None and len(tree) > 16
    assert [b.start for b in blocks] == list(range(0, len(tree), 16))
    assert [b.end for b in blocks] == [min(s + 16, len(tree)) for s in range(0, len(tree), 16)]
    for b in blocks:
        assert set(b.keys.tolist()) == set(allowed[b.start:b.end].any(0).nonzero()[:, 0].tolist())
        torch.testing.assert_close(b.mask, mask[:, :, b.start:b.end][..., b.keys], atol=0, rtol=0)


def test_no_blocks_where_they_would_not_pay():
    dense = torch.ones((200, 200), dtype=torch.bool)
    assert query_blocks(dense, additive_mask(dense, torch.float32, "cpu")) is None        # every query sees every key
    causal = torch.ones((40, 40), dtype=torch.bool).tril()
    assert query_blocks(causal, additive_mask(causal, torch.float32, "cpu")) is None      # one block holds them all


def test_tree_scores_are_the_dense_attention_scores(monkeypatch):
    """Rows scored with and without blocks, from scratch and from kept prefixes: the same log-probs,
    and the blocks did run (attention calls of a block's size)."""
    lm = make_tiny_lm(token_budget=4096, cpu_kernels=True)
    assert lm.model.config._attn_implementation == NAME
    monkeypatch.setattr(attention, "QUERIES", 16)
    rng = random.Random(1)
    rows = many_rows(rng, range(5, lm.vocab_size))
    prefixes = [row[:rng.randrange(1, len(row))] for row in rows[::3]]
    queries = []
    sdpa = sdpa_attention.sdpa_attention_forward
    monkeypatch.setattr(sdpa_attention, "sdpa_attention_forward",
                        lambda module, query, *args, **kwargs: queries.append(query.shape[2]) or sdpa(module, query, *args, **kwargs))

    def under(implementation: str):
        lm.model.config._attn_implementation = implementation
        queries.clear()
        fresh = scored(lm, rows)
        with lm.session():
            lm.next_token_log_probs(prefixes)
            kept = scored(lm, rows)
        return fresh, kept, queries.count(16)

    *dense, _ = under("sdpa")
    *blocks, block_sized = under(NAME)
    assert block_sized >= 2 * lm.model.config.num_hidden_layers
    for (dense_lp, dense_last), (block_lp, block_last) in zip(dense, blocks):
        for a, b in zip(dense_lp, block_lp):
            torch.testing.assert_close(b, a, atol=1e-5, rtol=0)
        torch.testing.assert_close(block_last, dense_last, atol=1e-5, rtol=0)


def test_gathered_attention_is_the_dense_masked_attention():
    """Queries that share leading keys and see a few others each, on heads that share key/value heads:
    the shared keys in one product and each query's own gathered give SDPA's masked attention."""
    rng = random.Random(2)
    torch.manual_seed(2)
    queries, width, shared = 30, 70, 12
    allowed = torch.zeros((queries, width), dtype=torch.bool)
    allowed[:, :shared] = True
    for q in range(queries):
        allowed[q, rng.sample(range(shared, width), rng.randrange(0, 9))] = True
    allowed[0, shared] = allowed[1, shared] = True                     # one key that some but not all see
    layout = gathered_keys(allowed, "cpu")
    assert layout.shared == shared and layout.own.shape == (queries, int(allowed[:, shared:].sum(1).max()))
    query, key, value = torch.randn(1, 6, queries, 8), torch.randn(1, 2, width, 8), torch.randn(1, 2, width, 8)
    expected = torch.nn.functional.scaled_dot_product_attention(
        query, key.repeat_interleave(3, 1), value.repeat_interleave(3, 1),
        attn_mask=additive_mask(allowed, torch.float32, "cpu"), scale=0.3).transpose(1, 2)
    torch.testing.assert_close(gathered_attention(query, key, value, layout, 0.3), expected, atol=1e-5, rtol=0)


def test_only_a_cpu_sdpa_model_switches_and_plain_forwards_stay_the_same():
    lm = make_tiny_lm(cpu_kernels=True)
    ids = torch.tensor([[2, 7, 8, 9, 0], [2, 10, 11, 0, 0]])
    attention = (ids != 0).long()
    switched = lm.model(input_ids=ids, attention_mask=attention).logits
    lm.model.config._attn_implementation = "sdpa"
    plain = lm.model(input_ids=ids, attention_mask=attention).logits
    torch.testing.assert_close(switched, plain, atol=1e-6, rtol=0)
    lm.model.config._attn_implementation = "eager"
    assert not enable(lm.model) and lm.model.config._attn_implementation == "eager"
    lm.model.config._attn_implementation = "sdpa"
    assert enable(lm.model) and lm.model.config._attn_implementation == NAME
