"""The keyword task in the keywords' language: the prompt, the guidance and the starts follow it."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from conftest import SPECIAL_TOKENS, make_tiny_lm
from textsearch.objectives import Keywords
from textsearch.objectives.keywords import keyword_forms
from textsearch.proposals import LMSampler
from textsearch.tasks import keywords as task
from textsearch.tasks.keyword_prompts import CHINESE, ENGLISH, few_shot
from textsearch.tasks.keywords import KeywordsToSentence

CHARACTERS = list("猫睡觉窗户在上里的一只。，\n")


@pytest.fixture
def chinese_lm():
    """A tiny LM whose tokens are single Chinese characters (and a newline), written without spaces."""
    backend = Tokenizer(models.WordLevel({t: i for i, t in enumerate(SPECIAL_TOKENS + CHARACTERS)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    backend.decoder = decoders.Fuse()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", unk_token="<unk>",
                                        bos_token="<s>", eos_token="</s>", mask_token="<mask>")
    return make_tiny_lm(tokenizer=tokenizer)


def test_the_keywords_choose_the_prompt_language():
    assert few_shot(["dog", "frisbee"]) is ENGLISH
    assert few_shot(["猫", "睡觉"]) is CHINESE
    assert few_shot(["iPhone", "手机"]) is CHINESE                 # a Latin word in a Chinese set
    assert few_shot(["ねこ", "猫"]) is ENGLISH                     # kana: Japanese, which has no prompt of its own
    assert few_shot(["고양이"]) is ENGLISH
    assert few_shot(["ﾈｺ", "猫"]) is ENGLISH                     # half-width kana read as kana


def test_a_prompt_is_its_examples_then_the_keywords():
    english = ENGLISH.prompt(["dog", "ball"])
    assert english.startswith(ENGLISH.examples) and english.endswith("\nKeywords: dog, ball\nSentence:")
    assert "Sentence: A man is cooking a meal in the kitchen.\n" in ENGLISH.examples
    chinese = CHINESE.prompt(["猫", "睡觉"])
    assert chinese.startswith(CHINESE.examples) and chinese.endswith("\n关键词：猫、睡觉\n句子：")
    assert "句子：两个朋友在河上划船。\n" in CHINESE.examples and " " not in CHINESE.examples


def test_keyword_forms_inflect_single_english_words_only():
    assert {"catch", "catches", "caught", "catching"} <= keyword_forms("catch")
    assert keyword_forms("ice cream") == {"ice cream"}
    assert keyword_forms("睡觉") == {"睡觉"}                       # not "睡觉s"


def test_chinese_keywords_get_the_chinese_prompt_and_a_sentence_without_spaces(chinese_lm, monkeypatch):
    prompts = []
    init = LMSampler.__init__

    def spy(self, lm, prompt=None, **options):
        prompts.append(prompt)
        init(self, lm, prompt=prompt, **options)

    monkeypatch.setattr(LMSampler, "__init__", spy)
    words = ["猫", "睡觉"]
    generator = KeywordsToSentence(chinese_lm, steps=2, chains=2, top_k=4, init="smc", particles=4, draft_tokens=6)
    result = generator(words, seed=0)[0]
    assert prompts and all(p == CHINESE.prompt(words) for p in prompts)
    assert result.covered and Keywords(words).missing(result.text) == []
    assert " " not in result.text and "<unk>" not in result.text     # the fixture has no space: one reads as <unk>
    assert generator.sentence_energy(words).terms[0].context == CHINESE.prompt(words)


def test_chinese_starts_hold_the_keywords_without_spaces(chinese_lm):
    generator = KeywordsToSentence(chinese_lm, chains=2, draft_tokens=6, init="draft")
    words = ["猫", "睡觉", "窗户"]
    assert chinese_lm.decode(list(generator.keyword_start(words, Keywords(words)).tokens)) == "猫睡觉窗户"
    starts = generator.drafts([words], [Keywords(words)], [torch.Generator().manual_seed(0)])[0]
    for state in starts:
        text = chinese_lm.decode(list(state.tokens))
        assert Keywords(words).missing(text) == [] and " " not in text and "<unk>" not in text


def test_a_chinese_keyword_goes_between_any_two_characters_the_first_gap_included(chinese_lm):
    generator = KeywordsToSentence(chinese_lm)
    text = generator.best_insertions([("在窗户上睡觉", "猫", CHINESE)])[0]
    options = ["在窗户上睡觉"[:gap] + "猫" + "在窗户上睡觉"[gap:] for gap in range(0, 7)]
    energies = generator.fluency([chinese_lm.encode(option) for option in options])
    assert text == options[int(torch.argmin(energies))]
    scored = []

    def subject_first(sequences):                   # a stand-in fluency that wants the keyword first
        texts = [chinese_lm.decode(ids) for ids in sequences]
        scored.extend(texts)
        return torch.tensor([0.0 if t.startswith("猫") else 1.0 for t in texts], dtype=torch.float64)

    generator.fluency = subject_first
    assert generator.best_insertions([("在窗户上睡觉", "猫", CHINESE)]) == ["猫在窗户上睡觉"]
    assert set(options) <= set(scored)


def test_latin_words_in_a_chinese_set_stay_whole_and_apart(chinese_lm):
    assert CHINESE.pieces("我用iPhone 5G拍照。") == ["我", "用", "iPhone", " ", "5G", "拍", "照", "。"]
    assert CHINESE.pieces("连上Wi-Fi了") == ["连", "上", "Wi-Fi", "了"]
    assert CHINESE.join(["dog", "frisbee", "公园"]) == "dog frisbee公园"
    assert CHINESE.join(CHINESE.pieces("我喝cafe\u0301") + ["app"]) == "我喝cafe\u0301 app"   # an accent ends a word too
    assert Keywords(["dog", "frisbee", "公园"]).missing(task.KeywordsToSentence.bare_keywords(["dog", "frisbee", "公园"])) == []
    scored = []

    def anywhere(texts):                      # a stand-in fluency that sees the options' text
        scored.extend(texts)
        return torch.zeros(len(texts), dtype=torch.float64)

    generator = KeywordsToSentence(chinese_lm)
    generator.lm, generator.fluency = SimpleNamespace(encode=lambda text: text), anywhere
    generator.best_insertions([("我用iPhone拍照", "app", CHINESE)])
    gaps = scored[:6]                         # 我 用 iPhone 拍 照: six gaps, then the forms
    assert gaps == ["app我用iPhone拍照", "我app用iPhone拍照", "我用app iPhone拍照", "我用iPhone app拍照",
                    "我用iPhone拍app照", "我用iPhone拍照app"]
    assert all(Keywords(["iPhone", "app"]).missing(text) == [] for text in scored)


@pytest.mark.parametrize("text", ["我用iPhone 5G拍照。", "两个朋友  在河上\n划船", "", "Wi-Fi，don't！😀"])
def test_pieces_give_back_the_text(text):
    assert CHINESE.join(CHINESE.pieces(text)) == text
    assert ENGLISH.join(ENGLISH.pieces(text)) == " ".join(text.split())
