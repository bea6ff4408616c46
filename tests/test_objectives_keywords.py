"""Keywords: whole words in any inflected form, multi-word, case, punctuation, CJK substrings."""
import math

import pytest
import torch

from textsearch.objectives import Batch, Keywords
from textsearch.objectives.keywords import word_forms


@pytest.mark.parametrize("keyword, text", [
    ("dog", "Two dogs played."),                       # regular plural
    ("catch", "The boy caught it."),                   # irregular past
    ("catch", "She is catching the ball."),
    ("catch", "He catches fish."),
    ("run", "They ran home."),
    ("run", "Running is fun."),
    ("mouse", "The mice hid."),                        # irregular plural
    ("child", "The children laughed."),
    ("go", "We went out."),
    ("be", "It was late."),
    ("big", "The biggest tree."),                      # adjective degree
    ("caught", "I will catch it."),                    # a form stands for its lemma
    ("leaves", "A leaf fell."),                        # ... for every lemma it can be
    ("leaves", "She left early."),
    ("frisbee", "He threw two frisbees."),             # unknown to the dictionary: regular forms
    ("Dog", "a DOG barked"),                           # case-insensitive both ways
    ("dog", "The dog's bowl."),                        # punctuation splits words
    ("dog", "dog,frisbee;catch"),
    ("ice cream", "We ate ice cream."),                # multi-word: consecutive words
    ("ice cream", "Two ice creams, please."),
    ("ice cream", "an ice-cream cone"),
    ("t-shirt", "a red T shirt"),
    ("冰淇淋", "我喜欢吃冰淇淋。"),                       # CJK: substring
    ("冰淇淋", "我 喜欢 吃 冰 淇 淋"),                     # ... whitespace ignored
    ("猫", "The 猫 sleeps"),
])
def test_found(keyword, text):
    assert Keywords([keyword]).missing(text) == []


@pytest.mark.parametrize("keyword, text", [
    ("dog", "A hotdog stand."),                        # whole words only
    ("cat", "The category is full."),
    ("catch", "The cat sat."),
    ("run", "A rune stone."),
    ("better", "It is good."),                         # a lemma itself does not reach other lemmas
    ("ice cream", "Ice and cream."),                   # multi-word needs consecutive words
    ("ice cream", "cream ice"),
    ("冰淇淋", "我喜欢吃冰。"),
    ("dog", ""),
])
def test_not_found(keyword, text):
    assert Keywords([keyword]).missing(text) == [keyword]


def test_a_cjk_keyword_inside_another_keyword_must_also_appear_outside_it():
    keywords = Keywords(["图书馆", "书", "安静"])
    assert keywords.missing("图书馆环境安静。") == ["书"]
    assert keywords.missing("他在安静的图书馆看书。") == []
    assert Keywords(["书"]).missing("图书馆") == []                   # alone, a substring is enough
    assert Keywords(["火车", "火车站"]).missing("火车站的火车到了。") == []
    assert Keywords(["书", "图书", "书馆"]).missing("图书馆") == ["书"]           # inside two containers at once
    assert Keywords(["书", "书店"]).missing("书店书店") == ["书"]                 # every occurrence is inside one
    assert Keywords(["恤", "T恤"]).missing("一件T恤") == ["恤"]
    assert Keywords(["ice", "ice cream"]).missing("I ate ice cream.") == []   # words: English has no such rule


def test_inflections_off_matches_the_exact_word_case_insensitively():
    exact = Keywords(["catch", "dog"], inflections=False)
    assert exact.missing("He CATCH the Dog.") == []
    assert exact.missing("He caught the dogs.") == ["catch", "dog"]


def test_word_forms_come_from_the_dictionary():
    assert {"catch", "catches", "caught", "catching"} <= word_forms("catch")
    assert {"run", "ran", "running", "runs"} <= word_forms("run")
    assert "good" not in word_forms("better") and "see" not in word_forms("saw")


def test_missing_lists_keywords_as_given_in_order():
    keywords = Keywords(["Dog", "frisbee", "catch", "ice cream"])
    assert keywords.missing("The dog caught a frisbee.") == ["ice cream"]
    assert keywords.missing("Nothing here.") == ["Dog", "frisbee", "catch", "ice cream"]
    assert keywords.covered(["A dog caught a frisbee with ice cream.", "A dog.", ""]) == [True, False, False]


def test_duplicates_count_once():
    keywords = Keywords(["dog", "Dog", " dog "], hard=False)
    assert len(keywords.keywords) == 1
    assert keywords.energy(Batch([[], []], texts=["a cat", "a dog"])).tolist() == [1.0, 0.0]


def test_hard_and_soft_energies():
    texts = ["A dog caught the frisbee.", "A dog sat.", "Nothing."]
    batch = Batch([[]] * len(texts), texts=texts)
    hard = Keywords(["dog", "frisbee", "catch"]).energy(batch)
    assert hard.dtype == torch.float64 and hard.tolist() == [0.0, math.inf, math.inf]
    soft = Keywords(["dog", "frisbee", "catch"], hard=False, weight=2.5).energy(batch)
    assert soft.tolist() == [0.0, 5.0, 7.5]


def test_reads_the_text_of_token_ids(tiny_lm):
    keywords = Keywords(["dog", "ball"], tokenizer=tiny_lm.tokenizer)
    ids = [tiny_lm.encode("the dog saw a red ball"), tiny_lm.encode("the dog ran")]
    assert keywords(ids).tolist() == [0.0, math.inf]


@pytest.mark.parametrize("words, error, match", [
    ([], ValueError, "empty"),
    (["dog", ""], ValueError, "no letters"),
    (["dog", " ... "], ValueError, "no letters"),
    ("dog", TypeError, "list"),
    (["dog", 3], TypeError, "strings"),
    (None, TypeError, "list"),
])
def test_bad_keywords(words, error, match):
    with pytest.raises(error, match=match):
        Keywords(words)


@pytest.mark.parametrize("weight", [-1, math.inf, math.nan])
def test_bad_weight(weight):
    with pytest.raises(ValueError, match="weight"):
        Keywords(["dog"], hard=False, weight=weight)


def test_helpers_reject_the_wrong_shape():
    with pytest.raises(TypeError, match="list"):
        Keywords(["dog"]).covered("a dog")
    with pytest.raises(TypeError, match="one text"):
        Keywords(["dog"]).missing(["a dog"])


@pytest.mark.slow
def test_real_lm_tokens(default_lm):
    keywords = Keywords(["dog", "frisbee", "catch"], tokenizer=default_lm.tokenizer)
    ids = [default_lm.encode("The dog caught the frisbee."), default_lm.encode("The dog chased the frisbee.")]
    assert keywords(ids).tolist() == [0.0, math.inf]
