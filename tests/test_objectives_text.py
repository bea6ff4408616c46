"""Reading a batch: words, and token ids of another tokenizer through text (every term)."""
import torch
from conftest import SPECIAL_TOKENS, WORDS
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

import textsearch as ts
from textsearch.objectives import Batch, tokens_for
from textsearch.objectives.text import has_cjk, words

TEXTS = ["the cat sat on the mat .", "a dog ran in the park", "the cat the cat the cat", "ball"]


def reversed_tokenizer() -> PreTrainedTokenizerFast:
    """The tiny models' words under other ids (reversed order), so ids only agree through text."""
    vocab = {t: i for i, t in enumerate(SPECIAL_TOKENS + WORDS[::-1])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.decoder = decoders.WordPiece(cleanup=False)
    return PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", unk_token="<unk>",
                                   bos_token="<s>", eos_token="</s>", mask_token="<mask>")


def test_words_split_on_punctuation_case_and_cjk():
    assert words("The DOG's ball, catching!") == ["the", "dog", "s", "ball", "catching"]
    assert words("我喜欢dog和猫") == ["我", "喜", "欢", "dog", "和", "猫"]
    assert words("Ｄｏｇ café") == ["dog", "café"]
    assert words("  ... ") == []
    assert has_cjk("T恤") and not has_cjk("tee")


def test_tokens_for_keeps_ids_of_the_same_tokenizer_and_reencodes_others(tiny_lm):
    other = reversed_tokenizer()
    own_ids = [tiny_lm.encode(t) for t in TEXTS]
    foreign_ids = [other.encode(t, add_special_tokens=False) for t in TEXTS]
    assert foreign_ids != own_ids
    assert tokens_for(Batch(own_ids, tiny_lm.tokenizer), tiny_lm.tokenizer) == own_ids
    assert tokens_for(Batch(own_ids, None), tiny_lm.tokenizer) == own_ids
    assert tokens_for(Batch(foreign_ids, other), tiny_lm.tokenizer) == own_ids
    assert tokens_for(Batch([], other), tiny_lm.tokenizer) == []


def test_every_term_reads_foreign_ids_through_text(tiny_lm, tiny_mlm):
    other = reversed_tokenizer()
    foreign = Batch([other.encode(t, add_special_tokens=False) for t in TEXTS], other)
    terms = [ts.objectives.Fluency(tiny_lm), ts.objectives.MLMEnergy(tiny_mlm, kind="pll"),
             ts.objectives.MLMEnergy(tiny_mlm, kind="raw"), ts.objectives.Keywords(["cat"], hard=False),
             ts.objectives.LengthPrior(target=4, unit="tokens", tokenizer=tiny_lm.tokenizer),
             ts.objectives.LengthPrior(target=4), ts.objectives.RepetitionPenalty(n=2)]
    for term in terms:
        direct = term.energy(Batch([tiny_lm.encode(t) for t in TEXTS], tiny_lm.tokenizer, texts=TEXTS))
        torch.testing.assert_close(term.energy(foreign), direct, rtol=0, atol=1e-5, msg=repr(term))
