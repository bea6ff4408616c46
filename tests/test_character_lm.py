"""CharacterLM: a subword LM with a character vocabulary, scored through its own tokenization."""
import math

import pytest
import torch
from tokenizers import Tokenizer, decoders, models
from transformers import PreTrainedTokenizerFast

import textsearch as ts
from conftest import make_tiny_lm
from textsearch.lm.characters import CharacterLM

# a BPE vocabulary with word tokens ("广州", "美食") over character tokens; "x" starts a token but is none alone
VOCAB = ["<pad>", "<unk>", "<s>", "</s>", "广", "州", "美", "食", "开", "幕", "。", "广州", "美食", "xy", "y"]
MERGES = [("广", "州"), ("美", "食")]


@pytest.fixture(scope="module")
def subword_lm():
    backend = Tokenizer(models.BPE({t: i for i, t in enumerate(VOCAB)}, MERGES, unk_token="<unk>"))
    backend.decoder = decoders.Fuse()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", unk_token="<unk>",
                                        bos_token="<s>", eos_token="</s>")
    return make_tiny_lm(tokenizer=tokenizer, seed=3)


def test_the_vocabulary_is_the_single_character_tokens_and_whitespace_is_dropped(subword_lm):
    chars = CharacterLM(subword_lm)
    assert chars.tokenizer.chars == sorted("广州美食开幕。y")
    ids = chars.encode("广州 美食。")
    assert len(ids) == 5 and chars.decode(ids) == "广州美食。"
    assert chars.decode(ids + [chars.eos_id]) == "广州美食。"
    with pytest.raises(ValueError, match="characters 'x' are not in"):
        chars.encode("x广")


def test_log_prob_scores_the_text_in_the_lm_own_tokens(subword_lm):
    chars = CharacterLM(subword_lm)
    text = "广州美食开幕。"
    canonical = subword_lm.encode(text)
    assert len(canonical) == 5                                    # 广州 美食 开 幕 。
    got = chars.log_prob([chars.encode(text), chars.encode(text) + [chars.eos_id]])
    want = subword_lm.log_prob([canonical, canonical + [subword_lm.eos_id]])
    assert torch.allclose(got, want, atol=1e-9)


def test_next_character_sums_the_tokens_that_start_with_it(subword_lm):
    chars = CharacterLM(subword_lm)
    got = chars.next_token_log_probs([chars.encode("开"), []]).double().exp()
    tokens = subword_lm.next_token_log_probs([subword_lm.encode("开"), []]).double().exp()
    ids = {t: i for i, t in enumerate(VOCAB)}
    index = chars.tokenizer.index
    assert got[:, index["广"]] == pytest.approx((tokens[:, ids["广"]] + tokens[:, ids["广州"]]).tolist(), abs=1e-6)
    assert got[:, index["州"]] == pytest.approx(tokens[:, ids["州"]].tolist(), abs=1e-6)
    assert got[:, index["y"]] == pytest.approx(tokens[:, ids["y"]].tolist(), abs=1e-6)   # "xy" counts for no char
    assert got[:, chars.eos_id] == pytest.approx(tokens[:, ids["</s>"]].tolist(), abs=1e-6)
    dropped = tokens[:, [ids[t] for t in ("<pad>", "<unk>", "<s>", "xy")]].sum(-1)
    assert got.sum(-1) == pytest.approx((1 - dropped).tolist(), abs=1e-6)


def test_edit_proposals_and_fluency_work_on_characters(subword_lm):
    chars = CharacterLM(subword_lm)
    energy = ts.objectives.Fluency(chars, gamma=1.0) + ts.objectives.Keywords(["美食"])
    start = chars.encode("美食")
    sampler = ts.samplers.MetropolisHastings(ts.proposals.EditProposal(chars, top_k=4, max_len=6), steps=30,
                                             chains=2, seed=0)
    result = sampler.run(energy, init=start, progress=False)
    texts = [s.text for s in result.samples]
    assert all("美食" in t and len(t) <= 6 for t in texts)
    assert any(t != "美食" for t in texts)                         # the chains moved, one character at a time
    canonical = subword_lm.encode(result.best.text) + [subword_lm.eos_id]
    assert result.best.energy == pytest.approx(-subword_lm.log_prob([canonical]).item())
    assert math.isfinite(result.best.energy)
