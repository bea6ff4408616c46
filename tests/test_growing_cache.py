"""A growing cache layer holds what concatenation holds, through buffer growth and replaced states."""
import torch
from conftest import make_tiny_lm
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

from textsearch.lm.kv import returned_cache, with_cache
from textsearch.lm.kv import GrowingLayer, growing


def test_updates_hold_what_concatenation_holds():
    torch.manual_seed(0)
    layer, plain = GrowingLayer(), DynamicLayer()
    copies = 0
    for width in (5, 1, 3, 1, 1, 8, 2):
        keys, values = torch.randn(2, 3, width, 4), torch.randn(2, 3, width, 4)
        buffers = layer.buffers
        got, expected = layer.update(keys, values), plain.update(keys, values)
        copies += layer.buffers is not buffers
        for a, b in zip(got, expected):
            assert torch.equal(a, b)
    assert layer.get_seq_length() == 21 and 1 < copies < 7          # grown a few times, not every step
    layer.keys, layer.values = layer.keys[:1].clone(), layer.values[:1].clone()   # replaced (a batch selected)
    plain.keys, plain.values = plain.keys[:1], plain.values[:1]
    keys, values = torch.randn(1, 3, 2, 4), torch.randn(1, 3, 2, 4)
    for a, b in zip(layer.update(keys, values), plain.update(keys, values)):
        assert torch.equal(a, b)


def test_a_model_decodes_the_same_from_a_growing_cache():
    model = make_tiny_lm(seed=4).model
    tokens = torch.tensor([[2, 7, 9, 11, 5, 6, 8, 10]])
    with torch.inference_mode():
        cache = growing(returned_cache(model(input_ids=tokens[:, :3], use_cache=True)))
        assert all(type(layer) is GrowingLayer for layer in cache.layers) and isinstance(cache, DynamicCache)
        steps = []
        for t in range(3, tokens.shape[1]):
            out = model(input_ids=tokens[:, t:t + 1], **with_cache(model, cache), use_cache=True)
            cache = returned_cache(out)
            steps.append(out.logits[0, -1])
        whole = model(input_ids=tokens).logits[0, 3:]
    torch.testing.assert_close(torch.stack(steps), whole, atol=1e-5, rtol=0)
