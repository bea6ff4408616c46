"""The key/value cache goes to, and comes from, a model under the name its transformers release uses."""
import warnings

import torch
from conftest import make_tiny_lm

from textsearch.lm.kv import NEW, OLD, returned_cache, with_cache


def test_a_forward_continues_from_the_cache_it_is_handed_without_warnings():
    model = make_tiny_lm(seed=1).model
    tokens = torch.tensor([[2, 7, 9, 11, 5]])
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("error")
        whole = model(input_ids=tokens).logits[:, -1]
        cache = returned_cache(model(input_ids=tokens[:, :3], use_cache=True))
        assert cache.get_seq_length() == 3
        out = model(input_ids=tokens[:, 3:], **with_cache(model, cache), use_cache=True)
    assert returned_cache(out).get_seq_length() == 5
    assert torch.allclose(out.logits[:, -1], whole, atol=1e-5)


def test_the_name_is_read_off_the_forward():
    class Old(torch.nn.Module):
        def forward(self, input_ids, past_key_values=None): ...

    class New(torch.nn.Module):
        def forward(self, input_ids, cache=None): ...

    assert with_cache(Old(), "c") == {OLD: "c"}
    assert with_cache(New(), "c") == {NEW: "c"}
    assert returned_cache({OLD: "c"}) == "c" and returned_cache({NEW: "c"}) == "c"
