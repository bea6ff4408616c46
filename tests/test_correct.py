"""Correct: word-level neighbours, an edit prior that decides what is worth fixing, and the edits reported."""
import pytest
from conftest import make_tiny_lm

from textsearch.objectives import EditDistance
from textsearch.objectives.edit_distance import Edit
from textsearch.tasks.correct import Correct, respellings


@pytest.fixture(scope="module")
def lm():
    return make_tiny_lm(seed=5)


def test_respellings_are_common_words_one_character_off_with_case_and_punctuation_kept():
    assert "park." in respellings("prak.")                   # two letters swapped
    assert "Playing" in respellings("Plaing")                # a letter lost, the capital kept
    assert all(len(w) <= len("hte") + 1 for w in respellings("hte"))
    assert "the" in respellings("hte") and "hte" not in respellings("hte")
    assert respellings("...") == ()


def test_neighbours_cover_each_kind_of_word_edit(lm):
    task = Correct(lm, inserts=2, insert_log_p=float("-inf"))
    options = dict((text, op) for op, text in task.neighbours("the the dog sat"))
    assert options["the dog sat"] == "delete"
    assert options["the dog the sat"] == "swap"
    assert any(op == "insert" and len(text.split()) == 5 for text, op in options.items())
    assert "the the dog sat" not in options                  # the sentence itself is no neighbour


def test_only_doubtful_words_are_respelled_and_only_likely_words_inserted(lm):
    task = Correct(lm, inserts=2, insert_log_p=float("-inf"), surprise=float("inf"))
    assert task.doubtful("prak.", 0.0) and not task.doubtful("the", 0.0)       # no common word / a common one
    assert Correct(lm, surprise=5.0).doubtful("the", 6.0)                         # a common word out of place
    replaced = {text for op, text in task.neighbours("the dog sat on teh mat") if op == "replace"}
    assert replaced and all(text.split()[:4] == ["the", "dog", "sat", "on"] for text in replaced)
    never = Correct(lm, inserts=2, insert_log_p=0.5)                              # no word is that likely
    assert not [op for op, _ in never.neighbours("the dog sat") if op == "insert"]


def test_only_a_word_that_repeats_its_neighbour_is_deleted(lm):
    task = Correct(lm, inserts=0)
    deleted = {text for op, text in task.neighbours("The the dog ran ran. home") if op == "delete"}
    assert deleted == {"the dog ran ran. home", "The dog ran ran. home", "The the dog ran. home", "The the dog ran home"}


def test_the_search_never_ends_above_its_start_and_reports_its_edits(lm):
    task = Correct(lm, rounds=3)
    source = "the cat cat sat on teh mat ."
    result = task(source, trace=True)[0]
    objective = task.fluency + EditDistance(source, task.word_cost, task.char_cost)
    start, final = objective([lm.encode(source), lm.encode(result.text)]).tolist()
    assert final <= start + 1e-6 and result.energy == pytest.approx(final, abs=1e-4)
    assert result.trace[0].text == source and result.trace[-1].text == result.text
    assert (result.edits == []) == (result.text == source)
    assert all(isinstance(e, Edit) for e in result.edits)
    assert result.record()["edits"] == [list(e) for e in result.edits]


def test_an_expensive_prior_leaves_the_sentence_alone(lm):
    source = "the cat cat sat on the mat ."
    result = Correct(lm, word_cost=1e4, char_cost=1e4)(source)[0]
    assert result.text == source and result.edits == []


def test_same_seed_same_correction_and_a_batch_matches_single_runs(lm):
    task = Correct(lm, rounds=3)
    texts = ["the dog dog ran in park .", "a big red ball is teh park"]
    single = [task(t, seed=2)[0].text for t in texts]
    assert [r[0].text for r in task.generate(texts, seed=2)] == single


@pytest.mark.slow
def test_correct_with_the_default_model(default_lm):
    result = Correct(default_lm)("The dog ran to the the prak.")[0]
    assert result.text == "The dog ran to the park."
    assert sorted(e.operation for e in result.edits) == ["delete", "replace"]
