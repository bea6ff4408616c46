"""SentenceForm: a charge for each end of the text that does not look like a sentence's."""
import pytest

from textsearch.objectives import Batch, SentenceForm
from textsearch.objectives.sentence_form import ends_well, starts_well


@pytest.mark.parametrize("text, start, end", [
    ("A dog catches a frisbee.", True, True),
    ("“Two friends row a boat.”", True, True),
    ("- walks his dog on a leash.", False, True),
    ("'s team plays basketball", False, False),
    ("plays football!", False, True),
    ("3 boys kick a ball?", True, True),
    ("广州美食街开幕。", True, True),
    ("2、科学空间", True, False),
    ("", False, False),
])
def test_ends(text, start, end):
    assert starts_well(text) is start and ends_well(text) is end


def test_energy_counts_broken_ends_times_weight():
    texts = ["A dog runs.", "a dog runs.", "A dog runs", ", a dog runs", "The end (of it)."]
    energies = SentenceForm(weight=2.5).energy(Batch([[]] * len(texts), texts=texts))
    assert energies.tolist() == [0.0, 2.5, 2.5, 5.0, 0.0]


def test_reads_token_ids_through_the_tokenizer(tiny_lm):
    ids = [tiny_lm.encode("the dog sat")]
    assert SentenceForm(weight=1.0)(Batch(ids, tokenizer=tiny_lm.tokenizer)).tolist() == [2.0]


def test_bad_weight():
    with pytest.raises(ValueError, match="weight"):
        SentenceForm(weight=-1)
